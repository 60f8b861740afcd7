/**
 * Errors the store raises. Each has a stable `name`, so activities can map them to failure types
 * that workflows branch on, and callers (SDK, CLI) can tell the user what to do.
 */

/** A row the caller named does not exist. */
export class NotFoundError extends Error {
  override readonly name = 'NotFoundError';
  constructor(
    readonly kind: 'task' | 'story' | 'project' | 'execution',
    readonly id: string,
  ) {
    super(`No ${kind} with id "${id}"`);
  }
}

/** A state change the transition tables do not allow; names both states. */
export class IllegalTransitionError extends Error {
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

/** A write that conflicts with what is stored (e.g. a different task under an existing id). */
export class ConflictError extends Error {
  override readonly name = 'ConflictError';
}

/** Postgres could not be reached within the connect timeout. */
export class DatabaseUnreachableError extends Error {
  override readonly name = 'DatabaseUnreachableError';
  constructor(
    readonly target: string,
    cause: unknown,
  ) {
    const reason = cause instanceof Error ? cause.message || cause.name : String(cause);
    super(
      `Cannot reach Postgres at ${target}: ${reason}. ` +
        'Start Postgres, or point DATABASE_URL at a reachable server (e.g. postgres://user@host:5432/claudomator).',
      { cause },
    );
  }
}
