/** The `executions` table: one row per agent run of a task. */
import type { ChangeStats, Execution } from '../workflows/types.js';
import type { Db } from './db.js';
import { NotFoundError } from './errors.js';
import { toExecution, type ExecutionRow } from './rows.js';

/** The fields of an execution that change as it runs; absent fields are left as stored. */
export type ExecutionPatch = Partial<Omit<Execution, 'id' | 'taskId' | 'startTime' | 'changeStats'>>;

/** The column and SQL type of each patchable field. */
const PATCH_COLUMNS: Record<keyof ExecutionPatch, [string, string]> = {
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

/** Record the start of an agent run; the same execution id twice is stored once (the first write wins). */
export async function createExecution(db: Db, execution: Execution): Promise<Execution> {
  await db.query(
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
  return getExecution(db, execution.id);
}

/** Set the given fields of an execution (status, end time, session, summary, cost, error …). */
export async function updateExecution(db: Db, id: string, patch: ExecutionPatch): Promise<Execution> {
  const sets: string[] = [];
  const values: unknown[] = [id];
  for (const [key, [column, type]] of Object.entries(PATCH_COLUMNS) as Array<
    [keyof ExecutionPatch, [string, string]]
  >) {
    if (patch[key] === undefined) continue;
    values.push(patch[key]);
    sets.push(`${column} = $${values.length}::${type}`);
  }
  if (sets.length > 0) {
    const { rowCount } = await db.query(`update executions set ${sets.join(', ')} where id = $1::text`, values);
    if (rowCount === 0) throw new NotFoundError('execution', id);
  }
  return getExecution(db, id);
}

export async function updateExecutionChangestats(db: Db, id: string, stats: ChangeStats): Promise<void> {
  const { rowCount } = await db.query(
    'update executions set files_changed = $2::int, insertions = $3::int, deletions = $4::int where id = $1::text',
    [id, stats.filesChanged, stats.insertions, stats.deletions],
  );
  if (rowCount === 0) throw new NotFoundError('execution', id);
}

export async function getExecution(db: Db, id: string): Promise<Execution> {
  const { rows } = await db.query<ExecutionRow>('select * from executions where id = $1::text', [id]);
  if (!rows[0]) throw new NotFoundError('execution', id);
  return toExecution(rows[0]);
}

/** A task's executions, oldest first. */
export async function listExecutions(db: Db, taskId: string): Promise<Execution[]> {
  const { rows } = await db.query<ExecutionRow>(
    'select * from executions where task_id = $1::text order by start_time, id',
    [taskId],
  );
  return rows.map(toExecution);
}
