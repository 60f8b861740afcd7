/**
 * Store errors leave an activity as `ApplicationFailure`s typed by `FailureType`, so retry policies
 * and workflows name a constant, never a class name (which Temporal would take from
 * `constructor.name`). A refused write (illegal transition, conflict) or a missing row is final:
 * non-retryable. Anything else (a lost connection) passes through and is retried.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { ConflictError, IllegalTransitionError, NotFoundError } from '../store/index.js';
import { FailureType } from '../workflows/failures.js';

type ActivityFunction = (...args: never[]) => Promise<unknown>;

/** `activities` with every function's store errors turned into typed failures (see the module comment). */
export function withStoreFailures<T extends Record<string, ActivityFunction>>(activities: T): T {
  const wrapped: Record<string, ActivityFunction> = {};
  for (const [name, fn] of Object.entries(activities)) {
    wrapped[name] = async (...args) => {
      try {
        return await fn(...args);
      } catch (err) {
        throw storeFailure(err);
      }
    };
  }
  return wrapped as T;
}

/** The typed failure for a store error; any other error unchanged. */
export function storeFailure(err: unknown): unknown {
  const type =
    err instanceof IllegalTransitionError
      ? FailureType.IllegalTransition
      : err instanceof ConflictError
        ? FailureType.Conflict
        : err instanceof NotFoundError
          ? FailureType.NotFound
          : undefined;
  return type && err instanceof Error ? ApplicationFailure.nonRetryable(err.message, type) : err;
}
