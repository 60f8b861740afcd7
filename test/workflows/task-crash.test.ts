/**
 * Crash safety of the task lifecycle with real process kills: `claudomator worker` subprocesses are
 * SIGKILLed in the middle of an agent run or while their task waits for an answer, and new worker
 * processes (the same host, or another one) finish the work. Nothing in claudomator scans for stale
 * tasks at start-up: what recovers the task is Temporal (a heartbeat timeout retries the run, the
 * workflow replays on whichever worker polls) and the runner (the retry resumes the session from the
 * last heartbeat). What the dead worker left running is killed by the retry attempt, or by the host's
 * next worker as it starts. Cancellations that race a dead host or the end of a run still close the
 * execution as CANCELLED.
 */
import { chmodSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { INTERRUPTED_PROMPT } from '../../activities/run-agent.js';
import { taskStatusQuery, taskWorkflowId } from '../../workflows/definitions.js';
import type { AgentRunProgress } from '../../workflows/types.js';
import { runCli } from '../e2e/cli-process.js';
import { git, isAlive, makeBareRepo, markedProcesses, readCalls, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startDeployment, type Deployment } from '../helpers/worker-process.js';

const { EventType } = proto.temporal.api.enums.v1;
const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let deployment: Deployment | undefined;
const scratch = tempDir('task-crash');

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
});
afterAll(async () => {
  await env?.teardown();
  scratch.remove();
});

/** Short enough that a dead worker's run is retried in seconds. */
const FAST = { CLAUDOMATOR_AGENT_HEARTBEAT_TIMEOUT: '3s', CLAUDOMATOR_SHUTDOWN_GRACE: '2s' };

async function deploy(extra: Record<string, string> = {}): Promise<Deployment> {
  deployment = await startDeployment(env, db.current.store, {
    databaseUrl: db.current.url,
    env: { ...FAST, ...extra },
  });
  return deployment;
}

/**
 * A host of this deployment. Its id is unique to the deployment: a worker starting on a host ends the
 * orphaned agents of that host id, so a shared id would let another test file's worker end this file's
 * orphans (on the one /proc all test files share).
 */
function machineOf(d: Deployment, id: string) {
  return d.host(`${id}-${d.name}`);
}

async function submit(d: Deployment, suffix: string, scenario: string, extra: Record<string, unknown> = {}) {
  const [task] = await d.client.submitTasks({
    id: `${d.name}-${suffix}`,
    name: `task ${suffix}`,
    instructions: `Do it [scenario:${scenario}]`,
    ...extra,
  });
  return task!;
}

const handle = (taskId: string) => env.client.workflow.getHandle(taskWorkflowId(taskId));

/** The runAgent heartbeat the server holds for the task's pending run (what a retry would resume from). */
async function checkpoint(taskId: string): Promise<AgentRunProgress | undefined> {
  const pending = (await handle(taskId).describe()).raw.pendingActivities?.find(
    (a) => a.activityType?.name === 'runAgent',
  );
  const data = pending?.heartbeatDetails?.payloads?.[0]?.data;
  return data ? (JSON.parse(Buffer.from(data).toString('utf8')) as AgentRunProgress) : undefined;
}

/** The attempts of the task's runAgent activities, and why each retry happened. */
async function runAttempts(taskId: string): Promise<Array<{ attempt: number; lastFailure?: string }>> {
  const events = (await handle(taskId).fetchHistory()).events ?? [];
  const runAgentIds = new Set(
    events
      .filter(
        (e) =>
          e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
          e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent',
      )
      .map((e) => String(e.eventId)),
  );
  return events
    .filter(
      (e) =>
        e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED &&
        runAgentIds.has(String(e.activityTaskStartedEventAttributes?.scheduledEventId)),
    )
    .map((e) => {
      const a = e.activityTaskStartedEventAttributes!;
      const timeout = a.lastFailure?.timeoutFailureInfo?.timeoutType;
      return {
        attempt: a.attempt ?? 1,
        ...(a.lastFailure
          ? { lastFailure: timeout ? proto.temporal.api.enums.v1.TimeoutType[timeout] : 'failure' }
          : {}),
      };
    });
}

/** The workflow's view and the database's agree. */
async function expectMirror(taskId: string): Promise<void> {
  const [status, row] = await Promise.all([handle(taskId).query(taskStatusQuery), db.current.store.getTask(taskId)]);
  expect(row.state).toBe(status.state);
}

describe('a worker process killed mid-run', () => {
  it('SIGKILL during the agent run: a new worker on the same host resumes the session and the task ends READY', async () => {
    const d = await deploy();
    const host = machineOf(d, 'machine-1');
    const a = await d.start('all', host);
    const remote = makeBareRepo(`${scratch.dir}/same-host`);
    const task = await submit(d, 'killed', 'interrupt', { repositoryUrl: remote });

    // Mid-run: the agent has started and the server holds a heartbeat with its session and some output.
    const beat = await waitFor(
      'a heartbeat with the session id and output on the server',
      async () => {
        const progress = await checkpoint(task.id);
        return progress?.sessionId && progress.bytes > 0 ? progress : undefined;
      },
      30_000,
    );
    const [first] = readCalls(d.stateDir);
    expect(first!.env.CLAUDOMATOR_RUN_ID).toBe(`${beat.executionId}:1`);

    a.process.kill('SIGKILL');
    const killed = await a.process;
    expect(killed.signal).toBe('SIGKILL');
    // Nothing of the dead worker could stop its agent: it runs on, orphaned, in the sandbox.
    expect(isAlive(first!.pid)).toBe(true);
    expect((await db.current.store.getTask(task.id)).state).toBe('RUNNING');

    // The new worker of the host ends the orphan as it starts, before it takes any work.
    await d.start('all', host);
    expect(isAlive(first!.pid)).toBe(false);
    const done = await d.client.waitForTask(task.id, { timeoutMs: 90_000 });
    expect(done.state).toBe('READY');

    // One execution, not two: the retry is the same run, and it resumed the agent's session.
    const { executions } = await d.client.getTask(task.id);
    expect(executions).toHaveLength(1);
    expect(executions[0]).toMatchObject({ id: beat.executionId, status: 'SUCCEEDED', sessionId: beat.sessionId });
    const calls = readCalls(d.stateDir);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', beat.sessionId]));
    expect(calls[1]!.argv.at(-1)).toBe(INTERRUPTED_PROMPT);
    expect(calls[1]!.cwd).toBe(first!.cwd);
    expect(calls[1]!.env.CLAUDOMATOR_RUN_ID).toBe(`${beat.executionId}:2`);
    expect(await runAttempts(task.id)).toEqual([{ attempt: 2, lastFailure: 'TIMEOUT_TYPE_HEARTBEAT' }]);

    expect(markedProcesses(beat.executionId)).toEqual([]);
    // Both halves of the work were published on the task's branch.
    expect(git(remote, 'ls-tree', '--name-only', `claudomator/${task.id}`).split('\n').sort()).toEqual([
      'README.md',
      'finished.txt',
      'partial.txt',
    ]);
    await expectMirror(task.id);
  });
});

describe('an agent host killed mid-run, replaced by another host', () => {
  it('the retry on the other host cannot find the session there, so it runs afresh in its own sandbox and the task ends READY', async () => {
    const d = await deploy();
    await d.start('orchestration', d.host('orchestrator'));
    const first = machineOf(d, 'machine-1');
    const second = machineOf(d, 'machine-2');
    const a = await d.start('agents', first);
    // A URL, so that each host clones it: the sandbox of machine-1 is not on machine-2's disk.
    const remote = `file://${makeBareRepo(`${scratch.dir}/other-host`)}`;
    const task = await submit(d, 'moved', 'interrupt,success', { repositoryUrl: remote });
    const beat = await waitFor(
      'a heartbeat with the session id and output on the server',
      async () => {
        const progress = await checkpoint(task.id);
        return progress?.sessionId && progress.bytes > 0 ? progress : undefined;
      },
      30_000,
    );
    a.process.kill('SIGKILL');
    expect((await a.process).signal).toBe('SIGKILL');

    await d.start('agents', second);
    const done = await d.client.waitForTask(task.id, { timeoutMs: 90_000 });
    expect(done.state).toBe('READY');

    const { executions } = await d.client.getTask(task.id);
    expect(executions).toHaveLength(1);
    expect(executions[0]!.status).toBe('SUCCEEDED');
    expect(executions[0]!.sandboxDir!.startsWith(second.dataDir)).toBe(true);
    // machine-2 tried the session from the heartbeat first; its CLI did not know it, so it started over
    // with the task's own prompt, in a sandbox of its own.
    const calls = readCalls(d.stateDir);
    expect(
      calls.map((c) => [c.cwd.startsWith(first.dataDir) ? 'machine-1' : 'machine-2', c.argv.includes('--resume')]),
    ).toEqual([
      ['machine-1', false],
      ['machine-2', true],
      ['machine-2', false],
    ]);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', beat.sessionId]));
    expect(calls[2]!.argv.at(-1)).toContain('Do it [scenario:interrupt,success]');
    expect(executions[0]!.sessionId).not.toBe(beat.sessionId);
    expect(await runAttempts(task.id)).toEqual([{ attempt: 2, lastFailure: 'TIMEOUT_TYPE_HEARTBEAT' }]);
    // Here both "machines" share one /proc, so machine-2's attempt found machine-1's orphan by the run's
    // marker and ended it; on a real second machine, machine-1's next worker does (see the cancel test below).
    expect(markedProcesses(beat.executionId)).toEqual([]);
    await expectMirror(task.id);
  });
});

describe('a worker process killed while its task is BLOCKED on a question', () => {
  it('a new worker on the same host takes the answer from the CLI and resumes the same session in the same sandbox', async () => {
    const d = await deploy();
    const host = machineOf(d, 'machine-1');
    const a = await d.start('all', host);
    const task = await submit(d, 'asking', 'question');
    const blocked = await d.client.waitForTask(task.id, { timeoutMs: 60_000 });
    expect(blocked).toMatchObject({ state: 'BLOCKED', question: { text: 'Which database should I use?' } });

    a.process.kill('SIGKILL');
    expect((await a.process).signal).toBe('SIGKILL');
    await d.start('all', host);

    const answered = await runCli(['task', 'answer', task.id, 'postgres', '--by', 'alice'], d.envOf(host));
    expect(answered.exitCode, answered.stderr).toBe(0);
    const done = await d.client.waitForTask(task.id, { timeoutMs: 90_000 });
    expect(done.state).toBe('READY');

    const { executions, interactions } = await d.client.getTask(task.id);
    expect(executions.map((e) => e.status)).toEqual(['QUESTION', 'SUCCEEDED']);
    expect(executions[1]).toMatchObject({ sessionId: executions[0]!.sessionId, resumeAnswer: 'postgres' });
    expect(interactions.map((i) => [i.kind, i.text])).toEqual([
      ['question', 'Which database should I use?'],
      ['answer', 'postgres'],
    ]);
    const calls = readCalls(d.stateDir);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', executions[0]!.sessionId!]));
    expect(calls[1]!.argv.at(-1)).toContain('postgres');
    expect(calls[1]!.cwd).toBe(calls[0]!.cwd);
    await expectMirror(task.id);
  });

  it('when the host that holds the sandbox never comes back, the answer runs afresh on another host after the host timeout', async () => {
    const d = await deploy({ CLAUDOMATOR_HOST_SCHEDULE_TIMEOUT: '3s' });
    const first = machineOf(d, 'machine-1');
    const second = machineOf(d, 'machine-2');
    const a = await d.start('all', first);
    const remote = `file://${makeBareRepo(`${scratch.dir}/host-gone`)}`;
    const task = await submit(d, 'orphaned', 'question,success', { repositoryUrl: remote });
    expect((await d.client.waitForTask(task.id, { timeoutMs: 60_000 })).state).toBe('BLOCKED');

    a.process.kill('SIGKILL');
    expect((await a.process).signal).toBe('SIGKILL');
    await d.start('all', second);
    await d.client.answerQuestion(task.id, 'postgres');
    const done = await d.client.waitForTask(task.id, { timeoutMs: 90_000 });
    expect(done.state).toBe('READY');

    const { executions } = await d.client.getTask(task.id);
    expect(executions.map((e) => e.status)).toEqual(['QUESTION', 'SUCCEEDED']);
    expect(executions[1]!.resumeAnswer).toBe('postgres');
    expect(executions[1]!.sandboxDir!.startsWith(second.dataDir)).toBe(true);
    // A fresh session on machine-2, told what the human said.
    const calls = readCalls(d.stateDir);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.cwd.startsWith(second.dataDir)).toBe(true);
    expect(calls[1]!.argv).not.toContain('--resume');
    expect(calls[1]!.argv.at(-1)).toContain('Earlier in this task a human told you: postgres');
    expect(executions[1]!.sessionId).not.toBe(executions[0]!.sessionId);
    // The resume waited for machine-1's queue until the host timeout, then ran on the shared queue.
    const events = (await handle(task.id).fetchHistory()).events ?? [];
    const timeouts = events.filter(
      (e) =>
        e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT &&
        e.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo?.timeoutType ===
          proto.temporal.api.enums.v1.TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START,
    );
    expect(timeouts).toHaveLength(1);
    await expectMirror(task.id);
  });

  it('and when the fresh run on the other host fails too, the task ends FAILED with the execution closed', async () => {
    const d = await deploy({ CLAUDOMATOR_HOST_SCHEDULE_TIMEOUT: '3s' });
    const a = await d.start('all', machineOf(d, 'machine-1'));
    const task = await submit(d, 'stranded', 'question,success');
    expect((await d.client.waitForTask(task.id, { timeoutMs: 60_000 })).state).toBe('BLOCKED');
    a.process.kill('SIGKILL');
    await a.process;
    // machine-2 has no claude: the fresh run fails for good (a configuration error is not retried).
    await d.start('all', machineOf(d, 'machine-2'), { CLAUDOMATOR_CLAUDE_BIN: '/nonexistent/claude' });
    await d.client.answerQuestion(task.id, 'postgres');
    const done = await d.client.waitForTask(task.id, { timeoutMs: 90_000 });
    expect(done.state).toBe('FAILED');
    expect(done.error).toMatch(/cannot start \/nonexistent\/claude/);
    const { executions } = await d.client.getTask(task.id);
    expect(executions.map((e) => e.status)).toEqual(['QUESTION', 'FAILED']);
    expect(executions[1]!.endTime).toBeTruthy();
    await expectMirror(task.id);
  });
});

describe('cancelling a task whose run cannot confirm the cancellation', () => {
  it('cancelled while its agent host is dead: CANCELLED with the execution closed and the slot freed; the host’s next worker kills the orphaned agent', async () => {
    const d = await deploy();
    await d.start('orchestration', d.host('orchestrator'));
    const host = machineOf(d, 'machine-1');
    const a = await d.start('agents', host);
    const task = await submit(d, 'abandoned', 'interrupt');
    const beat = await waitFor(
      'a heartbeat with the session id and output on the server',
      async () => {
        const progress = await checkpoint(task.id);
        return progress?.sessionId && progress.bytes > 0 ? progress : undefined;
      },
      30_000,
    );
    const [first] = readCalls(d.stateDir);
    a.process.kill('SIGKILL');
    await a.process;

    // Nobody can confirm the cancellation: the run ends by its heartbeat timeout, and the task is cancelled all the same.
    await d.client.cancelTask(task.id);
    const done = await d.client.waitForTask(task.id, { timeoutMs: 30_000 });
    expect(done.state).toBe('CANCELLED');
    const { executions } = await d.client.getTask(task.id);
    expect(executions.map((e) => [e.id, e.status])).toEqual([[beat.executionId, 'CANCELLED']]);
    // The store records CANCELLED before the workflow gives the slot back and closes.
    await waitFor(
      'the workflow closed as cancelled',
      async () => (await handle(task.id).describe()).status.name === 'CANCELLED' || undefined,
      10_000,
    );
    // A cancellation is not the agent's failure: nothing counts towards draining it.
    const claude = await waitFor(
      'the slot back in the pool',
      async () => (await d.client.agentStatuses()).find((s) => s.agent === 'claude' && s.activeTasks === 0),
      10_000,
    );
    expect(claude).toMatchObject({ activeTasks: 0, holders: [], consecutiveFailures: 0, drained: false });
    await expectMirror(task.id);

    // The agent outlived its worker; the next worker of that host ends it as it starts.
    expect(isAlive(first!.pid)).toBe(true);
    const restarted = await d.start('agents', host);
    expect(isAlive(first!.pid)).toBe(false);
    expect(markedProcesses(beat.executionId)).toEqual([]);
    expect(readCalls(d.stateDir)).toHaveLength(1);
    restarted.process.kill('SIGTERM');
    expect((await restarted.process).exitCode).toBe(0);
  });

  it('cancelled while the finished run is being published: the execution is closed CANCELLED, not left RUNNING', async () => {
    const d = await deploy();
    await d.start('all', machineOf(d, 'machine-1'));
    const bare = makeBareRepo(`${scratch.dir}/slow-push`);
    // A push that waits until the test lets it go, announcing itself first.
    const pushing = path.join(scratch.dir, 'slow-push', 'pushing');
    const release = path.join(scratch.dir, 'slow-push', 'release');
    const hook = path.join(bare, 'hooks', 'pre-receive');
    writeFileSync(hook, `#!/bin/sh\ntouch '${pushing}'\nwhile [ ! -f '${release}' ]; do sleep 0.1; done\n`);
    chmodSync(hook, 0o755);
    const task = await submit(d, 'publishing', 'success', { repositoryUrl: `file://${bare}` });
    try {
      await waitFor('the push of the finished run', () => existsSync(pushing), 60_000);
      await d.client.cancelTask(task.id);
      const done = await d.client.waitForTask(task.id, { timeoutMs: 30_000 });
      expect(done.state).toBe('CANCELLED');
      const { executions } = await d.client.getTask(task.id);
      expect(executions.map((e) => e.status)).toEqual(['CANCELLED']);
      expect(executions[0]!.endTime).toBeTruthy();
      await expectMirror(task.id);
    } finally {
      writeFileSync(release, '');
    }
  });
});
