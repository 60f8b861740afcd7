/**
 * claudomator's one family of errors: the store raises them, the SDK and CLI throw and report them
 * (`client/errors.ts` re-exports this module). Each has a stable `code` (what kind of problem: the
 * CLI maps it to an exit status) and may carry a `hint`: what to do next, usually the command to run.
 *
 * They live in the store because it is the lowest layer that raises them, and every layer that
 * throws or catches them (infra, activities, client) may import it. Workflows never see these
 * classes: the bookkeeping activities turn them into `ApplicationFailure`s typed by `FailureType`
 * (activities/store-failures.ts).
 */

export type ErrorCode = 'NOT_FOUND' | 'INVALID' | 'CONFLICT' | 'UNAVAILABLE' | 'TIMEOUT';

export abstract class ClaudomatorError extends Error {
  abstract readonly code: ErrorCode;
  constructor(
    message: string,
    /** What to do next, e.g. the command to run. */
    readonly hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export type EntityKind = 'project' | 'story' | 'task' | 'execution';

/** The project, story, task or execution named does not exist. */
export class NotFoundError extends ClaudomatorError {
  override readonly name = 'NotFoundError';
  readonly code = 'NOT_FOUND';
  constructor(
    readonly kind: EntityKind,
    readonly id: string,
    hint: string = defaultNotFoundHint(kind),
    message = `No ${kind} with id "${id}".`,
  ) {
    super(message, hint);
  }
}

/** One bad field of some input: where it is (e.g. `tasks[1].agent.type`; empty for the whole value) and what is wrong. */
export interface SpecIssue {
  path: string;
  message: string;
}

/** Input that does not match its schema: `issues` names every bad field. */
export class ValidationError extends ClaudomatorError {
  override readonly name = 'ValidationError';
  readonly code = 'INVALID';
  constructor(
    message: string,
    readonly issues: SpecIssue[],
    hint?: string,
  ) {
    super(message, hint);
  }

  /** From a schema's failure (`SpecValidationError` of client/specs.ts). */
  static fromSpec(err: { message: string; issues: SpecIssue[] }, hint?: string): ValidationError {
    return new ValidationError(err.message, err.issues, hint);
  }
}

/** The request contradicts what is stored (another story or task under the same id, an illegal state change). */
export class ConflictError extends ClaudomatorError {
  override readonly name: string = 'ConflictError';
  readonly code = 'CONFLICT';
}

/** A state change the transition tables do not allow; names both states. */
export class IllegalTransitionError extends ConflictError {
  override readonly name = 'IllegalTransitionError';
  constructor(
    readonly kind: 'task' | 'story',
    readonly id: string,
    readonly from: string,
    readonly to: string,
  ) {
    super(`Illegal ${kind} state transition for "${id}": ${from} → ${to}`);
  }
}

/** A service claudomator needs does not answer: the database, Temporal, or a worker. */
export class UnavailableError extends ClaudomatorError {
  override readonly name: string = 'UnavailableError';
  readonly code = 'UNAVAILABLE';
  constructor(
    readonly service: 'database' | 'temporal' | 'worker',
    message: string,
    hint?: string,
    options?: { cause?: unknown },
  ) {
    super(message, hint, options);
  }
}

/** Postgres could not be reached within the connect timeout. */
export class DatabaseUnreachableError extends UnavailableError {
  override readonly name = 'DatabaseUnreachableError';
  constructor(
    readonly target: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message || cause.name : String(cause);
    super(
      'database',
      `Cannot reach Postgres at ${target}: ${reason}. ` +
        'Start Postgres, or point DATABASE_URL at a reachable server (e.g. postgres://user@host:5432/claudomator).',
      'Check it with `claudomator doctor`; unset DATABASE_URL to use the local or embedded Postgres.',
      { cause },
    );
  }
}

/** A wait gave up before the task or story reached the state asked for. */
export class TimeoutError extends ClaudomatorError {
  override readonly name = 'TimeoutError';
  readonly code = 'TIMEOUT';
}

function defaultNotFoundHint(kind: EntityKind): string {
  switch (kind) {
    case 'project':
      return 'List projects with `claudomator project list`, or add one with `claudomator project add <id> --repo <url|path>`.';
    case 'story':
      return 'List stories with `claudomator story list`.';
    case 'task':
      return 'List tasks with `claudomator task list`.';
    case 'execution':
      return 'Show the task with `claudomator task show <id>` to see its executions.';
  }
}
