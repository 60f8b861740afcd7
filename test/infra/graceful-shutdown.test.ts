/**
 * Graceful shutdown of an agent host: SIGTERM to a `claudomator worker --role agents` process while an
 * agent runs. The process stops taking work (a drain) and gives the run the shutdown grace.
 *
 * - A grace longer than the run (the manifests set it to the run timeout, so scale-in and rollouts
 *   never cut a run): the run finishes successfully on the stopping host, a task submitted after the
 *   SIGTERM is not taken by it, and the process exits 0 as soon as the run is done.
 * - A grace shorter than the run: the run is cancelled at the end of the grace, its agent killed and its
 *   session checkpointed in the last heartbeat; the process exits 0; another agent worker resumes the
 *   session and the task ends READY.
 */
import { tsToMs } from '@temporalio/common/lib/time.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { INTERRUPTED_PROMPT } from '../../activities/run-agent.js';
import { taskStatusQuery, taskWorkflowId } from '../../workflows/definitions.js';
import type { AgentRunProgress } from '../../workflows/types.js';
import { isAlive, markedProcesses, readCalls, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startDeployment, type Deployment } from '../helpers/worker-process.js';

const GRACE_MS = 1_000;
const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let deployment: Deployment | undefined;

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
});
afterAll(async () => {
  await env?.teardown();
});

const handle = (taskId: string) => env.client.workflow.getHandle(taskWorkflowId(taskId));

/** The runAgent activity the server has pending for the task: its heartbeat and attempt. */
async function pendingRun(taskId: string) {
  const pending = (await handle(taskId).describe()).raw.pendingActivities?.find(
    (a) => a.activityType?.name === 'runAgent',
  );
  if (!pending) return undefined;
  const data = pending.heartbeatDetails?.payloads?.[0]?.data;
  return {
    attempt: pending.attempt ?? 1,
    lastFailure: pending.lastFailure?.applicationFailureInfo?.type ?? pending.lastFailure?.message,
    heartbeatAt: pending.lastHeartbeatTime ? tsToMs(pending.lastHeartbeatTime) : undefined,
    progress: data ? (JSON.parse(Buffer.from(data).toString('utf8')) as AgentRunProgress) : undefined,
  };
}

describe('claudomator worker --role agents: SIGTERM during an agent run', () => {
  it('drains with a grace longer than the run: the run finishes on the stopping host, no new task is taken, exit 0', async () => {
    const graceMs = 120_000;
    deployment = await startDeployment(env, db.current.store, {
      databaseUrl: db.current.url,
      env: {
        CLAUDOMATOR_SHUTDOWN_GRACE: `${graceMs}ms`,
        // The `slow` fake streams an event every 100 ms and succeeds after 40 of them (about 4 s).
        FAKE_AGENT_SLOW_LINES: '40',
        FAKE_AGENT_SLOW_MS: '100',
      },
    });
    const d = deployment;
    await d.start('orchestration', d.host('orchestrator'));
    const host = d.host('machine-1');
    const a = await d.start('agents', host);
    const [running] = await d.client.submitTasks({
      id: `${d.name}-drain`,
      name: 'task drain',
      instructions: 'Do it [scenario:slow]',
    });
    const first = await waitFor('the agent to start', () => readCalls(d.stateDir)[0], 30_000);

    const sent = Date.now();
    a.process.kill('SIGTERM');
    // Submitted while the host drains: it must wait for another host.
    const [waiting] = await d.client.submitTasks({
      id: `${d.name}-after-sigterm`,
      name: 'task after sigterm',
      instructions: 'Do it [scenario:success]',
    });
    const stopped = await a.process;
    const stopMs = Date.now() - sent;
    expect(stopped.exitCode, stopped.all).toBe(0);
    expect(stopped.all).toMatch(/Draining/);
    expect(stopped.all).toMatch(/Agent finished.*"outcome":"success"/);
    // It left as soon as the run was done, long before the grace.
    expect(stopMs).toBeLessThan(graceMs / 2);
    expect(isAlive(first.pid)).toBe(false);

    const done = await d.client.waitForTask(running!.id, { timeoutMs: 60_000 });
    expect(done.state).toBe('READY');
    const { executions } = await d.client.getTask(running!.id);
    expect(executions).toHaveLength(1);
    expect(executions[0]).toMatchObject({ status: 'SUCCEEDED' });
    expect((await pendingRun(running!.id))?.attempt).toBeUndefined();

    // The stopping host took nothing new: one agent call in all, and the second task still waits.
    expect(readCalls(d.stateDir)).toHaveLength(1);
    expect((await d.client.getTask(waiting!.id)).task.state).not.toBe('READY');

    await d.start('agents', d.host('machine-2'));
    expect((await d.client.waitForTask(waiting!.id, { timeoutMs: 60_000 })).state).toBe('READY');
    const calls = readCalls(d.stateDir);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.env.CLAUDOMATOR_TASK_ID).toBe(waiting!.id);
  });

  it('exits 0 after the grace with the session checkpointed; another agent worker resumes it and the task ends READY', async () => {
    deployment = await startDeployment(env, db.current.store, {
      databaseUrl: db.current.url,
      env: {
        // Longer than the grace, so that only the checkpoint taken at shutdown can carry the session.
        CLAUDOMATOR_AGENT_HEARTBEAT_TIMEOUT: '10s',
        CLAUDOMATOR_SHUTDOWN_GRACE: `${GRACE_MS}ms`,
      },
    });
    const d = deployment;
    await d.start('orchestration', d.host('orchestrator'));
    const host = d.host('machine-1');
    const a = await d.start('agents', host);
    const [task] = await d.client.submitTasks({
      id: `${d.name}-sigterm`,
      name: 'task sigterm',
      instructions: 'Do it [scenario:interrupt]',
    });

    const first = await waitFor('the agent to start', () => readCalls(d.stateDir)[0], 30_000);
    const sent = Date.now();
    a.process.kill('SIGTERM');
    const stopped = await a.process;
    const stopMs = Date.now() - sent;
    expect(stopped.exitCode, stopped.all).toBe(0);
    expect(stopped.all).toMatch(/Worker stopped/);
    // A grace shorter than the run timeout is allowed, with a warning at start.
    expect(stopped.all).toMatch(/A stop interrupts agent runs longer than the shutdown grace/);
    // The run gets the grace, then its cancellation kills the agent (which exits on SIGTERM at once).
    expect(stopMs).toBeGreaterThanOrEqual(GRACE_MS);
    expect(stopMs).toBeLessThan(GRACE_MS + 5_000);
    expect(isAlive(first.pid)).toBe(false);
    const { executions: running } = await d.client.getTask(task!.id);
    expect(markedProcesses(running[0]!.id)).toEqual([]);

    // Checkpointed after the SIGTERM: the server holds the session id (and that the agent had output, so the
    // prompt was delivered) for the retry, which waits for another agent worker.
    const retry = await waitFor('the run to be scheduled again', async () => {
      const run = await pendingRun(task!.id);
      return run && run.attempt === 2 ? run : undefined;
    });
    const session = retry.progress?.sessionId;
    expect(session).toEqual(expect.any(String));
    expect(retry.progress!.bytes).toBeGreaterThan(0);
    expect(retry.heartbeatAt).toBeGreaterThanOrEqual(sent);
    expect(retry.lastFailure).toBe('WorkerShutdown');
    expect((await db.current.store.getTask(task!.id)).state).toBe('RUNNING');

    await d.start('agents', host);
    const done = await d.client.waitForTask(task!.id, { timeoutMs: 60_000 });
    expect(done.state).toBe('READY');
    const { executions } = await d.client.getTask(task!.id);
    expect(executions).toHaveLength(1);
    expect(executions[0]).toMatchObject({ status: 'SUCCEEDED', sessionId: session });
    const calls = readCalls(d.stateDir);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', session]));
    expect(calls[1]!.argv.at(-1)).toBe(INTERRUPTED_PROMPT);
    expect(calls[1]!.cwd).toBe(first.cwd);

    const [status, row] = await Promise.all([
      handle(task!.id).query(taskStatusQuery),
      db.current.store.getTask(task!.id),
    ]);
    expect(row.state).toBe(status.state);
  });
});
