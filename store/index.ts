/**
 * The one module that owns claudomator's SQL.
 *
 * Activities write through it (every write is idempotent: the same call twice leaves the same rows,
 * because activities are retried), and the SDK reads through it. Each method is one statement or
 * one small transaction (callers group several into one with `transaction`); state changes are checked against the transition tables in
 * `workflows/states.ts`, and an illegal one is an `IllegalTransitionError` naming both states.
 */
import pg from 'pg';
import { storyStatesLeadingTo, taskStatesLeadingTo } from '../workflows/states.js';
import type {
  AgentConfig,
  AgentEvent,
  ChangeStats,
  Execution,
  Project,
  Question,
  Story,
  StoryState,
  Task,
  TaskFilter,
  TaskInteraction,
  TaskKind,
  TaskState,
  ValidationConfig,
} from '../workflows/types.js';
import { ConflictError, DatabaseUnreachableError, IllegalTransitionError, NotFoundError } from './errors.js';
import {
  toAgentEvent,
  toExecution,
  toProject,
  toStory,
  toTask,
  toTaskInteraction,
  type AgentEventRow,
  type ExecutionRow,
  type ProjectRow,
  type StoryRow,
  type TaskInteractionRow,
  type TaskRow,
} from './rows.js';

export * from './errors.js';

/** How long to wait for a connection before calling the database unreachable. */
const CONNECT_TIMEOUT_MS = 5_000;

/** A task as created: the spec fields, an optional idempotency key, and PENDING unless said otherwise. */
export interface NewTask {
  id: string;
  /** Default `task`. */
  kind?: TaskKind;
  name: string;
  instructions: string;
  agent: AgentConfig;
  timeoutMs?: number;
  dependsOn?: string[];
  parentTaskId?: string;
  storyId?: string;
  projectId?: string;
  repositoryUrl?: string;
  branch?: string;
  idempotencyKey?: string;
}

export interface NewProject {
  id: string;
  remoteUrl: string;
  defaultBranch: string;
  deployCommand?: string;
  validation?: ValidationConfig;
}

export interface NewStory {
  id: string;
  projectId: string;
  name: string;
  branch: string;
  maxFixAttempts: number;
}

/** The fields of an execution that change as it runs; absent fields are left as stored. */
export type ExecutionPatch = Partial<Omit<Execution, 'id' | 'taskId' | 'startTime' | 'changeStats'>>;

const TASK_SELECT = `
  select t.*, array(select d.depends_on from task_dependencies d where d.task_id = t.id order by d.depends_on) as depends_on
  from tasks t`;

/** Where the connection string points, without credentials, for error messages. */
export function describeTarget(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    return `${url.hostname}:${url.port || '5432'}${url.pathname}`;
  } catch {
    return 'the configured DATABASE_URL';
  }
}

export class Store {
  /**
   * `db` is where statements go: the pool, or inside `transaction` the one connection holding the
   * transaction, so every method of a transaction's store takes part in it.
   */
  constructor(
    readonly pool: pg.Pool,
    private readonly db: pg.Pool | pg.PoolClient = pool,
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

  // ---- Projects -------------------------------------------------------------------------------

  /** Create or update a project (adding the same project twice is a no-op). */
  async upsertProject(project: NewProject): Promise<Project> {
    const { rows } = await this.db.query<ProjectRow>(
      `insert into projects (id, remote_url, default_branch, deploy_command, validation)
       values ($1::text, $2::text, $3::text, $4::text, $5::jsonb)
       on conflict (id) do update set
         remote_url = excluded.remote_url, default_branch = excluded.default_branch,
         deploy_command = excluded.deploy_command, validation = excluded.validation,
         updated_at = case
           when (projects.remote_url, projects.default_branch, projects.deploy_command, projects.validation)
                is not distinct from (excluded.remote_url, excluded.default_branch, excluded.deploy_command, excluded.validation)
           then projects.updated_at else now() end
       returning *`,
      [
        project.id,
        project.remoteUrl,
        project.defaultBranch,
        project.deployCommand ?? null,
        project.validation ? JSON.stringify(project.validation) : null,
      ],
    );
    return toProject(rows[0]!);
  }

  async getProject(id: string): Promise<Project> {
    const { rows } = await this.db.query<ProjectRow>('select * from projects where id = $1::text', [id]);
    if (!rows[0]) throw new NotFoundError('project', id);
    return toProject(rows[0]);
  }

  async listProjects(): Promise<Project[]> {
    const { rows } = await this.db.query<ProjectRow>('select * from projects order by id');
    return rows.map(toProject);
  }

  // ---- Stories --------------------------------------------------------------------------------

  /** Create a story; creating the same story again returns it, a different one under the same id is a conflict. */
  async createStory(story: NewStory): Promise<{ story: Story; created: boolean }> {
    const { rows } = await this.db.query<StoryRow>(
      `insert into stories (id, project_id, name, branch, max_fix_attempts)
       values ($1::text, $2::text, $3::text, $4::text, $5::int)
       on conflict (id) do nothing returning *`,
      [story.id, story.projectId, story.name, story.branch, story.maxFixAttempts],
    );
    if (rows[0]) return { story: toStory(rows[0]), created: true };
    const existing = await this.getStory(story.id);
    if (existing.projectId !== story.projectId || existing.branch !== story.branch) {
      throw new ConflictError(
        `Story "${story.id}" already exists for project ${existing.projectId} on branch ${existing.branch}`,
      );
    }
    return { story: existing, created: false };
  }

  async getStory(id: string): Promise<Story> {
    const { rows } = await this.db.query<StoryRow>('select * from stories where id = $1::text', [id]);
    if (!rows[0]) throw new NotFoundError('story', id);
    return toStory(rows[0]);
  }

  async listStories(filter: { projectId?: string; status?: StoryState } = {}): Promise<Story[]> {
    const { rows } = await this.db.query<StoryRow>(
      `select * from stories
       where ($1::text is null or project_id = $1::text) and ($2::text is null or status = $2::text)
       order by created_at, id`,
      [filter.projectId ?? null, filter.status ?? null],
    );
    return rows.map(toStory);
  }

  /** Move a story to `status` (checked against STORY_TRANSITIONS); `detail` replaces the one-line status detail when given. */
  async updateStoryStatus(id: string, status: StoryState, detail?: string | null): Promise<Story> {
    const { rows } = await this.db.query<StoryRow>(
      `update stories set status = $2::text,
         detail = case when $3::boolean then $4::text else detail end,
         updated_at = case when status = $2::text and detail is not distinct from
           (case when $3::boolean then $4::text else detail end) then updated_at else now() end
       where id = $1::text and status = any($5::text[])
       returning *`,
      [id, status, detail !== undefined, detail ?? null, storyStatesLeadingTo(status)],
    );
    if (rows[0]) return toStory(rows[0]);
    const current = await this.getStory(id);
    throw new IllegalTransitionError('story', id, current.status, status);
  }

  // ---- Tasks ----------------------------------------------------------------------------------

  /**
   * Create a task with its dependency edges, PENDING. Idempotent: the same task (by id, or by
   * idempotency key) again returns the stored one with `created: false`; a different task under an
   * existing id is a `ConflictError`. An unknown dependency, parent, story or project is a `NotFoundError`.
   */
  async createTask(task: NewTask): Promise<{ task: Task; created: boolean }> {
    return this.transaction(async (tx) => {
      const client = tx.db;
      const { rows } = await client
        .query<{ id: string }>(
          `insert into tasks (id, name, instructions, agent, timeout_ms, parent_task_id, story_id, project_id,
                            repository_url, branch, idempotency_key, kind)
         values ($1::text, $2::text, $3::text, $4::jsonb, $5::bigint, $6::text, $7::text, $8::text, $9::text, $10::text,
                 $11::text, $12::text)
         on conflict do nothing returning id`,
          [
            task.id,
            task.name,
            task.instructions,
            JSON.stringify(task.agent),
            task.timeoutMs ?? null,
            task.parentTaskId ?? null,
            task.storyId ?? null,
            task.projectId ?? null,
            task.repositoryUrl ?? null,
            task.branch ?? null,
            task.idempotencyKey ?? null,
            task.kind ?? 'task',
          ],
        )
        .catch((err: unknown) => rethrowForeignKey(err, task));
      if (rows[0]) {
        const dependsOn = [...new Set(task.dependsOn ?? [])];
        if (dependsOn.length > 0) {
          await client
            .query(
              `insert into task_dependencies (task_id, depends_on)
               select $1::text, unnest($2::text[]) on conflict do nothing`,
              [task.id, dependsOn],
            )
            .catch((err: unknown) => rethrowForeignKey(err, task));
        }
        return { task: await this.getTaskWith(client, task.id), created: true };
      }
      const existing = await this.findTaskWith(client, task.id, task.idempotencyKey);
      if (!existing) throw new ConflictError(`Task "${task.id}" could not be created`);
      if (task.idempotencyKey !== undefined && existing.idempotencyKey === task.idempotencyKey) {
        return { task: existing.task, created: false };
      }
      const sameDeps = [...new Set(task.dependsOn ?? [])].sort().join(',') === existing.task.dependsOn.join(',');
      if (existing.task.name !== task.name || existing.task.instructions !== task.instructions || !sameDeps) {
        throw new ConflictError(`A different task with id "${task.id}" already exists; choose another id`);
      }
      return { task: existing.task, created: false };
    });
  }

  async getTask(id: string): Promise<Task> {
    return this.getTaskWith(this.db, id);
  }

  /** The task, or undefined when there is none (for callers that expect absence). */
  async findTask(id: string): Promise<Task | undefined> {
    const { rows } = await this.db.query<TaskRow>(`${TASK_SELECT} where t.id = $1::text`, [id]);
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  async findTaskByIdempotencyKey(key: string): Promise<Task | undefined> {
    const { rows } = await this.db.query<TaskRow>(`${TASK_SELECT} where t.idempotency_key = $1::text`, [key]);
    return rows[0] ? toTask(rows[0]) : undefined;
  }

  /** Tasks matching every given filter field, oldest first (default limit 1000). */
  async listTasks(filter: TaskFilter = {}): Promise<Task[]> {
    const states = filter.state === undefined ? null : Array.isArray(filter.state) ? filter.state : [filter.state];
    const { rows } = await this.db.query<TaskRow>(
      `${TASK_SELECT}
       where ($1::text[] is null or t.state = any($1::text[]))
         and ($2::text is null or t.story_id = $2::text)
         and ($3::text is null or t.project_id = $3::text)
         and ($4::text is null or t.parent_task_id = $4::text)
       order by t.created_at, t.id
       limit $5::int`,
      [states, filter.storyId ?? null, filter.projectId ?? null, filter.parentTaskId ?? null, filter.limit ?? 1000],
    );
    return rows.map(toTask);
  }

  async listSubtasks(parentId: string): Promise<Task[]> {
    return this.listTasks({ parentTaskId: parentId });
  }

  async listTasksByStory(storyId: string): Promise<Task[]> {
    return this.listTasks({ storyId });
  }

  /** Tasks that depend on `taskId` (who must be told when it finishes). */
  async listDependents(taskId: string): Promise<Task[]> {
    const { rows } = await this.db.query<TaskRow>(
      `${TASK_SELECT} where t.id in (select task_id from task_dependencies where depends_on = $1::text)
       order by t.created_at, t.id`,
      [taskId],
    );
    return rows.map(toTask);
  }

  /** Every dependency edge among the given tasks and everything they reach (for cycle checks). */
  async listDependencyClosure(taskIds: string[]): Promise<Array<{ taskId: string; dependsOn: string }>> {
    const { rows } = await this.db.query<{ task_id: string; depends_on: string }>(
      `with recursive reach(id) as (
         select unnest($1::text[])
         union
         select d.depends_on from task_dependencies d join reach r on d.task_id = r.id
       )
       select d.task_id, d.depends_on from task_dependencies d join reach r on d.task_id = r.id
       order by d.task_id, d.depends_on`,
      [taskIds],
    );
    return rows.map((r) => ({ taskId: r.task_id, dependsOn: r.depends_on }));
  }

  /**
   * Move a task to `state`, checked against TASK_TRANSITIONS. Writing the current state again is a
   * no-op. `error` (when given) replaces the task's last error; null clears it. Returns the state it
   * came from.
   */
  async updateTaskState(
    id: string,
    state: TaskState,
    options: { error?: string | null } = {},
  ): Promise<{ from: TaskState }> {
    const { rows } = await this.db.query<{ from_state: TaskState }>(
      `with prev as (select id, state from tasks where id = $1::text for update)
       update tasks t set state = $2::text,
         error = case when $3::boolean then $4::text else t.error end,
         updated_at = case when prev.state = $2::text then t.updated_at else now() end
       from prev
       where t.id = prev.id and prev.state = any($5::text[])
       returning prev.state as from_state`,
      [id, state, options.error !== undefined, options.error ?? null, taskStatesLeadingTo(state)],
    );
    if (rows[0]) return { from: rows[0].from_state };
    const current = await this.getTask(id);
    throw new IllegalTransitionError('task', id, current.state, state);
  }

  /** Store (or with null, clear) the task's open question. */
  async updateTaskQuestion(id: string, question: Question | null): Promise<void> {
    await this.updateTaskColumn(id, 'question = $2::jsonb', question === null ? null : JSON.stringify(question));
  }

  async updateTaskSummary(id: string, summary: string): Promise<void> {
    await this.updateTaskColumn(id, 'summary = $2::text', summary);
  }

  /** Record the agent (and model) the task actually got from the pool and the classifier. */
  async updateTaskAgent(id: string, agent: AgentConfig): Promise<void> {
    await this.updateTaskColumn(id, 'agent = $2::jsonb', JSON.stringify(agent));
  }

  /** Append to the question/answer history; the same interaction id twice is stored once. */
  async appendTaskInteraction(interaction: TaskInteraction): Promise<void> {
    await this.db.query(
      `insert into task_interactions (id, task_id, kind, text, options, execution_id, at)
       values ($1::text, $2::text, $3::text, $4::text, $5::jsonb, $6::text, $7::timestamptz)
       on conflict (id) do nothing`,
      [
        interaction.id,
        interaction.taskId,
        interaction.kind,
        interaction.text,
        interaction.options ? JSON.stringify(interaction.options) : null,
        interaction.executionId ?? null,
        interaction.at,
      ],
    );
  }

  async listTaskInteractions(taskId: string): Promise<TaskInteraction[]> {
    const { rows } = await this.db.query<TaskInteractionRow>(
      'select * from task_interactions where task_id = $1::text order by at, id',
      [taskId],
    );
    return rows.map(toTaskInteraction);
  }

  // ---- Executions -----------------------------------------------------------------------------

  /** Record the start of an agent run; the same execution id twice is stored once (the first write wins). */
  async createExecution(execution: Execution): Promise<Execution> {
    await this.db.query(
      `insert into executions (id, task_id, status, agent, model, start_time, stdout_path, stderr_path,
                               artifact_dir, sandbox_dir, session_id, resume_answer, model_reason)
       values ($1::text, $2::text, $3::text, $4::text, $5::text, $6::timestamptz, $7::text, $8::text,
               $9::text, $10::text, $11::text, $12::text, $13::text)
       on conflict (id) do nothing`,
      [
        execution.id,
        execution.taskId,
        execution.status,
        execution.agent ?? null,
        execution.model ?? null,
        execution.startTime,
        execution.stdoutPath ?? null,
        execution.stderrPath ?? null,
        execution.artifactDir ?? null,
        execution.sandboxDir ?? null,
        execution.sessionId ?? null,
        execution.resumeAnswer ?? null,
        execution.modelReason ?? null,
      ],
    );
    return this.getExecution(execution.id);
  }

  /** Set the given fields of an execution (status, end time, session, summary, cost, error …). */
  async updateExecution(id: string, patch: ExecutionPatch): Promise<Execution> {
    const columns: Record<keyof ExecutionPatch, [string, string]> = {
      status: ['status', 'text'],
      agent: ['agent', 'text'],
      model: ['model', 'text'],
      modelReason: ['model_reason', 'text'],
      endTime: ['end_time', 'timestamptz'],
      stdoutPath: ['stdout_path', 'text'],
      stderrPath: ['stderr_path', 'text'],
      artifactDir: ['artifact_dir', 'text'],
      sandboxDir: ['sandbox_dir', 'text'],
      hostQueue: ['host_queue', 'text'],
      sessionId: ['session_id', 'text'],
      resumeAnswer: ['resume_answer', 'text'],
      error: ['error', 'text'],
      costUsd: ['cost_usd', 'double precision'],
      summary: ['summary', 'text'],
    };
    const sets: string[] = [];
    const values: unknown[] = [id];
    for (const [key, [column, type]] of Object.entries(columns) as Array<[keyof ExecutionPatch, [string, string]]>) {
      if (patch[key] === undefined) continue;
      values.push(patch[key]);
      sets.push(`${column} = $${values.length}::${type}`);
    }
    if (sets.length > 0) {
      const { rowCount } = await this.db.query(`update executions set ${sets.join(', ')} where id = $1::text`, values);
      if (rowCount === 0) throw new NotFoundError('execution', id);
    }
    return this.getExecution(id);
  }

  async updateExecutionChangestats(id: string, stats: ChangeStats): Promise<void> {
    const { rowCount } = await this.db.query(
      'update executions set files_changed = $2::int, insertions = $3::int, deletions = $4::int where id = $1::text',
      [id, stats.filesChanged, stats.insertions, stats.deletions],
    );
    if (rowCount === 0) throw new NotFoundError('execution', id);
  }

  async getExecution(id: string): Promise<Execution> {
    const { rows } = await this.db.query<ExecutionRow>('select * from executions where id = $1::text', [id]);
    if (!rows[0]) throw new NotFoundError('execution', id);
    return toExecution(rows[0]);
  }

  /** A task's executions, oldest first. */
  async listExecutions(taskId: string): Promise<Execution[]> {
    const { rows } = await this.db.query<ExecutionRow>(
      'select * from executions where task_id = $1::text order by start_time, id',
      [taskId],
    );
    return rows.map(toExecution);
  }

  // ---- Agent events ---------------------------------------------------------------------------

  /** Record an agent event; the same event id twice is stored once. */
  async recordAgentEvent(event: AgentEvent): Promise<void> {
    await this.db.query(
      `insert into agent_events (id, agent, event, at, until, reason)
       values ($1::text, $2::text, $3::text, $4::timestamptz, $5::timestamptz, $6::text)
       on conflict (id) do nothing`,
      [event.id, event.agent, event.event, event.at, event.until ?? null, event.reason ?? null],
    );
  }

  /** Newest first. */
  async listAgentEvents(filter: { agent?: string; limit?: number } = {}): Promise<AgentEvent[]> {
    const { rows } = await this.db.query<AgentEventRow>(
      `select * from agent_events where ($1::text is null or agent = $1::text)
       order by at desc, id desc limit $2::int`,
      [filter.agent ?? null, filter.limit ?? 100],
    );
    return rows.map(toAgentEvent);
  }

  // ---- Helpers --------------------------------------------------------------------------------

  private async updateTaskColumn(id: string, assignment: string, value: unknown): Promise<void> {
    const { rowCount } = await this.db.query(`update tasks set ${assignment}, updated_at = now() where id = $1::text`, [
      id,
      value,
    ]);
    if (rowCount === 0) throw new NotFoundError('task', id);
  }

  private async getTaskWith(db: pg.Pool | pg.PoolClient, id: string): Promise<Task> {
    const { rows } = await db.query<TaskRow>(`${TASK_SELECT} where t.id = $1::text`, [id]);
    if (!rows[0]) throw new NotFoundError('task', id);
    return toTask(rows[0]);
  }

  private async findTaskWith(
    db: pg.Pool | pg.PoolClient,
    id: string,
    idempotencyKey: string | undefined,
  ): Promise<{ task: Task; idempotencyKey: string | null } | undefined> {
    const { rows } = await db.query<TaskRow>(
      `${TASK_SELECT} where ($2::text is not null and t.idempotency_key = $2::text) or t.id = $1::text
       order by (t.idempotency_key is not distinct from $2::text) desc limit 1`,
      [id, idempotencyKey ?? null],
    );
    return rows[0] ? { task: toTask(rows[0]), idempotencyKey: rows[0].idempotency_key } : undefined;
  }
}

/** Turn a foreign-key violation into a NotFoundError naming what is missing. */
function rethrowForeignKey(err: unknown, task: NewTask): never {
  if (err instanceof pg.DatabaseError && err.code === '23503') {
    const constraint = err.constraint ?? '';
    if (constraint.includes('depends_on')) {
      const known = /\(depends_on\)=\(([^)]*)\)/.exec(err.detail ?? '')?.[1];
      throw new NotFoundError('task', known ?? (task.dependsOn ?? []).join(', '));
    }
    if (constraint.includes('parent')) throw new NotFoundError('task', task.parentTaskId ?? '');
    if (constraint.includes('story')) throw new NotFoundError('story', task.storyId ?? '');
    if (constraint.includes('project')) throw new NotFoundError('project', task.projectId ?? '');
  }
  throw err;
}
