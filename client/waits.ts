/**
 * Waiting from the SDK, on the workflows rather than on Postgres: a task or story followed until it
 * reaches a state (`awaitTaskChange` / `awaitStoryChange` updates), and a new run's hand-over.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { ServiceError, WorkflowNotFoundError, WorkflowUpdateFailedError } from '@temporalio/client';
import {
  awaitStoryChangeUpdate,
  awaitTaskChangeUpdate,
  storyWorkflowId,
  taskWorkflowId,
} from '../workflows/definitions.js';
import { SETTLED_TASK_STATES } from '../workflows/states.js';
import { taskStateKey } from '../workflows/task-state.js';
import {
  STORY_STATES,
  TASK_STATES,
  type Story,
  type StoryState,
  type Task,
  type TaskState,
} from '../workflows/types.js';
import { TimeoutError } from './errors.js';
import type { SdkContext } from './tasks.js';

export interface WaitOptions<S extends string> {
  /** States to wait for. */
  until?: readonly S[];
  /** Give up after this long with a TimeoutError (default: wait forever). */
  timeoutMs?: number;
  /** Called whenever the state changes (for progress output). */
  onChange?: (state: S) => void;
  /** Called whenever the workflow reports a change, also one that leaves the state as it was (a story's step). */
  onProgress?: () => void;
}

/** What a task workflow needs from the deployment (workflow code cannot read the configuration). */
/**
 * Wait until the task reaches one of `until`; by default until it settled, or until it waits for an
 * answer (BLOCKED with a question — a parent BLOCKED on its subtasks is still on its way).
 */
export async function waitForTask(
  ctx: SdkContext,
  taskId: string,
  options: WaitOptions<TaskState> = {},
): Promise<Task> {
  const until = options.until ?? SETTLED_TASK_STATES;
  const stopWhen = options.until ? undefined : (task: Task) => task.state === 'BLOCKED' && task.question !== undefined;
  return follow(ctx, {
    what: `task ${taskId}`,
    workflowId: taskWorkflowId(taskId),
    update: awaitTaskChangeUpdate,
    read: () => ctx.store.getTask(taskId),
    stateOf: (t) => t.state,
    isState: (state): state is TaskState => (TASK_STATES as readonly string[]).includes(state),
    keyOf: (t) => taskStateKey(t.state, t.question !== undefined),
    until,
    options: { ...options, ...(stopWhen ? { stopWhen } : {}) },
  });
}

/** How long a new run may take to record that it took over before a retry or restart returns anyway. */
const HAND_OVER_MS = 10_000;

/**
 * After starting a new run: wait (briefly, on the workflow) until it has recorded that it took over,
 * so a `wait` right after a retry or restart does not see the old, settled state. Without a running
 * worker the old state stays; the run then starts when one does.
 */
export async function handedOver<T>(
  ctx: SdkContext,
  workflowId: string,
  update: typeof awaitTaskChangeUpdate,
  old: string,
  read: () => Promise<T>,
): Promise<T> {
  // A story's key carries a revision: any key of the new run whose status moved on will do.
  const from = update === awaitStoryChangeUpdate ? `${old}#0` : old;
  const wait = ctx.temporal.workflow
    .getHandle(workflowId)
    .executeUpdate(update, { args: [{ from, timeoutMs: HAND_OVER_MS }] })
    .catch(() => undefined);
  await Promise.race([wait, sleep(HAND_OVER_MS + 2_000)]);
  return read();
}

/** Wait until the story reaches one of `until` (default REVIEW_READY, NEEDS_FIX or FAILED). */
export async function waitForStory(
  ctx: SdkContext,
  storyId: string,
  options: WaitOptions<StoryState> = {},
): Promise<Story> {
  const until = options.until ?? ['REVIEW_READY', 'NEEDS_FIX', 'FAILED'];
  return follow(ctx, {
    what: `story ${storyId}`,
    workflowId: storyWorkflowId(storyId),
    update: awaitStoryChangeUpdate,
    read: () => ctx.store.getStory(storyId),
    stateOf: (s) => s.status,
    isState: (state): state is StoryState => (STORY_STATES as readonly string[]).includes(state),
    keyOf: (s) => s.status,
    until,
    options,
  });
}

/** The longest one wait on a workflow lasts (its durable timer) before the waiter asks again. */
const WAIT_SLICE_MS = 10 * 60_000;
/** How often a task or story whose workflow is not running (not started yet, or ended) is read again. */
const NOT_RUNNING_RECHECK_MS = 1_000;
/**
 * An update whose workflow task failed is sent again after 200 ms, 400 ms, … up to 1 s, at most this many
 * times in a row: a workflow whose tasks keep failing is broken, and the wait says so.
 */
const INTERRUPTED_RETRIES = 10;
// gRPC status codes (the client's ServiceError carries the gRPC error as its cause).
const FAILED_PRECONDITION = 9;
const UNAVAILABLE = 14;

/**
 * Follow a task or story until its state is one of `until` (or `stopWhen` holds): read the record
 * from Postgres, then wait on the workflow (the `awaitTaskChange` / `awaitStoryChange` update returns
 * when its state moves on) and read again. When no workflow runs for it (a story task before
 * `story start`, or one that ended in a state not waited for) it is read again every second: the
 * one place where the SDK polls, since there is no workflow to wait on.
 */
async function follow<T, S extends string>(
  ctx: SdkContext,
  args: {
    what: string;
    workflowId: string;
    update: typeof awaitTaskChangeUpdate;
    read: () => Promise<T>;
    stateOf: (value: T) => S;
    isState: (state: string) => state is S;
    keyOf: (value: T) => string;
    until: readonly S[];
    options: WaitOptions<S> & { stopWhen?: (value: T) => boolean };
  },
): Promise<T> {
  const { options } = args;
  const deadline = options.timeoutMs === undefined ? Infinity : Date.now() + options.timeoutMs;
  const handle = ctx.temporal.workflow.getHandle(args.workflowId);
  let last: S | undefined;
  let value = await args.read();
  let from = args.keyOf(value);
  /** Updates in a row whose workflow task failed. */
  let interrupted = 0;
  for (;;) {
    const state = args.stateOf(value);
    if (state !== last) {
      last = state;
      options.onChange?.(state);
    }
    if (args.until.includes(state) || options.stopWhen?.(value)) return value;
    const left = deadline - Date.now();
    if (left <= 0) {
      throw new TimeoutError(`Gave up waiting for ${args.what} to be ${args.until.join(' or ')}: it is ${state}.`);
    }
    const timeoutMs = Math.max(1, Math.min(left, WAIT_SLICE_MS));
    try {
      const change = await handle.executeUpdate(args.update, { args: [{ from, timeoutMs }] });
      interrupted = 0;
      from = change.key;
      // Report the state the workflow moved to even if it moves on again before the record is read.
      if (change.state !== last && args.isState(change.state)) {
        last = change.state;
        options.onChange?.(change.state);
      }
      options.onProgress?.();
    } catch (err) {
      if (isInterruptedUpdateError(err) && interrupted < INTERRUPTED_RETRIES) {
        // The workflow task that carried the update failed (it can meet the workflow closing); the server
        // retries that task, and the next update goes with it.
        interrupted++;
        await sleep(Math.min(200 * interrupted, NOT_RUNNING_RECHECK_MS, left));
      } else if (err instanceof WorkflowNotFoundError || isClosedWorkflowError(err)) {
        await sleep(Math.min(NOT_RUNNING_RECHECK_MS, left));
        from = '';
      } else {
        throw err;
      }
    }
    value = await args.read();
  }
}

/** An update the server gave up on because the workflow task carrying it failed or was aborted. */
export function isInterruptedUpdateError(err: unknown): boolean {
  if (!(err instanceof ServiceError)) return false;
  const cause = err.cause as { code?: number; message?: string } | undefined;
  return (
    (cause?.code === FAILED_PRECONDITION && /unexpected workflow task failure/i.test(cause.message ?? '')) ||
    (cause?.code === UNAVAILABLE && /update was aborted/i.test(cause.message ?? ''))
  );
}

/** An update sent to a workflow that has closed. */
function isClosedWorkflowError(err: unknown): boolean {
  return err instanceof WorkflowUpdateFailedError && /completed|closed/i.test(err.cause?.message ?? err.message);
}
