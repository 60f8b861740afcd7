/**
 * Every state change the bookkeeping activities write is one transaction: when a later statement of
 * an activity fails, the earlier ones are rolled back, and the activity's retry writes the whole
 * change once. The failure is injected in Postgres itself, by a trigger on the statement that should
 * fail, so the real statements run against the real database.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { createRecordActivities } from '../../activities/record.js';
import type { Store } from '../../store/index.js';
import type { Execution } from '../../workflows/types.js';
import { useTestDatabase } from '../helpers/fixtures.js';

const db = useTestDatabase();
const store = (): Store => db.current.store;
const record = () => createRecordActivities({ store: store() });
let seq = 0;

/** Make the statements that match `when` (a trigger condition on OLD/NEW) fail with "injected failure". */
async function failWhen(table: string, operation: 'insert' | 'update', when: string): Promise<void> {
  await store().pool.query(`
    create or replace function injected_failure() returns trigger language plpgsql as
    $$ begin raise exception 'injected failure on %', tg_table_name; end $$`);
  await store().pool.query(
    `create trigger injected_failure before ${operation} on ${table} for each row when (${when}) execute function injected_failure()`,
  );
  injected.push(table);
}
const injected: string[] = [];
const healed = async (): Promise<void> => {
  for (const table of injected.splice(0)) await store().pool.query(`drop trigger injected_failure on ${table}`);
};
afterEach(healed);

async function queuedTask(): Promise<string> {
  const id = `tx-task-${++seq}`;
  await store().createTask({ id, name: 'Task', instructions: 'Do it', agent: { type: 'claude' } });
  await record().recordTaskState({ taskId: id, state: 'QUEUED' });
  return id;
}

function execution(taskId: string): Execution {
  return {
    id: `${taskId}-run-1`,
    taskId,
    status: 'RUNNING',
    agent: 'claude',
    startTime: new Date().toISOString(),
  };
}

async function runningTask(): Promise<{ taskId: string; executionId: string }> {
  const taskId = await queuedTask();
  const run = execution(taskId);
  await record().recordExecutionStart({ execution: run, agent: { type: 'claude', model: 'sonnet' } });
  return { taskId, executionId: run.id };
}

async function blockedTask(): Promise<{ taskId: string; executionId: string }> {
  const running = await runningTask();
  await record().recordOutcome({
    ...running,
    status: 'QUESTION',
    taskState: 'BLOCKED',
    result: { sessionId: 'session-1', question: { text: 'Which database?' } },
  });
  return running;
}

describe('bookkeeping activities write each state change in one transaction', () => {
  it('recordExecutionStart: the execution insert fails → the task keeps its agent and state, no execution row', async () => {
    const taskId = await queuedTask();
    const run = execution(taskId);
    await failWhen('executions', 'insert', 'true');

    await expect(
      record().recordExecutionStart({ execution: run, agent: { type: 'claude', model: 'opus' } }),
    ).rejects.toThrow(/injected failure on executions/);
    const task = await store().getTask(taskId);
    expect(task.agent).toEqual({ type: 'claude' }); // the first statement (the agent) was rolled back
    expect(task.state).toBe('QUEUED');
    expect(await store().listExecutions(taskId)).toEqual([]);

    await healed();
    await record().recordExecutionStart({ execution: run, agent: { type: 'claude', model: 'opus' } });
    expect((await store().getTask(taskId)).agent).toEqual({ type: 'claude', model: 'opus' });
    expect((await store().getTask(taskId)).state).toBe('RUNNING');
    expect((await store().listExecutions(taskId)).map((e) => e.id)).toEqual([run.id]);
  });

  it('recordOutcome: the change stats fail → the execution stays RUNNING and the task keeps its state', async () => {
    const { taskId, executionId } = await runningTask();
    const outcome = {
      taskId,
      executionId,
      status: 'SUCCEEDED' as const,
      taskState: 'READY' as const,
      result: {
        sessionId: 'session-9',
        summary: 'Done.',
        costUsd: 0.5,
        changeStats: { filesChanged: 2, insertions: 3, deletions: 1 },
      },
    };
    await failWhen('executions', 'update', 'new.files_changed is distinct from old.files_changed');

    await expect(record().recordOutcome(outcome)).rejects.toThrow(/injected failure on executions/);
    const [run] = await store().listExecutions(taskId);
    expect(run).toMatchObject({ status: 'RUNNING' });
    expect(run?.summary).toBeUndefined();
    expect(run?.endTime).toBeUndefined();
    const task = await store().getTask(taskId);
    expect(task).toMatchObject({ state: 'RUNNING' });
    expect(task.summary).toBeUndefined();

    await healed();
    const neighbours = await record().recordOutcome(outcome);
    expect(neighbours).toEqual({ dependents: [] });
    expect((await store().listExecutions(taskId))[0]).toMatchObject({
      status: 'SUCCEEDED',
      summary: 'Done.',
      changeStats: { filesChanged: 2, insertions: 3, deletions: 1 },
    });
    expect(await store().getTask(taskId)).toMatchObject({ state: 'READY', summary: 'Done.' });
  });

  it('recordOutcome with a question: the state change fails → no question, no interaction, the execution still RUNNING', async () => {
    const { taskId, executionId } = await runningTask();
    await failWhen('tasks', 'update', "new.state = 'BLOCKED'");

    await expect(
      record().recordOutcome({
        taskId,
        executionId,
        status: 'QUESTION',
        taskState: 'BLOCKED',
        result: { sessionId: 's', question: { text: 'Which database?' } },
      }),
    ).rejects.toThrow(/injected failure on tasks/);
    const task = await store().getTask(taskId);
    expect(task.state).toBe('RUNNING');
    expect(task.question).toBeUndefined();
    expect(await store().listTaskInteractions(taskId)).toEqual([]);
    expect((await store().listExecutions(taskId))[0]).toMatchObject({ status: 'RUNNING' });
  });

  it('recordAnswer: clearing the question fails → the answer is not in the history and the task stays BLOCKED', async () => {
    const { taskId, executionId } = await blockedTask();
    await failWhen('tasks', 'update', 'new.question is null and old.question is not null');

    await expect(record().recordAnswer({ taskId, executionId, answer: 'postgres' })).rejects.toThrow(
      /injected failure on tasks/,
    );
    const task = await store().getTask(taskId);
    expect(task).toMatchObject({ state: 'BLOCKED', question: { text: 'Which database?' } });
    expect((await store().listTaskInteractions(taskId)).map((i) => i.kind)).toEqual(['question']);

    await healed();
    await record().recordAnswer({ taskId, executionId, answer: 'postgres' });
    await record().recordAnswer({ taskId, executionId, answer: 'postgres' }); // a retry after a lost reply
    expect(await store().getTask(taskId)).toMatchObject({ state: 'QUEUED' });
    expect((await store().getTask(taskId)).question).toBeUndefined();
    expect((await store().listTaskInteractions(taskId)).map((i) => [i.kind, i.text])).toEqual([
      ['question', 'Which database?'],
      ['answer', 'postgres'],
    ]);
  });

  it('recordTaskState with a question: the state change fails → the question is not stored', async () => {
    const taskId = await queuedTask();
    await failWhen('tasks', 'update', "new.state = 'FAILED'");

    await expect(
      record().recordTaskState({ taskId, state: 'FAILED', error: 'boom', question: { text: 'Why?' } }),
    ).rejects.toThrow(/injected failure on tasks/);
    const task = await store().getTask(taskId);
    expect(task.state).toBe('QUEUED');
    expect(task.question).toBeUndefined();
    expect(task.error).toBeUndefined();
  });

  it('store.transaction: a nested transaction joins the outer one, and a failure rolls back both', async () => {
    const first = `tx-nested-${++seq}`;
    const second = `tx-nested-${++seq}`;
    await failWhen('tasks', 'insert', `new.id = '${second}'`);
    await expect(
      store().transaction(async (tx) => {
        await tx.createTask({ id: first, name: 'A', instructions: 'a', agent: { type: 'claude' } }); // itself a transaction
        await tx.createTask({ id: second, name: 'B', instructions: 'b', agent: { type: 'claude' } });
      }),
    ).rejects.toThrow(/injected failure on tasks/);
    expect(await store().findTask(first)).toBeUndefined();
    expect(await store().findTask(second)).toBeUndefined();
  });
});
