/** The `rejected_signals` table: signals a task workflow or the agent pool refused, with the reason. */
import type { RejectedSignal } from '../workflows/types.js';
import type { Db } from './db.js';

interface RejectedSignalRow {
  id: string;
  workflow_id: string;
  task_id: string | null;
  signal: string;
  input: unknown;
  reason: string;
  at: Date;
}

/** Record a refused signal; the same id twice is stored once. */
export async function recordRejectedSignal(db: Db, rejected: RejectedSignal): Promise<void> {
  await db.query(
    `insert into rejected_signals (id, workflow_id, task_id, signal, input, reason, at)
     values ($1::text, $2::text, $3::text, $4::text, $5::jsonb, $6::text, $7::timestamptz)
     on conflict (id) do nothing`,
    [
      rejected.id,
      rejected.workflowId,
      rejected.taskId ?? null,
      rejected.signal,
      JSON.stringify(rejected.input ?? null),
      rejected.reason,
      rejected.at,
    ],
  );
}

/** Oldest first; by workflow id (the pool's, or a task's `task-<id>`) and/or task id. */
export async function listRejectedSignals(
  db: Db,
  filter: { workflowId?: string; taskId?: string; limit?: number } = {},
): Promise<RejectedSignal[]> {
  const { rows } = await db.query<RejectedSignalRow>(
    `select * from rejected_signals
     where ($1::text is null or workflow_id = $1::text) and ($2::text is null or task_id = $2::text)
     order by at, id limit $3::int`,
    [filter.workflowId ?? null, filter.taskId ?? null, filter.limit ?? 100],
  );
  return rows.map((row) => ({
    id: row.id,
    workflowId: row.workflow_id,
    ...(row.task_id ? { taskId: row.task_id } : {}),
    signal: row.signal,
    input: row.input,
    reason: row.reason,
    at: row.at.toISOString(),
  }));
}
