/**
 * The claudomator SDK: a typed façade over Temporal (to start and steer workflows) and Postgres (to
 * list and show what they did). The CLI is built on it and on nothing else.
 *
 * Input is validated with the spec schemas of `client/specs.ts`; every error is one of the typed
 * errors of `client/errors.ts`, which say what to do next.
 *
 * Long only because the SDK has many verbs: each method is a few lines that validate and delegate to
 * tasks.ts, steering.ts, stories.ts, waits.ts or logs.ts.
 */
import { Client, Connection, WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import { claudomatorDataConverter } from '../infra/codec.js';
import type { Config } from '../infra/config.js';
import { findDatabase } from '../infra/postgres.js';
import { describeTarget, Store } from '../store/index.js';
import { unappliedMigrations } from '../store/migrate.js';
import { storyWorkflowId, taskWorkflowId } from '../workflows/definitions.js';
import type { healthCheckWorkflow } from '../workflows/health.js';
import { parseSpec, projectSpecSchema, storySpecSchema, type ProjectSpec, type StorySpec } from './specs.js';
import type { TaskSpec } from './specs.js';
import {
  STORY_STATES,
  type AgentStatus,
  type HealthReport,
  type PoolStatus,
  type Project,
  type Story,
  type StoryState,
  type StoryStatusView,
  type Task,
  type TaskFilter,
  type TaskState,
} from '../workflows/types.js';
import * as pool from '../infra/agent-pool.js';
import { agentOverview, type AgentOverview } from './agent-overview.js';
import * as logs from './logs.js';
import type { TaskLogEntry, TaskLogOptions } from './logs.js';
import * as steering from './steering.js';
import * as stories from './stories.js';
import * as tasks from './tasks.js';
import type { TaskDetails } from './tasks.js';
import * as waits from './waits.js';
import type { WaitOptions } from './waits.js';
import {
  errorMessage,
  NotFoundError,
  temporalUnavailable,
  toClientError,
  UnavailableError,
  ValidationError,
} from './errors.js';

export * from './errors.js';
export { loadConfig, type Config } from '../infra/config.js';
export { diagnose, describeConfig, migrateDatabase, setupTemporal } from './admin.js';
export type { DoctorCheck, DoctorReport } from './admin.js';
export type { ProjectSpec, StorySpec } from './specs.js';
export type { QuestionPolicySpec, TaskSpec } from './specs.js';
export type {
  AgentStatus,
  Execution,
  PoolStatus,
  Project,
  Story,
  StoryState,
  StoryStatusView,
  Task,
  TaskFilter,
  TaskInteraction,
  TaskState,
} from '../workflows/types.js';
export type { TaskDetails } from './tasks.js';
export type { WaitOptions } from './waits.js';
export type { TaskLogEntry, TaskLogKind, TaskLogOptions } from './logs.js';
export type { AgentOverview } from './agent-overview.js';
export type { AgentEvent } from '../agents/adapter.js';
export { taskSettings } from './tasks.js';

export interface StoryFilter {
  project?: string;
  status?: StoryState;
}

export class ClaudomatorClient {
  constructor(
    readonly temporal: Client,
    readonly store: Store,
    readonly config: Readonly<Config>,
  ) {}

  /**
   * Connect to the database (`databaseUrl`, else the one the configuration leads to: see
   * `findDatabase`) and create a Temporal client that connects on first use, so store-only calls work
   * while Temporal is down. It only connects: the database is created, migrated and (embedded) hosted
   * by `claudomator up`, `claudomator migrate` and the workers; a database they have not migrated is
   * an `UnavailableError` saying so.
   */
  static async connect(config: Readonly<Config>, options: { databaseUrl?: string } = {}): Promise<ClaudomatorClient> {
    const url = options.databaseUrl ?? (await translate(() => findDatabase(config)));
    const store = await translate(() => Store.connect(url));
    try {
      const pending = await unappliedMigrations(store.pool);
      if (pending.length > 0) {
        throw new UnavailableError(
          'database',
          `The database at ${describeTarget(url)} lacks ${pending.length} migration(s) of this version (${pending.join(', ')}).`,
          'Run `claudomator migrate`, or start `claudomator up` or a worker: they migrate it as they start.',
        );
      }
    } catch (err) {
      await store.close();
      throw toClientError(err);
    }
    const temporal = new Client({
      connection: Connection.lazy(config.temporal.connection),
      namespace: config.temporal.namespace,
      dataConverter: claudomatorDataConverter(config),
    });
    return new ClaudomatorClient(temporal, store, config);
  }

  // ---- Projects -------------------------------------------------------------------------------

  /** Add a project, or update the one with the same id (adding it twice is a no-op). */
  async addProject(spec: ProjectSpec): Promise<Project> {
    return translate(async () => {
      const project = parseSpec(projectSpecSchema, spec, 'project');
      return this.store.upsertProject({
        id: project.id,
        remoteUrl: project.remoteUrl,
        defaultBranch: project.defaultBranch,
        ...(project.deployCommand ? { deployCommand: project.deployCommand } : {}),
        ...(project.validation ? { validation: project.validation } : {}),
        ...(project.notify && Object.keys(project.notify).length > 0 ? { notify: project.notify } : {}),
        ...(project.questionPolicy ? { questionPolicy: project.questionPolicy } : {}),
      });
    });
  }

  async getProject(id: string): Promise<Project> {
    return translate(() => this.store.getProject(id));
  }

  async listProjects(): Promise<Project[]> {
    return translate(() => this.store.listProjects());
  }

  // ---- Stories --------------------------------------------------------------------------------

  /**
   * Create a story (PENDING) of a project on a branch. Creating the same story again returns it with
   * `created: false`; another story under the same id is a `ConflictError`.
   */
  async createStory(spec: StorySpec): Promise<{ story: Story; created: boolean }> {
    return translate(async () => {
      const story = parseSpec(storySpecSchema, spec, 'story');
      await this.requireProject(story.project, `Stories belong to a project: add "${story.project}" first.`);
      return this.store.createStory({
        id: story.id,
        projectId: story.project,
        name: story.name ?? story.id,
        branch: story.branch,
        maxFixAttempts: story.maxFixAttempts,
      });
    });
  }

  async getStory(id: string): Promise<Story> {
    return translate(() => this.store.getStory(id));
  }

  async listStories(filter: StoryFilter = {}): Promise<Story[]> {
    return translate(async () => {
      if (filter.status !== undefined && !(STORY_STATES as readonly string[]).includes(filter.status)) {
        throw new ValidationError(`Invalid story filter:\n  - status: expected one of ${STORY_STATES.join(', ')}`, [
          { path: 'status', message: `expected one of ${STORY_STATES.join(', ')}` },
        ]);
      }
      if (filter.project !== undefined) await this.requireProject(filter.project);
      return this.store.listStories({
        ...(filter.project !== undefined ? { projectId: filter.project } : {}),
        ...(filter.status !== undefined ? { status: filter.status } : {}),
      });
    });
  }

  // ---- Tasks ----------------------------------------------------------------------------------

  /**
   * Submit one task, a list, or `{ tasks: [...] }` (dependencies may name tasks of the same batch).
   * Everything is checked before anything is written or started: each field, every dependency,
   * parent, story and project, and that no dependency closes a cycle (the error shows its path).
   * A repeated idempotency key returns the task of the first submission.
   */
  async submitTasks(input: TaskSpec | TaskSpec[] | { tasks: TaskSpec[] }): Promise<Task[]> {
    return translate(() => tasks.submitTasks(this, input));
  }

  async getTask(id: string): Promise<TaskDetails> {
    return translate(() => tasks.taskDetails(this, id));
  }

  async listTasks(filter: TaskFilter = {}): Promise<Task[]> {
    return translate(() => tasks.listTasks(this, filter));
  }

  /** Answer a blocked task's question: the same agent session resumes in the same sandbox. */
  async answerQuestion(taskId: string, answer: string, by?: string): Promise<{ executionId: string }> {
    return translate(() => steering.answerQuestion(this, taskId, answer, by));
  }

  /** Cancel a task: its agent's process group is killed, its slot released; it ends CANCELLED. */
  async cancelTask(taskId: string): Promise<Task> {
    return translate(() => steering.cancelTask(this, taskId));
  }

  /** Run a FAILED, TIMED_OUT, CANCELLED or BUDGET_EXCEEDED task again; with `message`, resume its last session. */
  async retryTask(taskId: string, options: { message?: string } = {}): Promise<Task> {
    return translate(() => steering.retryTask(this, taskId, options));
  }

  /** Wait for a task to reach one of `until` (default: settled, or waiting for an answer). */
  async waitForTask(taskId: string, options: WaitOptions<TaskState> = {}): Promise<Task> {
    return translate(() => waits.waitForTask(this, taskId, options));
  }

  /**
   * The agent's stream of a task's latest execution (or `executionId`'s) as readable entries, from
   * its stdout log; with `follow`, the live run and the runs after it, until the task settles or asks
   * a question. Unknown task or execution: NotFoundError (thrown by the first `next()`).
   */
  async *taskLogs(taskId: string, options: TaskLogOptions = {}): AsyncGenerator<TaskLogEntry, void, undefined> {
    try {
      yield* logs.taskLogs(this, taskId, options);
    } catch (err) {
      throw toClientError(err);
    }
  }

  // ---- Story runs -----------------------------------------------------------------------------

  /** Start the story's workflow (or restart it after NEEDS_FIX/FAILED); a running story is left as it is. */
  async startStory(storyId: string): Promise<Story> {
    return translate(() => stories.startStory(this, storyId));
  }

  async cancelStory(storyId: string): Promise<void> {
    return translate(() => stories.cancelStory(this, storyId));
  }

  /** The running story's step, tasks and fix loop, from its workflow; undefined when it is not running. */
  async storyProgress(storyId: string): Promise<StoryStatusView | undefined> {
    return translate(() => stories.storyProgress(this, storyId));
  }

  /** Wait for a story to reach one of `until` (default REVIEW_READY, NEEDS_FIX or FAILED). */
  async waitForStory(storyId: string, options: WaitOptions<StoryState> = {}): Promise<Story> {
    return translate(() => waits.waitForStory(this, storyId, options));
  }

  // ---- Agents ---------------------------------------------------------------------------------

  /** Start the agent pool unless it runs (workers and `up` do this; tasks start it on demand too). */
  async ensureAgentPool(): Promise<void> {
    await pool.ensureAgentPools(this.temporal, this.config);
  }

  /** Every agent's status from the pool; `poolStatus` adds the global cap. */
  async agentStatuses(): Promise<AgentStatus[]> {
    return this.poolCall(() => pool.getAgentStatuses(this.temporal, this.poolTarget()));
  }

  /**
   * Every agent's status from the pool, or — when no orchestration worker answers (scaled to zero) —
   * from the record in Postgres; `source` says which (client/agent-overview.ts).
   */
  async agentOverview(options: { queryTimeoutMs?: number } = {}): Promise<AgentOverview> {
    return translate(() => agentOverview(this.temporal, this.store, this.config, options));
  }

  /** Acknowledge a drained agent: its failure count resets and it takes tasks again. */
  async acknowledgeAgent(agent: string, by?: string): Promise<AgentStatus> {
    return this.poolCall(() =>
      pool.acknowledgeAgent(this.temporal, { agent, ...(by ? { by } : {}) }, this.poolTarget()),
    );
  }

  async setAgentLimit(agent: string, limit: number): Promise<AgentStatus> {
    return this.poolCall(() => pool.setAgentLimit(this.temporal, { agent, limit }, this.poolTarget()));
  }

  async pauseAgent(agent: string, options: { until?: string; reason?: string } = {}): Promise<AgentStatus> {
    return this.poolCall(() => pool.pauseAgent(this.temporal, { agent, ...options }, this.poolTarget()));
  }

  async resumeAgent(agent: string): Promise<AgentStatus> {
    return this.poolCall(() => pool.resumeAgent(this.temporal, { agent }, this.poolTarget()));
  }

  /** The pool as a whole: its global cap (CLAUDOMATOR_MAX_CONCURRENT, or as changed since), slots held, requests waiting, every agent. */
  async poolStatus(): Promise<PoolStatus> {
    return this.poolCall(() => pool.getPoolStatus(this.temporal, this.poolTarget()));
  }

  /** Change the global cap on slots held at once across all agents (0 stops new grants; null removes the cap). */
  async setMaxConcurrent(maxConcurrent: number | null): Promise<PoolStatus> {
    return this.poolCall(
      () => pool.setMaxConcurrent(this.temporal, { maxConcurrent }, this.poolTarget()),
      'maxConcurrent',
    );
  }

  // ---- Links and health -----------------------------------------------------------------------

  /** The Web UI page of a workflow. */
  workflowUrl(workflowId: string): string {
    return `${this.config.uiUrl}/namespaces/${encodeURIComponent(this.config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
  }

  storyUrl(storyId: string): string {
    return this.workflowUrl(storyWorkflowId(storyId));
  }

  taskUrl(taskId: string): string {
    return this.workflowUrl(taskWorkflowId(taskId));
  }

  /** Prove that a worker polls the orchestration queue and reaches its database. */
  async health(timeoutMs = 10_000): Promise<HealthReport> {
    try {
      return await this.temporal.workflow.execute<typeof healthCheckWorkflow>('healthCheckWorkflow', {
        taskQueue: this.config.taskQueue,
        workflowId: `health-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
        args: ['ping'],
        workflowExecutionTimeout: timeoutMs,
      });
    } catch (err) {
      if (!(err instanceof WorkflowFailedError)) throw temporalUnavailable(this.config, err);
      throw new UnavailableError(
        'worker',
        `No worker answered on task queue "${this.config.taskQueue}" within ${timeoutMs} ms (${errorMessage(err)}).`,
        'Start one with `claudomator worker` (or the whole local stack with `claudomator up`).',
        { cause: err },
      );
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.temporal.connection.close(), this.store.close()]);
  }

  private poolTarget(): pool.PoolTarget {
    return pool.poolTarget(this.config);
  }

  private async poolCall<T>(fn: () => Promise<T>, field = 'agent'): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof pool.AgentPoolRejectedError) {
        throw new ValidationError(
          err.message,
          [{ path: field, message: err.message }],
          'See the agents with `claudomator agents`.',
        );
      }
      if (err instanceof WorkflowNotFoundError) {
        throw new UnavailableError(
          'worker',
          `The agent pool (${this.config.poolWorkflowId}) is not running.`,
          'Start a worker (`claudomator worker` or `claudomator up`): it starts the pool.',
          { cause: err },
        );
      }
      throw toClientError(err);
    }
  }

  private async requireProject(id: string, why?: string): Promise<Project> {
    const project = await this.store.getProject(id).catch((err: unknown) => {
      const translated = toClientError(err);
      if (translated instanceof NotFoundError) {
        throw new NotFoundError(
          'project',
          id,
          `Add it with \`claudomator project add ${id} --repo <url|path>\`, or see \`claudomator project list\`.`,
          `No project "${id}".${why ? ` ${why}` : ''}`,
        );
      }
      throw translated;
    });
    return project;
  }
}

async function translate<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    throw toClientError(err);
  }
}
