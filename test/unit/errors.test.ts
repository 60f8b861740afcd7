/**
 * One error family: the store's errors are the SDK's (same classes, no translation), each kind keeps
 * its `code`, message and hint, and the CLI's exit statuses follow the code.
 */
import { describe, expect, it } from 'vitest';
import * as sdk from '../../client/index.js';
import { exitCodeFor, EXIT } from '../../client/cli/common.js';
import { ConfigError } from '../../infra/config.js';
import { NoDatabaseError } from '../../infra/postgres.js';
import * as store from '../../store/index.js';
import { parseSpec, taskSpecSchema } from '../../client/specs.js';

describe('the error family', () => {
  it('is one set of classes, shared by the store and the SDK', () => {
    for (const name of [
      'ClaudomatorError',
      'NotFoundError',
      'ConflictError',
      'IllegalTransitionError',
      'ValidationError',
      'UnavailableError',
      'DatabaseUnreachableError',
      'TimeoutError',
    ] as const) {
      expect(sdk[name], name).toBe(store[name]);
    }
  });

  it('a missing row: NOT_FOUND, a message naming it, a hint listing its kind; exit 3', () => {
    const err = new sdk.NotFoundError('task', 'abc');
    expect(err).toMatchObject({ name: 'NotFoundError', code: 'NOT_FOUND', kind: 'task', id: 'abc' });
    expect(err.message).toBe('No task with id "abc".');
    expect(err.hint).toBe('List tasks with `claudomator task list`.');
    expect(sdk.toClientError(err)).toBe(err);
    expect(exitCodeFor(err)).toBe(EXIT.notFound);
  });

  it('an illegal transition is a conflict: CONFLICT, both states named; exit 1', () => {
    const err = new store.IllegalTransitionError('story', 's1', 'DRAFT', 'DEPLOYED');
    expect(err).toBeInstanceOf(sdk.ConflictError);
    expect(err).toMatchObject({ name: 'IllegalTransitionError', code: 'CONFLICT', from: 'DRAFT', to: 'DEPLOYED' });
    expect(err.message).toBe('Illegal story state transition for "s1": DRAFT → DEPLOYED');
    expect(exitCodeFor(err)).toBe(EXIT.failure);
  });

  it('an unreachable database is unavailable, with the command that checks it; exit 1', () => {
    const err = new store.DatabaseUnreachableError('db:5432/claudomator', new Error('ECONNREFUSED'));
    expect(err).toBeInstanceOf(sdk.UnavailableError);
    expect(err).toMatchObject({ name: 'DatabaseUnreachableError', code: 'UNAVAILABLE', service: 'database' });
    expect(err.message).toMatch(/^Cannot reach Postgres at db:5432\/claudomator: ECONNREFUSED\. Start Postgres/);
    expect(err.hint).toContain('claudomator doctor');
    expect(exitCodeFor(err)).toBe(EXIT.failure);

    const none = new NoDatabaseError('/data');
    expect(none).toBeInstanceOf(sdk.UnavailableError);
    expect(none.hint).toContain('claudomator up');
  });

  it('translates only what is not of the family: spec and configuration errors become INVALID (exit 2)', () => {
    let specError: unknown;
    try {
      parseSpec(taskSpecSchema, { name: '' }, 'Invalid task spec');
    } catch (err) {
      specError = err;
    }
    const spec = sdk.toClientError(specError);
    expect(spec).toBeInstanceOf(sdk.ValidationError);
    expect((spec as sdk.ValidationError).issues.length).toBeGreaterThan(0);
    expect(exitCodeFor(spec)).toBe(EXIT.usage);

    const config = sdk.toClientError(
      new ConfigError([{ variable: 'CLAUDOMATOR_X', expected: 'a number', got: 'many' }]),
    ) as sdk.ValidationError;
    expect(config).toBeInstanceOf(sdk.ValidationError);
    expect(config.issues).toEqual([{ path: 'CLAUDOMATOR_X', message: 'expected a number' }]);

    const other = new Error('boom');
    expect(sdk.toClientError(other)).toBe(other);
    expect(exitCodeFor(other)).toBe(EXIT.failure);
  });
});
