/**
 * Steering a task from the SDK: answering its question, cancelling it, retrying it (afresh with its
 * failures in the prompt, or resuming its last session with a message).
 */
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
} from '@temporalio/client';
import { answerUpdate, awaitTaskChangeUpdate, taskStatusQuery, taskWorkflowId } from '../workflows/definitions.js';
import { RETRYABLE_STATES, SETTLED_TASK_STATES } from '../workflows/states.js';
import { taskStateKey } from '../workflows/task-state.js';
import { type Task } from '../workflows/types.js';
import { ConflictError, ValidationError } from './errors.js';
import { startTaskWorkflow, type SdkContext } from './tasks.js';
import { handedOver } from './waits.js';

// ---- Steering -----------------------------------------------------------------------------------

/** How long an answer waits for a workflow that is BLOCKED in the store to be BLOCKED itself (see below). */
const BLOCKED_CATCH_UP_MS = 30_000;

/** Answer a blocked task's question; the same agent session resumes with it. */
export async function answerQuestion(
  ctx: SdkContext,
  taskId: string,
  answer: string,
  by?: string,
): Promise<{ executionId: string }> {
  if (answer.trim() === '') {
    throw new ValidationError('Invalid answer:\n  - answer: must not be empty', [
      { path: 'answer', message: 'must not be empty' },
    ]);
  }
  const task = await ctx.store.getTask(taskId);
  const handle = ctx.temporal.workflow.getHandle(taskWorkflowId(taskId));
  const send = (): Promise<{ executionId: string }> =>
    handle.executeUpdate(answerUpdate, { args: [{ answer, ...(by ? { by } : {}) }] });
  try {
    try {
      return await send();
    } catch (err) {
      // The store can say BLOCKED one workflow task before the workflow does: when a worker died between
      // the write and that task's completion, the next worker redoes it after the workflow task timeout.
      // Then wait (on the workflow, up to 30 s) until it asks too, and answer once more.
      if (!(err instanceof WorkflowUpdateFailedError && task.state === 'BLOCKED' && task.question)) throw err;
      const { state, question } = await handle.query(taskStatusQuery);
      await handle.executeUpdate(awaitTaskChangeUpdate, {
        args: [{ from: taskStateKey(state, question !== undefined), timeoutMs: BLOCKED_CATCH_UP_MS }],
      });
      return await send();
    }
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new ConflictError(
        err.cause?.message ?? err.message,
        `See the task with \`claudomator task show ${taskId}\`.`,
      );
    }
    if (err instanceof WorkflowNotFoundError) {
      throw new ConflictError(
        `Task ${taskId} is ${task.state} and not waiting for an answer.`,
        `See the task with \`claudomator task show ${taskId}\`.`,
      );
    }
    throw err;
  }
}

/** Cancel a task: its agent's process group is killed and its slot released; it ends CANCELLED. */
export async function cancelTask(ctx: SdkContext, taskId: string): Promise<Task> {
  const task = await ctx.store.getTask(taskId);
  if (SETTLED_TASK_STATES.includes(task.state)) {
    throw new ConflictError(`Task ${taskId} already ended ${task.state}; there is nothing to cancel.`);
  }
  try {
    await ctx.temporal.workflow.getHandle(taskWorkflowId(taskId)).cancel();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    // No workflow yet (a story task before `story start`): only the record changes.
    await ctx.store.updateTaskState(taskId, 'CANCELLED', { error: 'cancelled before it started' });
  }
  return ctx.store.getTask(taskId);
}

/**
 * Run a task that ended badly again: a new run of its workflow with its
 * earlier failures in the prompt; with `message`, its last agent session resumes with that message.
 */
export async function retryTask(ctx: SdkContext, taskId: string, options: { message?: string } = {}): Promise<Task> {
  const task = await ctx.store.getTask(taskId);
  if (!RETRYABLE_STATES.includes(task.state)) {
    throw new ConflictError(
      `Task ${taskId} is ${task.state}: only ${RETRYABLE_STATES.slice(0, -1).join(', ')} or ${RETRYABLE_STATES.at(-1)} tasks can be retried.`,
      task.state === 'BLOCKED' && task.question
        ? `It is waiting for an answer: \`claudomator task answer ${taskId} "<answer>"\`.`
        : `See the task with \`claudomator task show ${taskId}\`.`,
    );
  }
  try {
    await startTaskWorkflow(ctx, task, options.message ? { message: options.message } : {});
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) {
      throw new ConflictError(
        `Task ${taskId} is already running again.`,
        `Follow it with \`claudomator task wait ${taskId}\`.`,
      );
    }
    throw err;
  }
  return handedOver(ctx, taskWorkflowId(taskId), awaitTaskChangeUpdate, task.state, () => ctx.store.getTask(taskId));
}
