/**
 * Which update failures a wait (client/waits.ts) sends again: those whose workflow task failed or was
 * aborted, as the server reports them, and nothing else.
 */
import { ServiceError, WorkflowUpdateFailedError } from '@temporalio/client';
import { describe, expect, it } from 'vitest';
import { isInterruptedUpdateError } from '../../client/waits.js';

function grpcError(code: number, details: string): Error {
  return Object.assign(new Error(`${code} ${details}`), { code, details });
}

describe('isInterruptedUpdateError', () => {
  it('is true for an update whose workflow task failed or was aborted', () => {
    for (const cause of [
      grpcError(
        9,
        'FAILED_PRECONDITION: Unable to perform workflow execution update due to unexpected workflow task failure.',
      ),
      grpcError(14, 'UNAVAILABLE: workflow update was aborted'),
    ]) {
      expect(isInterruptedUpdateError(new ServiceError('Workflow Update failed', { cause }))).toBe(true);
    }
  });

  it('is false for everything else: other codes and messages, a failed update, a plain error', () => {
    for (const err of [
      new ServiceError('Workflow Update failed', { cause: grpcError(9, 'FAILED_PRECONDITION: something else') }),
      new ServiceError('Workflow Update failed', {
        cause: grpcError(3, 'INVALID_ARGUMENT: unexpected workflow task failure'),
      }),
      new ServiceError('Workflow Update failed'),
      new WorkflowUpdateFailedError('Workflow Update failed', new Error('unexpected workflow task failure')),
      new Error('unexpected workflow task failure'),
    ]) {
      expect(isInterruptedUpdateError(err)).toBe(false);
    }
  });
});
