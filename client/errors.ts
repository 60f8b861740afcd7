/**
 * The errors the SDK throws: claudomator's one error family (`store/errors.ts`, re-exported here), and
 * the translation of the errors from below that are not of it (spec schemas, configuration) at the
 * SDK boundary, so callers handle one family.
 */
import { ConfigError, type Config } from '../infra/config.js';
import { ClaudomatorError, UnavailableError, ValidationError } from '../store/errors.js';
import { SpecValidationError } from './specs.js';

export * from '../store/errors.js';

/** Translate errors from the layers below into the SDK's own; anything else passes through unchanged. */
export function toClientError(err: unknown): unknown {
  if (err instanceof ClaudomatorError) return err;
  if (err instanceof SpecValidationError) return ValidationError.fromSpec(err);
  if (err instanceof ConfigError) {
    return new ValidationError(
      err.message,
      err.problems.map((p) => ({ path: p.variable, message: `expected ${p.expected}` })),
      'Fix or unset the environment variables named above (all are listed in infra/config.ts, ENV_VARS).',
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
