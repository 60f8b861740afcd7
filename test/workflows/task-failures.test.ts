/**
 * Failure paths of the task lifecycle on the real server: a subtask failing under its parent, a
 * dependency ending TIMED_OUT, CANCELLED or BUDGET_EXCEEDED, and cancelling a task that waits for a
 * dependency or for a slot. Each checks Postgres, the workflow, the agent pool and the neighbours.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { taskStatusQuery, taskWorkflowId } from '../../workflows/definitions.js';
import { readCalls, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack | undefined;

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});
afterAll(async () => {
  await env?.teardown();
});

/** A task spec whose fake agent plays `scenario`; ids are prefixed with the test's name. */
function spec(s: TestStack, id: string, scenario = 'success', extra: Record<string, unknown> = {}) {
  return { id: `${s.name}-${id}`, name: id, instructions: `Work on ${id} [scenario:${scenario}]`, ...extra };
}
const dep = (s: TestStack, ...ids: string[]) => ({ dependsOn: ids.map((id) => `${s.name}-${id}`) });
const handle = (taskId: string) => env.client.workflow.getHandle(taskWorkflowId(taskId));

/** The current details the Web UI shows for the workflow. */
async function currentDetails(taskId: string): Promise<string> {
  const metadata = await handle(taskId).query<{ currentDetails?: string }>('__temporal_workflow_metadata');
  return metadata.currentDetails ?? '';
}

/** The pool's row for `agent`. */
async function poolRow(s: TestStack, agent: string) {
  return (await s.client.agentStatuses()).find((a) => a.agent === agent)!;
}

/** A dependent and its own dependent fail at once, naming the dependency and its state; neither ran. */
async function expectDependentsFailed(s: TestStack, dependency: string, state: string): Promise<void> {
  const after = await s.client.waitForTask(`${s.name}-after`, { timeoutMs: 60_000 });
  expect(after).toMatchObject({ state: 'FAILED', error: `dependency ${dependency} ended ${state}` });
  const last = await s.client.waitForTask(`${s.name}-last`, { timeoutMs: 60_000 });
  expect(last).toMatchObject({ state: 'FAILED', error: `dependency ${s.name}-after ended FAILED` });
  for (const id of [after.id, last.id]) {
    expect((await s.client.getTask(id)).executions).toEqual([]);
    // The record says FAILED before the workflow has told its neighbours and closed: wait for its end.
    await expect(handle(id).result()).rejects.toThrow();
    expect((await handle(id).describe()).status.name).toBe('FAILED');
  }
}

describe('a subtask that fails under its parent', () => {
  it('keeps the parent BLOCKED (not settled), names the failed subtask, and its dependents keep waiting', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const parent = `${s.name}-parent`;
    await s.client.submitTasks([
      spec(s, 'parent'),
      spec(s, 'sub-ok', 'success', { parent }),
      spec(s, 'sub-bad', 'crash', { parent }),
      spec(s, 'after', 'success', dep(s, 'parent')),
    ]);
    expect((await s.client.waitForTask(`${s.name}-sub-ok`, { timeoutMs: 60_000 })).state).toBe('COMPLETED');
    const bad = await s.client.waitForTask(`${s.name}-sub-bad`, { timeoutMs: 60_000 });
    expect(bad.state).toBe('FAILED');
    expect(bad.error).toBeTruthy();

    // The parent's own run succeeded; the failed subtask keeps it BLOCKED, shown in its status and details.
    // (Its view follows the subtasks' signals, which can land a moment after their rows.)
    const status = await waitFor('the parent to wait on the failed subtask alone', async () => {
      const st = await handle(parent).query(taskStatusQuery);
      return st.waitingFor === `subtasks: ${s.name}-sub-bad (FAILED)` ? st : undefined;
    });
    expect(status).toMatchObject({ state: 'BLOCKED', waitingFor: `subtasks: ${s.name}-sub-bad (FAILED)` });
    expect(status.question).toBeUndefined();
    expect(await currentDetails(parent)).toContain(
      `Failed subtasks keep this task BLOCKED: ${s.name}-sub-bad (FAILED); retry them.`,
    );
    const row = await s.client.getTask(parent);
    expect(row.task.state).toBe('BLOCKED');
    expect(row.executions.map((e) => e.status)).toEqual(['SUCCEEDED']);
    expect((await handle(parent).describe()).status.name).toBe('RUNNING');
    // Not settled, so its dependent is not told anything: it waits on, holding no slot.
    const after = await handle(`${s.name}-after`).query(taskStatusQuery);
    expect(after).toMatchObject({ state: 'PENDING', waitingFor: `dependencies: ${parent}` });
    expect((await s.client.getTask(`${s.name}-after`)).task.state).toBe('PENDING');
    expect(await poolRow(s, 'claude')).toMatchObject({ activeTasks: 0, waiting: 0 });

    // Cancelling the stuck parent settles it, and then its dependent hears it.
    await s.client.cancelTask(parent);
    expect((await s.client.waitForTask(parent, { timeoutMs: 30_000 })).state).toBe('CANCELLED');
    expect(await s.client.waitForTask(`${s.name}-after`, { timeoutMs: 30_000 })).toMatchObject({
      state: 'FAILED',
      error: `dependency ${parent} ended CANCELLED`,
    });
  });
});

describe('a dependency that ends badly fails its dependents, naming it and its state', () => {
  it('TIMED_OUT', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    await s.client.submitTasks([
      spec(s, 'slow', 'hang', { timeout: '2s' }),
      spec(s, 'after', 'success', dep(s, 'slow')),
      spec(s, 'last', 'success', dep(s, 'after')),
    ]);
    expect((await s.client.waitForTask(`${s.name}-slow`, { timeoutMs: 60_000 })).state).toBe('TIMED_OUT');
    await expectDependentsFailed(s, `${s.name}-slow`, 'TIMED_OUT');
  });

  it('CANCELLED', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    await s.client.submitTasks([
      spec(s, 'hang', 'hang'),
      spec(s, 'after', 'success', dep(s, 'hang')),
      spec(s, 'last', 'success', dep(s, 'after')),
    ]);
    await s.client.waitForTask(`${s.name}-hang`, { until: ['RUNNING'], timeoutMs: 30_000 });
    await s.client.cancelTask(`${s.name}-hang`);
    expect((await s.client.waitForTask(`${s.name}-hang`, { timeoutMs: 30_000 })).state).toBe('CANCELLED');
    await expectDependentsFailed(s, `${s.name}-hang`, 'CANCELLED');
  });

  it('BUDGET_EXCEEDED', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    await s.client.submitTasks([
      spec(s, 'costly', 'budget', { agent: { type: 'codex', maxBudgetUsd: 0.01 } }),
      spec(s, 'after', 'success', dep(s, 'costly')),
      spec(s, 'last', 'success', dep(s, 'after')),
    ]);
    expect((await s.client.waitForTask(`${s.name}-costly`, { timeoutMs: 60_000 })).state).toBe('BUDGET_EXCEEDED');
    await expectDependentsFailed(s, `${s.name}-costly`, 'BUDGET_EXCEEDED');
  });
});

describe('cancelling a task that waits', () => {
  it('PENDING on a dependency: CANCELLED in Postgres, nothing asked of the pool, its dependent told', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const pending = `${s.name}-waiting`;
    await s.client.submitTasks([
      spec(s, 'blocker', 'hang'),
      spec(s, 'waiting', 'success', dep(s, 'blocker')),
      spec(s, 'after', 'success', dep(s, 'waiting')),
    ]);
    await s.client.waitForTask(`${s.name}-blocker`, { until: ['RUNNING'], timeoutMs: 30_000 });
    await waitFor('the task to wait for its dependency', async () => {
      const st = await handle(pending).query(taskStatusQuery);
      return st.state === 'PENDING' && st.waitingFor === `dependencies: ${s.name}-blocker`;
    });

    await s.client.cancelTask(pending);
    const cancelled = await s.client.waitForTask(pending, { timeoutMs: 30_000 });
    expect(cancelled).toMatchObject({ state: 'CANCELLED', error: 'cancelled' });
    expect((await s.client.getTask(pending)).executions).toEqual([]);
    await waitFor(
      'the workflow closed as cancelled',
      async () => (await handle(pending).describe()).status.name === 'CANCELLED',
    );
    expect(await s.client.waitForTask(`${s.name}-after`, { timeoutMs: 30_000 })).toMatchObject({
      state: 'FAILED',
      error: `dependency ${pending} ended CANCELLED`,
    });
    // The pool only ever knew the blocker.
    expect(await poolRow(s, 'claude')).toMatchObject({
      activeTasks: 1,
      waiting: 0,
      holders: [taskWorkflowId(`${s.name}-blocker`)],
    });
    expect((await s.client.getTask(`${s.name}-blocker`)).task.state).toBe('RUNNING');
    await s.client.cancelTask(`${s.name}-blocker`);
    expect((await s.client.waitForTask(`${s.name}-blocker`, { timeoutMs: 30_000 })).state).toBe('CANCELLED');
  });

  it('QUEUED for a taken slot: CANCELLED in Postgres, the request withdrawn from the pool, its dependent told', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const queued = `${s.name}-queued`;
    await s.client.submitTasks([spec(s, 'holder', 'hang')]);
    await s.client.waitForTask(`${s.name}-holder`, { until: ['RUNNING'], timeoutMs: 30_000 });
    await s.client.submitTasks([spec(s, 'queued'), spec(s, 'after', 'success', dep(s, 'queued'))]);
    await waitFor('the task to wait for the taken claude slot', async () => {
      const st = await handle(queued).query(taskStatusQuery);
      return (
        st.state === 'QUEUED' &&
        st.waitingFor?.startsWith('a claude slot') &&
        (await poolRow(s, 'claude')).waiting === 1
      );
    });
    expect((await s.client.getTask(queued)).task.state).toBe('QUEUED');

    await s.client.cancelTask(queued);
    expect(await s.client.waitForTask(queued, { timeoutMs: 30_000 })).toMatchObject({
      state: 'CANCELLED',
      error: 'cancelled',
    });
    expect((await s.client.getTask(queued)).executions).toEqual([]);
    expect(await s.client.waitForTask(`${s.name}-after`, { timeoutMs: 30_000 })).toMatchObject({
      state: 'FAILED',
      error: `dependency ${queued} ended CANCELLED`,
    });
    // The request is gone from the pool: no waiter left, the holder alone holds the slot.
    const claude = await waitFor('the request withdrawn', async () => {
      const row = await poolRow(s, 'claude');
      return row.waiting === 0 ? row : undefined;
    });
    expect(claude).toMatchObject({ activeTasks: 1, holders: [taskWorkflowId(`${s.name}-holder`)] });

    // When the slot frees, nobody is granted it on behalf of the cancelled task, and its agent never ran.
    await s.client.cancelTask(`${s.name}-holder`);
    expect((await s.client.waitForTask(`${s.name}-holder`, { timeoutMs: 30_000 })).state).toBe('CANCELLED');
    const free = await waitFor('the slot back in the pool', async () => {
      const row = await poolRow(s, 'claude');
      return row.activeTasks === 0 ? row : undefined;
    });
    expect(free).toMatchObject({ waiting: 0, holders: [], consecutiveFailures: 0 });
    expect(readCalls(s.stateDir).filter((c) => c.env.CLAUDOMATOR_TASK_ID === queued)).toEqual([]);
    expect((await s.client.getTask(queued)).task.state).toBe('CANCELLED');
  });
});
