/**
 * The store: the one owner of claudomator's SQL, one module per table (projects, stories, tasks,
 * executions, agent events, rejected signals, notifications), each a set of functions taking the
 * connection. `Store` is their façade: it holds the pool and, inside `transaction`, the connection of
 * the transaction, and sends every call there.
 *
 * Activities write through it (every write is idempotent: the same call twice leaves the same rows,
 * because activities are retried), and the SDK reads through it. Each method is one statement or
 * one small transaction (callers group several into one with `transaction`); state changes are
 * checked against the transition tables in `workflows/states.ts`, and an illegal one is an
 * `IllegalTransitionError` naming both states.
 */
import pg from 'pg';
import type {
  AgentConfig,
  AgentEvent,
  ChangeStats,
  NotificationRecord,
  Execution,
  Project,
  Question,
  QuestionTimers,
  RejectedSignal,
  Story,
  StoryState,
  Task,
  TaskFilter,
  TaskInteraction,
  TaskState,
} from '../workflows/types.js';
import * as agentEvents from './agent-events.js';
import { describeTarget, type Db } from './db.js';
import { DatabaseUnreachableError } from './errors.js';
import * as executions from './executions.js';
import type { ExecutionPatch } from './executions.js';
import * as notifications from './notifications.js';
import type { NotificationRef } from './notifications.js';
import * as projects from './projects.js';
import type { NewProject } from './projects.js';
import * as rejectedSignals from './rejected-signals.js';
import * as stories from './stories.js';
import type { NewStory } from './stories.js';
import * as tasks from './tasks.js';
import type { NewTask } from './tasks.js';

export * from './errors.js';
export { describeTarget } from './db.js';
export type { ExecutionPatch, NewProject, NewStory, NewTask, NotificationRef };

/** How long to wait for a connection before calling the database unreachable. */
const CONNECT_TIMEOUT_MS = 5_000;

export class Store {
  /**
   * `db` is where statements go: the pool, or inside `transaction` the one connection holding the
   * transaction, so every method of a transaction's store takes part in it.
   */
  constructor(
    readonly pool: pg.Pool,
    private readonly db: Db = pool,
  ) {}

  /**
   * Open a pool and prove the database answers, failing within seconds (never hanging) with a
   * `DatabaseUnreachableError` that says where it tried and what to do.
   */
  static async connect(connectionString: string, options: { max?: number } = {}): Promise<Store> {
    const pool = new pg.Pool({
      connectionString,
      connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
      max: options.max ?? 10,
      application_name: 'claudomator',
    });
    // An idle client losing its server must not crash the process; the next query reports it.
    pool.on('error', () => undefined);
    try {
      await pool.query('select 1');
    } catch (err) {
      await pool.end().catch(() => undefined);
      throw new DatabaseUnreachableError(describeTarget(connectionString), err);
    }
    return new Store(pool);
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  /**
   * Run `fn` in one transaction on one connection, with a store whose every statement is part of it:
   * all of them commit, or (when `fn` throws) none does. Inside a transaction, `transaction` joins it.
   */
  async transaction<T>(fn: (tx: Store) => Promise<T>): Promise<T> {
    if (this.db !== this.pool) return fn(this);
    const client = await this.pool.connect();
    try {
      await client.query('begin');
      const result = await fn(new Store(this.pool, client));
      await client.query('commit');
      return result;
    } catch (err) {
      await client.query('rollback').catch(() => undefined);
      throw err;
    } finally {
      client.release();
    }
  }

  // ---- Projects (store/projects.ts) -----------------------------------------------------------

  upsertProject(project: NewProject): Promise<Project> {
    return projects.upsertProject(this.db, project);
  }
  getProject(id: string): Promise<Project> {
    return projects.getProject(this.db, id);
  }
  listProjects(): Promise<Project[]> {
    return projects.listProjects(this.db);
  }

  // ---- Stories (store/stories.ts) -------------------------------------------------------------

  createStory(story: NewStory): Promise<{ story: Story; created: boolean }> {
    return stories.createStory(this.db, story);
  }
  getStory(id: string): Promise<Story> {
    return stories.getStory(this.db, id);
  }
  listStories(filter?: { projectId?: string; status?: StoryState }): Promise<Story[]> {
    return stories.listStories(this.db, filter);
  }
  updateStoryStatus(id: string, status: StoryState, detail?: string | null): Promise<Story> {
    return stories.updateStoryStatus(this.db, id, status, detail);
  }

  // ---- Tasks, their dependencies and interactions (store/tasks.ts) ----------------------------

  /** The task and its dependency edges in one transaction (joining the caller's, if any). */
  createTask(task: NewTask): Promise<{ task: Task; created: boolean }> {
    return this.transaction((tx) => tasks.createTask(tx.db, task));
  }
  getTask(id: string): Promise<Task> {
    return tasks.getTask(this.db, id);
  }
  findTask(id: string): Promise<Task | undefined> {
    return tasks.findTask(this.db, id);
  }
  findTaskByIdempotencyKey(key: string): Promise<Task | undefined> {
    return tasks.findTaskByIdempotencyKey(this.db, key);
  }
  listTasks(filter?: TaskFilter): Promise<Task[]> {
    return tasks.listTasks(this.db, filter);
  }
  listSubtasks(parentId: string): Promise<Task[]> {
    return tasks.listTasks(this.db, { parentTaskId: parentId });
  }
  listTasksByStory(storyId: string): Promise<Task[]> {
    return tasks.listTasks(this.db, { storyId });
  }
  listDependents(taskId: string): Promise<Task[]> {
    return tasks.listDependents(this.db, taskId);
  }
  listDependencyClosure(taskIds: string[]): Promise<Array<{ taskId: string; dependsOn: string }>> {
    return tasks.listDependencyClosure(this.db, taskIds);
  }
  updateTaskState(id: string, state: TaskState, options?: { error?: string | null }): Promise<{ from: TaskState }> {
    return tasks.updateTaskState(this.db, id, state, options);
  }
  updateTaskQuestion(id: string, question: Question | null): Promise<void> {
    return tasks.updateTaskQuestion(this.db, id, question);
  }
  updateTaskQuestionTimers(id: string, timers: QuestionTimers): Promise<void> {
    return tasks.updateTaskQuestionTimers(this.db, id, timers);
  }
  updateTaskSummary(id: string, summary: string): Promise<void> {
    return tasks.updateTaskSummary(this.db, id, summary);
  }
  updateTaskAgent(id: string, agent: AgentConfig): Promise<void> {
    return tasks.updateTaskAgent(this.db, id, agent);
  }
  appendTaskInteraction(interaction: TaskInteraction): Promise<void> {
    return tasks.appendTaskInteraction(this.db, interaction);
  }
  listTaskInteractions(taskId: string): Promise<TaskInteraction[]> {
    return tasks.listTaskInteractions(this.db, taskId);
  }

  // ---- Executions (store/executions.ts) -------------------------------------------------------

  createExecution(execution: Execution): Promise<Execution> {
    return executions.createExecution(this.db, execution);
  }
  updateExecution(id: string, patch: ExecutionPatch): Promise<Execution> {
    return executions.updateExecution(this.db, id, patch);
  }
  updateExecutionChangestats(id: string, stats: ChangeStats): Promise<void> {
    return executions.updateExecutionChangestats(this.db, id, stats);
  }
  getExecution(id: string): Promise<Execution> {
    return executions.getExecution(this.db, id);
  }
  listExecutions(taskId: string): Promise<Execution[]> {
    return executions.listExecutions(this.db, taskId);
  }

  // ---- Agent events (store/agent-events.ts) ---------------------------------------------------

  recordAgentEvent(event: AgentEvent): Promise<void> {
    return agentEvents.recordAgentEvent(this.db, event);
  }
  listAgentEvents(filter?: { agent?: string; limit?: number }): Promise<AgentEvent[]> {
    return agentEvents.listAgentEvents(this.db, filter);
  }

  // ---- Notifications (store/notifications.ts) -------------------------------------------------

  beginNotificationAttempt(ref: NotificationRef & { kind: string }): Promise<NotificationRecord | undefined> {
    return notifications.beginNotificationAttempt(this.db, ref);
  }
  markNotificationSent(ref: NotificationRef): Promise<void> {
    return notifications.markNotificationSent(this.db, ref);
  }
  markNotificationFailed(ref: NotificationRef & { status: 'failed' | 'rejected'; error: string }): Promise<void> {
    return notifications.markNotificationFailed(this.db, ref);
  }
  listNotifications(filter?: { keyPrefix?: string }): Promise<NotificationRecord[]> {
    return notifications.listNotifications(this.db, filter);
  }

  // ---- Rejected signals (store/rejected-signals.ts) -------------------------------------------

  recordRejectedSignal(rejected: RejectedSignal): Promise<void> {
    return rejectedSignals.recordRejectedSignal(this.db, rejected);
  }
  listRejectedSignals(filter?: { workflowId?: string; taskId?: string; limit?: number }): Promise<RejectedSignal[]> {
    return rejectedSignals.listRejectedSignals(this.db, filter);
  }
}
