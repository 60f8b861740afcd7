/**
 * The task and story verbs of the SDK, as functions over a connected context (the client class in
 * client/index.ts delegates to them). Submission checks everything before it writes anything —
 * every field, every reference, and that no dependency closes a cycle — so bad input changes
 * nothing. Workflows are started with deterministic ids (`task-<id>`, `story-<id>`).
 */
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import type { Config } from '../infra/config.js';
import type { NewTask, Store } from '../store/index.js';
import { findCycle, dependencyOrder, type DependencyEdge } from '../workflows/dag.js';
import {
  answerUpdate,
  awaitStoryChangeUpdate,
  awaitTaskChangeUpdate,
  ParentTaskIdKey,
  ProjectIdKey,
  StoryIdKey,
  storyStatusQuery,
  storyWorkflowId,
  subtaskChangedSignal,
  taskAddedSignal,
  TaskStateKey,
  taskStatusQuery,
  taskWorkflowId,
} from '../workflows/definitions.js';
import { parseTaskFile, type ParsedTaskSpec, type TaskSpec } from './specs.js';
import { RETRYABLE_STATES, SETTLED_TASK_STATES } from '../workflows/states.js';
import { taskStateKey } from '../workflows/task-state.js';
import type { storyWorkflow } from '../workflows/story.js';
import type { taskWorkflow } from '../workflows/task.js';
import {
  STORY_STATES,
  TASK_STATES,
  type Execution,
  type Story,
  type StoryState,
  type StoryStatusView,
  type Task,
  type TaskFilter,
  type TaskInteraction,
  type TaskSettings,
  type TaskState,
} from '../workflows/types.js';
import { ConflictError, TimeoutError, ValidationError } from './errors.js';

export interface SdkContext {
  temporal: Client;
  store: Store;
  config: Readonly<Config>;
}

export interface TaskDetails {
  task: Task;
  executions: Execution[];
  interactions: TaskInteraction[];
}

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
export function taskSettings(config: Readonly<Config>): TaskSettings {
  return {
    poolWorkflowId: config.poolWorkflowId,
    agentTaskQueue: config.agentTaskQueue,
    defaultTimeoutMs: config.defaultTimeoutMs,
    agentHeartbeatTimeoutMs: config.agentHeartbeatTimeoutMs,
    hostScheduleTimeoutMs: config.hostScheduleTimeoutMs,
  };
}

// ---- Submission ---------------------------------------------------------------------------------

interface PlannedTask {
  index: number;
  task: NewTask;
  /** Submitted before under the same idempotency key: returned instead of created. */
  existing?: Task;
}

/**
 * Submit one task, a list, or `{ tasks: [...] }`. Dependencies and parents may name tasks of the same
 * batch or existing ones. A task whose idempotency key was used before is returned, not created again.
 */
export async function submitTasks(
  ctx: SdkContext,
  input: TaskSpec | TaskSpec[] | { tasks: TaskSpec[] },
): Promise<Task[]> {
  const planned = await planTasks(ctx, parseTaskFile(input, 'task spec'));
  const results: Task[] = [];
  const created: Task[] = [];
  // All the tasks of one submission are created together or not at all.
  await ctx.store.transaction(async (tx) => {
    for (const plan of planned) {
      if (plan.existing) {
        results[plan.index] = plan.existing;
        continue;
      }
      const { task, created: isNew } = await tx.createTask(plan.task);
      results[plan.index] = task;
      if (isNew) created.push(task);
    }
  });
  for (const task of created) await launchTask(ctx, task);
  return results;
}

async function planTasks(ctx: SdkContext, specs: ParsedTaskSpec[]): Promise<PlannedTask[]> {
  const issues: Array<{ path: string; message: string }> = [];
  const where = (i: number, field: string): string => (specs.length > 1 ? `tasks[${i}].${field}` : field);
  const ids = specs.map((spec) => spec.id ?? newTaskId());
  const plans: PlannedTask[] = [];

  const seen = new Map<string, number>();
  ids.forEach((id, i) => {
    const first = seen.get(id);
    if (first !== undefined)
      issues.push({ path: where(i, 'id'), message: `"${id}" is also the id of tasks[${first}]` });
    else seen.set(id, i);
  });

  const known = new Map<string, Task | undefined>();
  const lookup = async (id: string): Promise<Task | undefined> => {
    if (!known.has(id)) known.set(id, await ctx.store.findTask(id));
    return known.get(id);
  };
  const inBatch = new Set(ids);

  for (const [i, spec] of specs.entries()) {
    const id = ids[i]!;
    if (spec.idempotencyKey) {
      const existing = await ctx.store.findTaskByIdempotencyKey(spec.idempotencyKey);
      if (existing) {
        plans.push({
          index: i,
          task: { id: existing.id, name: existing.name, instructions: existing.instructions, agent: existing.agent },
          existing,
        });
        continue;
      }
    }
    for (const [j, dep] of spec.dependsOn.entries()) {
      if (dep === id) issues.push({ path: where(i, `dependsOn[${j}]`), message: 'a task cannot depend on itself' });
      else if (!inBatch.has(dep) && !(await lookup(dep))) {
        issues.push({
          path: where(i, `dependsOn[${j}]`),
          message: `unknown task "${dep}" (not in this submission, not in the store)`,
        });
      }
    }
    if (spec.parent && !inBatch.has(spec.parent) && !(await lookup(spec.parent))) {
      issues.push({ path: where(i, 'parent'), message: `unknown task "${spec.parent}"` });
    }
    let storyProject: string | undefined;
    if (spec.story) {
      const story = await ctx.store.getStory(spec.story).catch(() => undefined);
      if (!story) issues.push({ path: where(i, 'story'), message: `unknown story "${spec.story}"` });
      else if (spec.project && spec.project !== story.projectId) {
        issues.push({
          path: where(i, 'project'),
          message: `story "${spec.story}" belongs to project "${story.projectId}", not "${spec.project}"`,
        });
      } else storyProject = story.projectId;
    }
    if (spec.project && !(await ctx.store.getProject(spec.project).catch(() => undefined))) {
      issues.push({ path: where(i, 'project'), message: `unknown project "${spec.project}"` });
    }
    const projectId = spec.project ?? storyProject;
    plans.push({
      index: i,
      task: {
        id,
        name: spec.name,
        instructions: spec.instructions,
        agent: spec.agent,
        dependsOn: spec.dependsOn,
        ...(spec.timeout !== undefined ? { timeoutMs: spec.timeout } : {}),
        ...(spec.parent ? { parentTaskId: spec.parent } : {}),
        ...(spec.story ? { storyId: spec.story } : {}),
        ...(projectId ? { projectId } : {}),
        ...(spec.repositoryUrl ? { repositoryUrl: spec.repositoryUrl } : {}),
        ...(spec.branch ? { branch: spec.branch } : {}),
        ...(spec.idempotencyKey ? { idempotencyKey: spec.idempotencyKey } : {}),
      },
    });
  }

  // A cycle through the new edges and the stored ones they reach.
  const newEdges: DependencyEdge[] = plans
    .filter((p) => !p.existing)
    .flatMap((p) => (p.task.dependsOn ?? []).map((dependsOn) => ({ taskId: p.task.id, dependsOn })));
  const external = [...new Set(newEdges.map((e) => e.dependsOn).filter((id) => !inBatch.has(id)))];
  const stored = external.length > 0 ? await ctx.store.listDependencyClosure(external) : [];
  const cycle = findCycle([...stored, ...newEdges]);
  if (cycle) {
    const i = ids.indexOf(cycle.find((id) => inBatch.has(id)) ?? '');
    issues.push({
      path: where(Math.max(i, 0), 'dependsOn'),
      message: `would close a dependency cycle: ${cycle.join(' → ')} (each waits for the next)`,
    });
  }

  if (issues.length > 0) {
    throw new ValidationError(
      `Invalid task spec:\n${issues.map((p) => `  - ${p.path}: ${p.message}`).join('\n')}`,
      issues,
      'Nothing was submitted. Fix the fields named above and submit again.',
    );
  }

  // Parents and dependencies first, so foreign keys hold as rows are written.
  const edges = [
    ...newEdges,
    ...plans.filter((p) => p.task.parentTaskId).map((p) => ({ taskId: p.task.id, dependsOn: p.task.parentTaskId! })),
  ];
  const order = dependencyOrder(ids, edges);
  return order.map((id) => plans.find((p) => p.task.id === id || (p.existing && ids[p.index] === id))!);
}

function newTaskId(): string {
  return `t-${randomBytes(5).toString('hex')}`;
}

/**
 * Start a new task's workflow, or hand it to whoever starts it: a running parent starts its subtasks
 * as children (so they show under it in the Web UI); a running story starts its tasks; a story task
 * whose story has not started waits for `story start`.
 */
async function launchTask(ctx: SdkContext, task: Task): Promise<void> {
  if (task.parentTaskId) {
    const signalled = await signalIfRunning(ctx.temporal.workflow.getHandle(taskWorkflowId(task.parentTaskId)), (h) =>
      h.signal(subtaskChangedSignal, { taskId: task.id, state: 'PENDING' }),
    );
    if (signalled) return;
  } else if (task.storyId) {
    await signalIfRunning(ctx.temporal.workflow.getHandle(storyWorkflowId(task.storyId)), (h) =>
      h.signal(taskAddedSignal, { taskId: task.id }),
    );
    return;
  }
  await startTaskWorkflow(ctx, task).catch((err: unknown) => {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  });
}

async function signalIfRunning(handle: WorkflowHandle, send: (h: WorkflowHandle) => Promise<void>): Promise<boolean> {
  try {
    await send(handle);
    return true;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return false;
    throw err;
  }
}

async function startTaskWorkflow(ctx: SdkContext, task: Task, retry?: { message?: string }): Promise<void> {
  const attributes: SearchAttributePair[] = [
    { key: TaskStateKey, value: task.state },
    ...(task.storyId ? [{ key: StoryIdKey, value: task.storyId }] : []),
    ...(task.projectId ? [{ key: ProjectIdKey, value: task.projectId }] : []),
    ...(task.parentTaskId ? [{ key: ParentTaskIdKey, value: task.parentTaskId }] : []),
  ];
  await ctx.temporal.workflow.start<typeof taskWorkflow>('taskWorkflow', {
    taskQueue: ctx.config.taskQueue,
    workflowId: taskWorkflowId(task.id),
    args: [{ taskId: task.id, settings: taskSettings(ctx.config), ...(retry ? { retry } : {}) }],
    staticSummary: truncate(`${task.name} (${task.agent.type})`, 190),
    staticDetails: truncate(`**Instructions**\n\n${task.instructions}`, 19_000),
    typedSearchAttributes: attributes,
    workflowIdConflictPolicy: 'FAIL',
  });
}

function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

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

/** How long a new run may take to record that it took over before a retry or restart returns anyway. */
const HAND_OVER_MS = 10_000;

/**
 * After starting a new run: wait (briefly, on the workflow) until it has recorded that it took over,
 * so a `wait` right after a retry or restart does not see the old, settled state. Without a running
 * worker the old state stays; the run then starts when one does.
 */
async function handedOver<T>(
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

// ---- Reading ------------------------------------------------------------------------------------

export async function taskDetails(ctx: SdkContext, taskId: string): Promise<TaskDetails> {
  const [task, executions, interactions] = await Promise.all([
    ctx.store.getTask(taskId),
    ctx.store.listExecutions(taskId),
    ctx.store.listTaskInteractions(taskId),
  ]);
  return { task, executions, interactions };
}

export async function listTasks(ctx: SdkContext, filter: TaskFilter = {}): Promise<Task[]> {
  if (filter.storyId) await ctx.store.getStory(filter.storyId);
  return ctx.store.listTasks(filter);
}

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

// ---- Stories ------------------------------------------------------------------------------------

/** Start (or restart, after NEEDS_FIX or FAILED) a story's workflow; starting a running story is a no-op. */
export async function startStory(ctx: SdkContext, storyId: string): Promise<Story> {
  const story = await ctx.store.getStory(storyId);
  if (story.status === 'REVIEW_READY') {
    throw new ConflictError(`Story ${storyId} is REVIEW_READY already.`, 'Create a new story for further work.');
  }
  if (story.status === 'NEEDS_FIX' || story.status === 'FAILED') await storyRunClosed(ctx, storyId);
  const handle = await ctx.temporal.workflow.start<typeof storyWorkflow>('storyWorkflow', {
    taskQueue: ctx.config.taskQueue,
    workflowId: storyWorkflowId(storyId),
    args: [
      {
        storyId,
        settings: taskSettings(ctx.config),
        deployRetry: { initialIntervalMs: ctx.config.deployRetryIntervalMs },
      },
    ],
    staticSummary: truncate(`${story.name} (${story.branch})`, 190),
    staticDetails: `**Project** ${story.projectId}\n\n**Branch** ${story.branch}`,
    typedSearchAttributes: [
      { key: StoryIdKey, value: storyId },
      { key: ProjectIdKey, value: story.projectId },
    ],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  if (!handle.firstExecutionRunId) return story;
  return handedOver(ctx, storyWorkflowId(storyId), awaitStoryChangeUpdate, story.status, () =>
    ctx.store.getStory(storyId),
  );
}

/**
 * The run that recorded NEEDS_FIX or FAILED closes right after: wait for it (briefly), so that a start
 * just then is a new run and not a no-op on the closing one.
 */
async function storyRunClosed(ctx: SdkContext, storyId: string): Promise<void> {
  const handle = ctx.temporal.workflow.getHandle(storyWorkflowId(storyId));
  try {
    if ((await handle.describe()).status.name !== 'RUNNING') return;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return;
    throw err;
  }
  // Its result (a long poll on the server) arrives when it closes, however it ends.
  const closed = handle.result().then(
    () => true,
    () => true,
  );
  if (await Promise.race([closed, sleep(30_000).then(() => false)])) return;
  throw new ConflictError(
    `Story ${storyId} is recorded as stopped, but its workflow still runs.`,
    `Look at it in the Web UI (${ctx.config.uiUrl}), or cancel it with \`claudomator story cancel ${storyId}\`, then start it again.`,
  );
}

export async function cancelStory(ctx: SdkContext, storyId: string): Promise<void> {
  await ctx.store.getStory(storyId);
  try {
    await ctx.temporal.workflow.getHandle(storyWorkflowId(storyId)).cancel();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ConflictError(`Story ${storyId} is not running.`);
    throw err;
  }
}

/** The story's live view from its workflow (step, tasks, fix loop), or undefined when it is not running. */
export async function storyProgress(ctx: SdkContext, storyId: string): Promise<StoryStatusView | undefined> {
  try {
    return await ctx.temporal.workflow.getHandle(storyWorkflowId(storyId)).query(storyStatusQuery);
  } catch {
    return undefined;
  }
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
      from = change.key;
      // Report the state the workflow moved to even if it moves on again before the record is read.
      if (change.state !== last && args.isState(change.state)) {
        last = change.state;
        options.onChange?.(change.state);
      }
      options.onProgress?.();
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError || isClosedWorkflowError(err))) throw err;
      await sleep(Math.min(NOT_RUNNING_RECHECK_MS, left));
      from = '';
    }
    value = await args.read();
  }
}

/** An update sent to a workflow that has closed. */
function isClosedWorkflowError(err: unknown): boolean {
  return err instanceof WorkflowUpdateFailedError && /completed|closed/i.test(err.cause?.message ?? err.message);
}
