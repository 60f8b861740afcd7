/**
 * The errors the SDK throws. Each has a stable `code` (what kind of problem: the CLI maps it to an
 * exit status) and a `hint`: what to do next, usually the command to run. Errors from the store and
 * the spec schemas are translated into these at the SDK boundary, so callers handle one family.
 */
import { ConfigError, type Config } from '../infra/config.js';
import { NoDatabaseError } from '../infra/postgres.js';
import {
  ConflictError as StoreConflictError,
  DatabaseUnreachableError,
  IllegalTransitionError,
  NotFoundError as StoreNotFoundError,
} from '../store/index.js';
import { SpecValidationError, type SpecIssue } from './specs.js';

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

/** The project, story or task named does not exist. */
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

  static fromSpec(err: SpecValidationError, hint?: string): ValidationError {
    return new ValidationError(err.message, err.issues, hint);
  }
}

/** The request contradicts what is stored (another story under the same id, an illegal state change). */
export class ConflictError extends ClaudomatorError {
  override readonly name = 'ConflictError';
  readonly code = 'CONFLICT';
}

/** A service claudomator needs does not answer: the database, Temporal, or a worker. */
export class UnavailableError extends ClaudomatorError {
  override readonly name = 'UnavailableError';
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

/** Translate errors from the layers below into the SDK's own; anything else passes through unchanged. */
export function toClientError(err: unknown): unknown {
  if (err instanceof ClaudomatorError) return err;
  if (err instanceof StoreNotFoundError) return new NotFoundError(err.kind, err.id);
  if (err instanceof SpecValidationError) return ValidationError.fromSpec(err);
  if (err instanceof ConfigError) {
    return new ValidationError(
      err.message,
      err.problems.map((p) => ({ path: p.variable, message: `expected ${p.expected}` })),
      'Fix or unset the environment variables named above (all are listed in infra/config.ts, ENV_VARS).',
    );
  }
  if (err instanceof StoreConflictError || err instanceof IllegalTransitionError) {
    return new ConflictError(err.message, undefined, { cause: err });
  }
  if (err instanceof NoDatabaseError) {
    return new UnavailableError(
      'database',
      err.message,
      'Start the local stack with `claudomator up` (it hosts the embedded Postgres), or set DATABASE_URL.',
      { cause: err },
    );
  }
  if (err instanceof DatabaseUnreachableError) {
    return new UnavailableError(
      'database',
      err.message,
      'Check it with `claudomator doctor`; unset DATABASE_URL to use the local or embedded Postgres.',
      { cause: err },
    );
  }
  return err;
}

/** Temporal did not answer: say where we looked and what to do. */
export function temporalUnavailable(config: Pick<Config, 'temporal'>, err: unknown): UnavailableError {
  return new UnavailableError(
    'temporal',
    `Temporal at ${config.temporal.address} (namespace ${config.temporal.namespace}) does not answer: ${errorMessage(err)}`,
    'Start the local stack with `claudomator up`, or point TEMPORAL_ADDRESS at your server.',
    { cause: err },
  );
}

/** The message of an error and of its cause, for one-line reports. */
export function errorMessage(err: unknown): string {
  if (err instanceof Error) return err.cause instanceof Error ? `${err.message}: ${err.cause.message}` : err.message;
  return String(err);
}
