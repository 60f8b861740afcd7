/**
 * Tasks from the SDK: submitting them (every field, reference and dependency checked before anything
 * is written or started, so bad input changes nothing) and reading them back. Workflows are started
 * with deterministic ids (`task-<id>`). The client class in client/index.ts delegates to these.
 */
import { randomBytes } from 'node:crypto';
import {
  WorkflowExecutionAlreadyStartedError,
  WorkflowNotFoundError,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import type { SearchAttributePair } from '@temporalio/common';
import type { Config } from '../infra/config.js';
import type { NewTask, Store } from '../store/index.js';
import { findCycle, dependencyOrder, type DependencyEdge } from '../workflows/dag.js';
import {
  ParentTaskIdKey,
  ProjectIdKey,
  StoryIdKey,
  storyWorkflowId,
  subtaskChangedSignal,
  taskAddedSignal,
  TaskStateKey,
  taskWorkflowId,
} from '../workflows/definitions.js';
import { parseTaskFile, type ParsedTaskSpec, type TaskSpec } from './specs.js';
import type { taskWorkflow } from '../workflows/task.js';
import {
  type Execution,
  type Task,
  type TaskFilter,
  type TaskInteraction,
  type TaskSettings,
} from '../workflows/types.js';
import { ValidationError } from './errors.js';

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

export function taskSettings(config: Readonly<Config>): TaskSettings {
  return {
    poolWorkflowId: config.poolWorkflowId,
    ...(config.poolShards > 1 ? { poolSharding: { agents: [...config.agents], shards: config.poolShards } } : {}),
    agentTaskQueue: config.agentTaskQueue,
    defaultTimeoutMs: config.defaultTimeoutMs,
    agentHeartbeatTimeoutMs: config.agentHeartbeatTimeoutMs,
    hostScheduleTimeoutMs: config.hostScheduleTimeoutMs,
    ...(config.searchAttributes ? {} : { searchAttributes: false }),
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
        ...(spec.questionPolicy ? { questionPolicy: spec.questionPolicy } : {}),
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

export async function startTaskWorkflow(ctx: SdkContext, task: Task, retry?: { message?: string }): Promise<void> {
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
    ...(ctx.config.searchAttributes ? { typedSearchAttributes: attributes } : {}),
    workflowIdConflictPolicy: 'FAIL',
  });
}

export function truncate(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
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
