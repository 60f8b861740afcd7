/**
 * The `tasks` table with its `task_dependencies` edges and its `task_interactions` (the question and
 * answer history). State changes are checked against TASK_TRANSITIONS (`workflows/states.ts`).
 */
import pg from 'pg';
import { taskStatesLeadingTo } from '../workflows/states.js';
import type {
  AgentConfig,
  Question,
  QuestionPolicy,
  QuestionTimers,
  Task,
  TaskFilter,
  TaskInteraction,
  TaskKind,
  TaskState,
} from '../workflows/types.js';
import type { Db } from './db.js';
import { ConflictError, IllegalTransitionError, NotFoundError } from './errors.js';
import { toTask, toTaskInteraction, type TaskInteractionRow, type TaskRow } from './rows.js';

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
  /** Replaces the project's question policy. */
  questionPolicy?: QuestionPolicy;
  idempotencyKey?: string;
}

const TASK_SELECT = `
  select t.*, array(select d.depends_on from task_dependencies d where d.task_id = t.id order by d.depends_on) as depends_on
  from tasks t`;

/**
 * Create a task with its dependency edges, PENDING. Idempotent: the same task (by id, or by
 * idempotency key) again returns the stored one with `created: false`; a different task under an
 * existing id is a `ConflictError`. An unknown dependency, parent, story or project is a `NotFoundError`.
 * `tx` must hold a transaction: the task and its edges are written together or not at all.
 */
export async function createTask(tx: Db, task: NewTask): Promise<{ task: Task; created: boolean }> {
  const { rows } = await tx
    .query<{ id: string }>(
      `insert into tasks (id, name, instructions, agent, timeout_ms, parent_task_id, story_id, project_id,
                          repository_url, branch, idempotency_key, kind, question_policy)
       values ($1::text, $2::text, $3::text, $4::jsonb, $5::bigint, $6::text, $7::text, $8::text, $9::text, $10::text,
               $11::text, $12::text, $13::jsonb)
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
        task.questionPolicy ? JSON.stringify(task.questionPolicy) : null,
      ],
    )
    .catch((err: unknown) => rethrowForeignKey(err, task));
  if (rows[0]) {
    const dependsOn = [...new Set(task.dependsOn ?? [])];
    if (dependsOn.length > 0) {
      await tx
        .query(
          `insert into task_dependencies (task_id, depends_on)
           select $1::text, unnest($2::text[]) on conflict do nothing`,
          [task.id, dependsOn],
        )
        .catch((err: unknown) => rethrowForeignKey(err, task));
    }
    return { task: await getTask(tx, task.id), created: true };
  }
  const existing = await findTaskByIdOrKey(tx, task.id, task.idempotencyKey);
  if (!existing) throw new ConflictError(`Task "${task.id}" could not be created`);
  if (task.idempotencyKey !== undefined && existing.idempotencyKey === task.idempotencyKey) {
    return { task: existing.task, created: false };
  }
  const sameDeps = [...new Set(task.dependsOn ?? [])].sort().join(',') === existing.task.dependsOn.join(',');
  if (existing.task.name !== task.name || existing.task.instructions !== task.instructions || !sameDeps) {
    throw new ConflictError(`A different task with id "${task.id}" already exists; choose another id`);
  }
  return { task: existing.task, created: false };
}

export async function getTask(db: Db, id: string): Promise<Task> {
  const task = await findTask(db, id);
  if (!task) throw new NotFoundError('task', id);
  return task;
}

/** The task, or undefined when there is none (for callers that expect absence). */
export async function findTask(db: Db, id: string): Promise<Task | undefined> {
  const { rows } = await db.query<TaskRow>(`${TASK_SELECT} where t.id = $1::text`, [id]);
  return rows[0] ? toTask(rows[0]) : undefined;
}

export async function findTaskByIdempotencyKey(db: Db, key: string): Promise<Task | undefined> {
  const { rows } = await db.query<TaskRow>(`${TASK_SELECT} where t.idempotency_key = $1::text`, [key]);
  return rows[0] ? toTask(rows[0]) : undefined;
}

/** Tasks matching every given filter field, oldest first (default limit 1000). */
export async function listTasks(db: Db, filter: TaskFilter = {}): Promise<Task[]> {
  const states = filter.state === undefined ? null : Array.isArray(filter.state) ? filter.state : [filter.state];
  const { rows } = await db.query<TaskRow>(
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

/** Tasks that depend on `taskId` (who must be told when it finishes). */
export async function listDependents(db: Db, taskId: string): Promise<Task[]> {
  const { rows } = await db.query<TaskRow>(
    `${TASK_SELECT} where t.id in (select task_id from task_dependencies where depends_on = $1::text)
     order by t.created_at, t.id`,
    [taskId],
  );
  return rows.map(toTask);
}

/** Every dependency edge among the given tasks and everything they reach (for cycle checks). */
export async function listDependencyClosure(
  db: Db,
  taskIds: string[],
): Promise<Array<{ taskId: string; dependsOn: string }>> {
  const { rows } = await db.query<{ task_id: string; depends_on: string }>(
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
export async function updateTaskState(
  db: Db,
  id: string,
  state: TaskState,
  options: { error?: string | null } = {},
): Promise<{ from: TaskState }> {
  const { rows } = await db.query<{ from_state: TaskState }>(
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
  const current = await getTask(db, id);
  throw new IllegalTransitionError('task', id, current.state, state);
}

/** Store (or with null, clear) the task's open question; clearing it clears its timers too. */
export async function updateTaskQuestion(db: Db, id: string, question: Question | null): Promise<void> {
  await updateTaskColumn(
    db,
    id,
    'question = $2::jsonb, question_timers = case when $2::jsonb is null then null else question_timers end',
    question === null ? null : JSON.stringify(question),
  );
}

/** Store the open question's timers (deadline, next reminder, escalation) as the workflow computed them. */
export async function updateTaskQuestionTimers(db: Db, id: string, timers: QuestionTimers): Promise<void> {
  await updateTaskColumn(db, id, 'question_timers = $2::jsonb', JSON.stringify(timers));
}

export async function updateTaskSummary(db: Db, id: string, summary: string): Promise<void> {
  await updateTaskColumn(db, id, 'summary = $2::text', summary);
}

/** Record the agent (and model) the task actually got from the pool and the classifier. */
export async function updateTaskAgent(db: Db, id: string, agent: AgentConfig): Promise<void> {
  await updateTaskColumn(db, id, 'agent = $2::jsonb', JSON.stringify(agent));
}

/** Append to the question/answer history; the same interaction id twice is stored once. */
export async function appendTaskInteraction(db: Db, interaction: TaskInteraction): Promise<void> {
  await db.query(
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

export async function listTaskInteractions(db: Db, taskId: string): Promise<TaskInteraction[]> {
  const { rows } = await db.query<TaskInteractionRow>(
    'select * from task_interactions where task_id = $1::text order by at, id',
    [taskId],
  );
  return rows.map(toTaskInteraction);
}

async function updateTaskColumn(db: Db, id: string, assignment: string, value: unknown): Promise<void> {
  const { rowCount } = await db.query(`update tasks set ${assignment}, updated_at = now() where id = $1::text`, [
    id,
    value,
  ]);
  if (rowCount === 0) throw new NotFoundError('task', id);
}

/** The task stored under `idempotencyKey` (preferred) or `id`, with its key. */
async function findTaskByIdOrKey(
  db: Db,
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
