import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ValidationError, type Task } from '../../client/index.js';
import { taskStatusQuery, taskWorkflowId } from '../../workflows/definitions.js';
import { waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordHistory } from '../helpers/histories.js';
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

async function settle(
  s: TestStack,
  tasks: Task[],
): Promise<Map<string, { state: string; start: number; end: number }>> {
  const out = new Map<string, { state: string; start: number; end: number }>();
  for (const t of tasks) {
    const done = await s.client.waitForTask(t.id, { timeoutMs: 90_000 });
    const { executions } = await s.client.getTask(t.id);
    out.set(t.id.slice(s.name.length + 1), {
      state: done.state,
      start: executions[0] ? Date.parse(executions[0].startTime) : NaN,
      end: executions.at(-1)?.endTime ? Date.parse(executions.at(-1)!.endTime!) : NaN,
    });
  }
  return out;
}

describe('dependencies', () => {
  it('runs a chain, a diamond and a fan-out/fan-in in dependency order', async () => {
    stack = await startTestStack(env, db.current.store, { env: { CLAUDOMATOR_AGENT_SLOTS: 'claude=3' } });
    const s = stack;
    const tasks = await s.client.submitTasks([
      // Listed dependents-first: the SDK orders the writes, the workflows order the runs.
      spec(s, 'chain-c', 'success', dep(s, 'chain-b')),
      spec(s, 'chain-b', 'success', dep(s, 'chain-a')),
      spec(s, 'chain-a'),
      spec(s, 'diamond-top'),
      spec(s, 'diamond-left', 'success', dep(s, 'diamond-top')),
      spec(s, 'diamond-right', 'success', dep(s, 'diamond-top')),
      spec(s, 'diamond-bottom', 'success', dep(s, 'diamond-left', 'diamond-right')),
      spec(s, 'fan-1'),
      spec(s, 'fan-2'),
      spec(s, 'fan-3'),
      spec(s, 'fan-in', 'success', dep(s, 'fan-1', 'fan-2', 'fan-3')),
    ]);
    const runs = await settle(s, tasks);
    for (const [id, run] of runs) expect(run.state, id).toBe('READY');
    const before = (a: string, b: string) =>
      expect(runs.get(a)!.end, `${a} ends before ${b} starts`).toBeLessThanOrEqual(runs.get(b)!.start);
    before('chain-a', 'chain-b');
    before('chain-b', 'chain-c');
    before('diamond-top', 'diamond-left');
    before('diamond-top', 'diamond-right');
    before('diamond-left', 'diamond-bottom');
    before('diamond-right', 'diamond-bottom');
    for (const f of ['fan-1', 'fan-2', 'fan-3']) before(f, 'fan-in');
    await recordHistory(env.client.workflow.getHandle(taskWorkflowId(`${s.name}-diamond-bottom`)), 'task-dependencies');
  });

  it('fails the dependents of a failed dependency at once, naming it and its state', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const tasks = await s.client.submitTasks([
      spec(s, 'broken', 'crash'),
      spec(s, 'child', 'success', dep(s, 'broken')),
      spec(s, 'grandchild', 'success', dep(s, 'child')),
    ]);
    const runs = await settle(s, tasks);
    expect([...runs.values()].map((r) => r.state)).toEqual(['FAILED', 'FAILED', 'FAILED']);
    expect((await s.client.getTask(`${s.name}-child`)).task.error).toBe(`dependency ${s.name}-broken ended FAILED`);
    expect((await s.client.getTask(`${s.name}-grandchild`)).task.error).toBe(`dependency ${s.name}-child ended FAILED`);
    // The dependents never ran an agent.
    expect((await s.client.getTask(`${s.name}-child`)).executions).toEqual([]);
    await recordHistory(env.client.workflow.getHandle(taskWorkflowId(`${s.name}-child`)), 'task-dependency-failed');
  });

  it('sees a dependency that finished before the dependent was submitted', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const [first] = await s.client.submitTasks(spec(s, 'early'));
    expect((await s.client.waitForTask(first!.id, { timeoutMs: 60_000 })).state).toBe('READY');
    const [late] = await s.client.submitTasks(spec(s, 'late', 'success', dep(s, 'early')));
    expect((await s.client.waitForTask(late!.id, { timeoutMs: 60_000 })).state).toBe('READY');
  });

  it('a waiting task holds no slot and says what it waits for', async () => {
    stack = await startTestStack(env, db.current.store, { env: { FAKE_AGENT_SLOW_LINES: '40' } });
    const s = stack;
    await s.client.submitTasks([spec(s, 'slow', 'slow'), spec(s, 'after', 'success', dep(s, 'slow'))]);
    await s.client.waitForTask(`${s.name}-slow`, { until: ['RUNNING'], timeoutMs: 30_000 });
    const status = await waitFor('the dependent to be waiting', async () => {
      const st = await env.client.workflow.getHandle(taskWorkflowId(`${s.name}-after`)).query(taskStatusQuery);
      return st.waitingFor?.startsWith('dependencies') ? st : undefined;
    });
    expect(status).toMatchObject({ state: 'PENDING', waitingFor: `dependencies: ${s.name}-slow` });
    const claude = (await s.client.agentStatuses()).find((a) => a.agent === 'claude')!;
    expect(claude.holders).toEqual([taskWorkflowId(`${s.name}-slow`)]);
    expect(claude.waiting).toBe(0);
    expect((await s.client.waitForTask(`${s.name}-after`, { timeoutMs: 60_000 })).state).toBe('READY');
  });

  it('rejects unknown dependencies and cycles before anything is written', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const cycle = await s.client
      .submitTasks([
        spec(s, 'x', 'success', dep(s, 'z')),
        spec(s, 'y', 'success', dep(s, 'x')),
        spec(s, 'z', 'success', dep(s, 'y')),
      ])
      .catch((e: unknown) => e);
    expect(cycle).toBeInstanceOf(ValidationError);
    expect((cycle as Error).message).toContain(
      `would close a dependency cycle: ${s.name}-x → ${s.name}-z → ${s.name}-y → ${s.name}-x`,
    );
    const unknown = await s.client.submitTasks([spec(s, 'w', 'success', dep(s, 'ghost'))]).catch((e: unknown) => e);
    expect((unknown as ValidationError).issues).toEqual([
      { path: 'dependsOn[0]', message: `unknown task "${s.name}-ghost" (not in this submission, not in the store)` },
    ]);
    for (const id of ['x', 'y', 'z', 'w']) expect(await db.current.store.findTask(`${s.name}-${id}`)).toBeUndefined();
  });
});

describe('subtasks', () => {
  it('blocks a parent on its subtasks (created by the agent during its run, through the CLI), then releases it', async () => {
    // The parent's agent is a command that calls the real CLI to create two subtasks of its own task.
    stack = await startTestStack(env, db.current.store, {
      env: {
        DATABASE_URL: db.current.url,
        CLAUDOMATOR_AGENT_ENV_PASSTHROUGH: 'FAKE_AGENT_*,TEMPORAL_ADDRESS,DATABASE_URL,CLAUDOMATOR_TASK_QUEUE',
      },
    });
    const s = stack;
    const [parent] = await s.client.submitTasks({
      id: `${s.name}-parent`,
      name: 'Split the work',
      instructions: 'Create two subtasks',
      agent: { type: 'command', command: `node ${SPAWN_SUBTASKS} ${s.name}` },
    });
    const blocked = await s.client.waitForTask(parent!.id, {
      until: ['BLOCKED', 'READY', 'FAILED'],
      timeoutMs: 90_000,
    });
    expect(blocked.state).toBe('BLOCKED');
    const subtasks = await s.client.listTasks({ parentTaskId: parent!.id });
    expect(subtasks.map((t) => t.id).sort()).toEqual([`${s.name}-sub-1`, `${s.name}-sub-2`]);
    // A failed subtask keeps the parent BLOCKED and says which; retrying it releases the parent.
    expect((await s.client.waitForTask(`${s.name}-sub-2`, { timeoutMs: 60_000 })).state).toBe('FAILED');
    expect((await s.client.waitForTask(`${s.name}-sub-1`, { timeoutMs: 60_000 })).state).toBe('COMPLETED');
    const status = await waitFor('the parent to name the failed subtask', async () => {
      const st = await env.client.workflow.getHandle(taskWorkflowId(parent!.id)).query(taskStatusQuery);
      return st.waitingFor?.includes(`${s.name}-sub-2 (FAILED)`) ? st : undefined;
    });
    expect(status.state).toBe('BLOCKED');
    // The subtasks run as children of the parent's workflow (the Web UI shows them under it).
    const child = await env.client.workflow.getHandle(taskWorkflowId(`${s.name}-sub-1`)).describe();
    expect(child.parentExecution?.workflowId).toBe(taskWorkflowId(parent!.id));

    await s.client.retryTask(`${s.name}-sub-2`, { message: 'try again [scenario:success]' });
    expect((await s.client.waitForTask(`${s.name}-sub-2`, { timeoutMs: 60_000 })).state).toBe('COMPLETED');
    expect((await s.client.waitForTask(parent!.id, { timeoutMs: 60_000 })).state).toBe('READY');
    await recordHistory(env.client.workflow.getHandle(taskWorkflowId(parent!.id)), 'task-subtasks');
  });
});

const SPAWN_SUBTASKS = new URL('../fixtures/scripts/spawn-subtasks.mjs', import.meta.url).pathname;
