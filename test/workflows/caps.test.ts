/**
 * The global cap (the pool's CLAUDOMATOR_MAX_CONCURRENT) and the per-host cap (CLAUDOMATOR_HOST_MAX_RUNS)
 * on a real Temporal server, with real workers from the production factory and the fake agent CLIs.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { temporal } from '@temporalio/proto';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Task, TaskState } from '../../client/index.js';
import { taskWorkflowId } from '../../workflows/definitions.js';
import { isAlive, readCalls, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startDeployment, type Deployment } from '../helpers/worker-process.js';

const { PENDING_ACTIVITY_STATE_SCHEDULED, PENDING_ACTIVITY_STATE_STARTED } = temporal.api.enums.v1.PendingActivityState;

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack | undefined;
let deployment: Deployment | undefined;

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
  await stack?.stop();
  stack = undefined;
});
afterAll(async () => {
  await env?.teardown();
});

async function submit(s: TestStack, suffix: string, agent: string, scenario: string): Promise<Task> {
  const [task] = await s.client.submitTasks({
    id: `${s.name}-${suffix}`,
    name: `task ${suffix}`,
    instructions: `Do it [scenario:${scenario}]`,
    agent: { type: agent as 'claude' },
  });
  return task!;
}

/**
 * Sample the tasks' states in Postgres (and, with `stateDir`, the live fake agent processes) every 50 ms
 * until all settle: the most RUNNING at once, and the most agent processes at once.
 */
async function watch(
  s: TestStack,
  ids: string[],
  stateDir?: string,
): Promise<{ mostRunning: number; mostProcesses: number; states: TaskState[] }> {
  let mostRunning = 0;
  let mostProcesses = 0;
  const deadline = Date.now() + 90_000;
  for (;;) {
    const states = await Promise.all(ids.map(async (id) => (await db.current.store.getTask(id)).state));
    mostRunning = Math.max(mostRunning, states.filter((st) => st === 'RUNNING').length);
    if (stateDir) mostProcesses = Math.max(mostProcesses, agentProcesses(stateDir).length);
    if (states.every((st) => st === 'READY' || st === 'FAILED')) return { mostRunning, mostProcesses, states };
    if (Date.now() > deadline) throw new Error(`tasks did not settle: ${states.join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Live fake agent CLIs (each records its pid; the `slow` scenario starts no grandchildren). */
function agentProcesses(stateDir: string): number[] {
  return readCalls(stateDir)
    .map((c) => c.pid)
    .filter(isAlive);
}

async function pendingRun(taskId: string) {
  const { raw } = await env.client.workflow.getHandle(taskWorkflowId(taskId)).describe();
  return raw.pendingActivities?.find((a) => a.activityType?.name === 'runAgent');
}

describe('the global cap (CLAUDOMATOR_MAX_CONCURRENT)', () => {
  it('with a cap of 1, tasks of two different agents run one after the other; raised to 2, they overlap', async () => {
    stack = await startTestStack(env, db.current.store, {
      env: { CLAUDOMATOR_MAX_CONCURRENT: '1', FAKE_AGENT_SLOW_LINES: '20' },
    });
    const a = await submit(stack, 'a', 'claude', 'slow');
    const b = await submit(stack, 'b', 'gemini', 'slow');
    const watching = watch(stack, [a.id, b.id]);
    watching.catch(() => undefined); // awaited below; if a check fails first, it must not end as unhandled

    // One of them runs; the other waits in the pool although its agent is free.
    const pool = await waitFor('one run and one request held back by the cap', async () => {
      const status = await stack!.client.poolStatus().catch(() => undefined); // the first task starts the pool
      return status?.running === 1 && status.waiting === 1 && status;
    });
    expect(pool).toMatchObject({ maxConcurrent: 1 });
    expect(pool.agents.map((s) => [s.agent, s.activeTasks + s.waiting])).toEqual(
      expect.arrayContaining([
        ['claude', 1],
        ['gemini', 1],
      ]),
    );
    const serial = await watching;
    expect(serial.states).toEqual(['READY', 'READY']);
    expect(serial.mostRunning).toBe(1);

    // The same watch sees overlap when the cap allows it (so a cap that did not hold would show).
    expect(await stack.client.setMaxConcurrent(2)).toMatchObject({ maxConcurrent: 2, running: 0 });
    const c = await submit(stack, 'c', 'claude', 'slow');
    const d = await submit(stack, 'd', 'gemini', 'slow');
    const parallel = await watch(stack, [c.id, d.id]);
    expect(parallel.states).toEqual(['READY', 'READY']);
    expect(parallel.mostRunning).toBe(2);

    // A bad cap is refused with the field and the accepted values.
    await expect(stack.client.setMaxConcurrent(-1)).rejects.toThrow(/"maxConcurrent" must be a whole number/);
    expect((await stack.client.poolStatus()).maxConcurrent).toBe(2);
  });
});

describe('the per-host cap (CLAUDOMATOR_HOST_MAX_RUNS)', () => {
  it('a full agent host polls no shared work: the second run waits on the server, and another host takes it', async () => {
    const d = await startDeployment(env, db.current.store, {
      databaseUrl: db.current.url,
      env: { CLAUDOMATOR_AGENT_SLOTS: 'claude=2', FAKE_AGENT_SLOW_LINES: '150', CLAUDOMATOR_SHUTDOWN_GRACE: '2s' },
    });
    deployment = d;
    await d.start('orchestration', d.host('orchestrator'));
    await d.start('agents', d.host('machine-1'), { CLAUDOMATOR_HOST_MAX_RUNS: '1' });
    const submitTo = async (suffix: string) =>
      (
        await d.client.submitTasks({
          id: `${d.name}-${suffix}`,
          name: `task ${suffix}`,
          instructions: 'Do it [scenario:slow]',
        })
      )[0]!;
    const first = await submitTo('first');
    await waitFor('the first agent process', () => readCalls(d.stateDir).length === 1, 30_000);
    const second = await submitTo('second');
    // The pool grants both (2 claude slots), but machine-1 runs only one: the second run stays scheduled.
    await waitFor('the second run scheduled', async () => (await pendingRun(second.id)) !== undefined, 30_000);
    for (let i = 0; i < 10; i++) {
      expect((await pendingRun(second.id))?.state).toBe(PENDING_ACTIVITY_STATE_SCHEDULED);
      expect(agentProcesses(d.stateDir)).toHaveLength(1);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect((await pendingRun(first.id))?.lastWorkerIdentity).toMatch(/@machine-1$/);

    // Another host takes it while machine-1 is still busy.
    await d.start('agents', d.host('machine-2'), { CLAUDOMATOR_HOST_MAX_RUNS: '1' });
    await waitFor(
      'the second run started on machine-2',
      async () => {
        const run = await pendingRun(second.id);
        return run?.state === PENDING_ACTIVITY_STATE_STARTED && run.lastWorkerIdentity?.endsWith('@machine-2');
      },
      60_000,
    ); // a worker process starting on a busy machine
    await waitFor('both agents running at once, one per host', () => agentProcesses(d.stateDir).length === 2);
    expect((await db.current.store.getTask(first.id)).state).toBe('RUNNING');
    const done = await Promise.all([first, second].map((t) => d.client.waitForTask(t.id, { timeoutMs: 60_000 })));
    expect(done.map((t) => t.state)).toEqual(['READY', 'READY']);
    const sandboxes = await Promise.all(
      [first, second].map(async (t) => (await d.client.getTask(t.id)).executions[0]!.sandboxDir!),
    );
    expect(sandboxes[0]!.startsWith(d.host('machine-1').dataDir)).toBe(true);
    expect(sandboxes[1]!.startsWith(d.host('machine-2').dataDir)).toBe(true);
  });

  it('holds across the shared queue and the resume queue: a resume waits for the shared run to end', async () => {
    stack = await startTestStack(env, db.current.store, {
      env: { CLAUDOMATOR_HOST_MAX_RUNS: '1', FAKE_AGENT_SLOW_LINES: '60' },
    });
    const asking = await submit(stack, 'asking', 'claude', 'question');
    await stack.client.waitForTask(asking.id, { until: ['BLOCKED'], timeoutMs: 60_000 });
    const busy = await submit(stack, 'busy', 'gemini', 'slow');
    await waitFor('the gemini agent process', () => agentProcesses(stack!.stateDir).length === 1, 30_000);

    await stack.client.answerQuestion(asking.id, 'postgres');
    // The resume reached this host's own queue and started, and waits there for the host's one run.
    const waiting = await waitFor('the resume started on the host queue', async () => {
      const run = await pendingRun(asking.id);
      return run?.state === PENDING_ACTIVITY_STATE_STARTED && run;
    });
    expect(waiting.lastWorkerIdentity).toMatch(/@test-host$/);
    const resumeCalls = () => readCalls(stack!.stateDir).filter((c) => c.env.CLAUDOMATOR_TASK_ID === asking.id);
    expect(resumeCalls()).toHaveLength(1);
    expect((await db.current.store.getTask(busy.id)).state).toBe('RUNNING');

    const result = await watch(stack, [asking.id, busy.id], stack.stateDir);
    expect(result.states).toEqual(['READY', 'READY']);
    expect(result.mostProcesses).toBe(1);
    expect(resumeCalls()).toHaveLength(2);
    expect(resumeCalls()[1]!.argv).toContain('--resume');
  });
});
