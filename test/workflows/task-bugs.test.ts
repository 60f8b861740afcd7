/**
 * Regressions of bugs an operator hit in the task workflow, on the real server:
 *
 * - a task for `any` agent resumes its session (after a question, a rate limit, or `task retry
 *   --message`) on the agent that owns the session, even when the pool would pick another one;
 * - a slot request the pool refuses (an agent it does not run) ends the task FAILED with what to
 *   configure, and its dependents and story hear it, instead of leaving it QUEUED forever;
 * - `task retry --message` resumes the session on the agent host that holds it, or runs afresh
 *   elsewhere with the message in the prompt when that host does not come back.
 */
import path from 'node:path';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { hostTaskQueue, taskStatusQuery, taskWorkflowId } from '../../workflows/definitions.js';
import { makeBareRepo, readCalls, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordHistory } from '../helpers/histories.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startDeployment, type Deployment } from '../helpers/worker-process.js';

const { EventType, TimeoutType } = proto.temporal.api.enums.v1;
const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack | undefined;
let deployment: Deployment | undefined;
const scratch = tempDir('task-bugs');

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  await deployment?.stop();
  deployment = undefined;
});
afterAll(async () => {
  await env?.teardown();
  scratch.remove();
});

type Client = TestStack['client'];

async function submit(
  s: { name: string; client: Client },
  suffix: string,
  scenario: string,
  extra: Record<string, unknown> = {},
) {
  const [task] = await s.client.submitTasks({
    id: `${s.name}-${suffix}`,
    name: `task ${suffix}`,
    instructions: `Do it [scenario:${scenario}]`,
    ...extra,
  });
  return task!;
}

const handle = (taskId: string) => env.client.workflow.getHandle(taskWorkflowId(taskId));
const callsOf = (stateDir: string, taskId: string) =>
  readCalls(stateDir).filter((c) => c.env.CLAUDOMATOR_TASK_ID === taskId);

/** Until the task's workflow waits for a slot of `agent` and the pool holds its request. */
async function queuedFor(client: Client, taskId: string, agent: string): Promise<string> {
  return waitFor(
    `task ${taskId} queued for a ${agent} slot`,
    async () => {
      const status = await handle(taskId).query(taskStatusQuery);
      const pool = (await client.agentStatuses()).find((a) => a.agent === agent);
      return status.state === 'QUEUED' && status.waitingFor?.startsWith(`a ${agent} slot`) && pool?.waiting === 1
        ? status.waitingFor
        : undefined;
    },
    30_000,
  );
}

describe('a task for any agent resumes on the agent that owns its session', () => {
  it('after a question, while the pool would grant another agent: the same agent resumes the same session', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const task = await submit(s, 'asking', 'question', { agent: { type: 'any' } });
    expect(await s.client.waitForTask(task.id, { timeoutMs: 60_000 })).toMatchObject({ state: 'BLOCKED' });
    const [first] = (await s.client.getTask(task.id)).executions;
    expect(first).toMatchObject({ status: 'QUESTION', agent: 'claude' });

    // claude takes no grants now; codex and gemini are free, so "any" would go to one of them.
    await s.client.pauseAgent('claude', { reason: 'test: make the pool prefer another agent' });
    await s.client.answerQuestion(task.id, 'postgres');
    const waiting = await queuedFor(s.client, task.id, 'claude');
    expect(waiting).toContain('to resume its session');
    const free = (await s.client.agentStatuses()).filter((a) => a.agent === 'codex' || a.agent === 'gemini');
    // Statuses come in the configured agents' order (claude, gemini, codex).
    expect(free.map((a) => [a.agent, a.activeTasks, a.paused])).toEqual([
      ['gemini', 0, false],
      ['codex', 0, false],
    ]);

    await s.client.resumeAgent('claude');
    expect((await s.client.waitForTask(task.id, { timeoutMs: 60_000 })).state).toBe('READY');
    const { executions } = await s.client.getTask(task.id);
    expect(executions.map((e) => [e.status, e.agent, e.sessionId])).toEqual([
      ['QUESTION', 'claude', first!.sessionId],
      ['SUCCEEDED', 'claude', first!.sessionId],
    ]);
    const calls = callsOf(s.stateDir, task.id);
    expect(calls.map((c) => c.cli)).toEqual(['claude', 'claude']);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', first!.sessionId!]));
    expect(calls[1]!.argv.at(-1)).toContain('postgres');
  });

  it('after a rate limit: it waits for the paused agent instead of taking a free one, and resumes its session', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const task = await submit(s, 'limited', 'rate_limit,success', { agent: { type: 'any' } });
    const states: string[] = [];
    const done = await s.client.waitForTask(task.id, { timeoutMs: 60_000, onChange: (st) => states.push(st) });
    expect(done.state).toBe('READY');
    expect(states).not.toContain('FAILED');
    const { executions } = await s.client.getTask(task.id);
    expect(executions.map((e) => [e.status, e.agent])).toEqual([
      ['RATE_LIMITED', 'claude'],
      ['SUCCEEDED', 'claude'],
    ]);
    expect(executions[1]!.sessionId).toBe(executions[0]!.sessionId);
    // codex and gemini were free the whole time: the resume waited out claude's pause (3 s in the fixture).
    const gap = Date.parse(executions[1]!.startTime) - Date.parse(executions[0]!.endTime!);
    expect(gap).toBeGreaterThanOrEqual(2_000);
    const calls = callsOf(s.stateDir, task.id);
    expect(calls.map((c) => c.cli)).toEqual(['claude', 'claude']);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', executions[0]!.sessionId!]));
  });

  it('after `task retry --message`: the retry resumes the last session on the agent that ran it', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const task = await submit(s, 'retried', 'question', { agent: { type: 'any' } });
    expect((await s.client.waitForTask(task.id, { timeoutMs: 60_000 })).state).toBe('BLOCKED');
    await s.client.cancelTask(task.id);
    expect((await s.client.waitForTask(task.id, { until: ['CANCELLED'], timeoutMs: 30_000 })).state).toBe('CANCELLED');
    const [first] = (await s.client.getTask(task.id)).executions;
    expect(first).toMatchObject({ agent: 'claude', status: 'QUESTION' });

    await s.client.pauseAgent('claude');
    await s.client.retryTask(task.id, { message: 'Carry on [scenario:success]' });
    expect(await queuedFor(s.client, task.id, 'claude')).toContain('to resume its session');
    await s.client.resumeAgent('claude');
    expect((await s.client.waitForTask(task.id, { timeoutMs: 60_000 })).state).toBe('READY');

    const { executions } = await s.client.getTask(task.id);
    expect(executions.map((e) => [e.agent, e.sessionId])).toEqual([
      ['claude', first!.sessionId],
      ['claude', first!.sessionId],
    ]);
    expect(executions[1]!.resumeAnswer).toBe('Carry on [scenario:success]');
    const calls = callsOf(s.stateDir, task.id);
    expect(calls.map((c) => c.cli)).toEqual(['claude', 'claude']);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', first!.sessionId!]));
    expect(calls[1]!.argv.at(-1)).toContain('Carry on [scenario:success]');
  });
});

describe('a slot request the pool refuses', () => {
  it('ends the task FAILED naming the agent and what to configure; its dependent fails and the story hears both', async () => {
    stack = await startTestStack(env, db.current.store, { env: { CLAUDOMATOR_AGENTS: 'claude' } });
    const s = stack;
    await s.client.addProject({ id: s.name, remoteUrl: makeBareRepo(path.join(scratch.dir, s.name)) });
    await s.client.createStory({ id: s.name, project: s.name, branch: `story/${s.name.slice(0, 40)}` });
    const denied = `${s.name}-gemini`;
    const dependent = `${s.name}-after`;
    await s.client.submitTasks([
      { id: denied, name: 'gemini work', instructions: 'Do it', agent: { type: 'gemini' }, story: s.name },
      { id: dependent, name: 'after', instructions: 'Then this', dependsOn: [denied], story: s.name },
    ]);
    await s.client.startStory(s.name);

    const failed = await s.client.waitForTask(denied, { timeoutMs: 60_000 });
    expect(failed.state).toBe('FAILED');
    expect(failed.error).toMatch(
      new RegExp(
        `^the agent pool \\(${s.name}-pool\\) refused a gemini slot: unknown agent "gemini": this pool runs claude\\b`,
      ),
    );
    expect(failed.error).toContain('Add gemini to CLAUDOMATOR_AGENTS of the workers that start the pool');
    expect((await s.client.getTask(denied)).executions).toEqual([]);
    const after = await s.client.waitForTask(dependent, { timeoutMs: 60_000 });
    expect(after).toMatchObject({ state: 'FAILED', error: `dependency ${denied} ended FAILED` });
    expect((await s.client.getTask(dependent)).executions).toEqual([]);

    // The workflow ended failed (not stuck), the pool keeps no request of it, the story knows both ends.
    const description = await handle(denied).describe();
    expect(description.status.name).toBe('FAILED');
    expect((await s.client.agentStatuses()).map((a) => [a.agent, a.activeTasks, a.waiting])).toEqual([
      ['claude', 0, 0],
    ]);
    const progress = await waitFor('the story to see both tasks fail', async () => {
      const view = await s.client.storyProgress(s.name);
      return view?.tasks[denied] === 'FAILED' && view.tasks[dependent] === 'FAILED' ? view : undefined;
    });
    expect(progress.status).toBe('IN_PROGRESS');
    await recordHistory(handle(denied), 'task-slot-denied');
  });
});

describe('`task retry --message` after the task moved hosts', () => {
  /** A deployment of worker processes; every host of it clones the remote into its own data dir. */
  async function deploy(hostScheduleTimeout: string): Promise<Deployment> {
    deployment = await startDeployment(env, db.current.store, {
      databaseUrl: db.current.url,
      env: {
        CLAUDOMATOR_AGENT_HEARTBEAT_TIMEOUT: '3s',
        CLAUDOMATOR_SHUTDOWN_GRACE: '2s',
        CLAUDOMATOR_HOST_SCHEDULE_TIMEOUT: hostScheduleTimeout,
      },
    });
    return deployment;
  }

  /** A task that asked a question on `host` and was cancelled there: its session lives on that host only. */
  async function cancelledAfterQuestion(d: Deployment, suffix: string, scenario: string) {
    const remote = `file://${makeBareRepo(path.join(scratch.dir, d.name))}`;
    const task = await submit(d, suffix, scenario, { repositoryUrl: remote });
    expect((await d.client.waitForTask(task.id, { timeoutMs: 60_000 })).state).toBe('BLOCKED');
    await d.client.cancelTask(task.id);
    expect((await d.client.waitForTask(task.id, { until: ['CANCELLED'], timeoutMs: 30_000 })).state).toBe('CANCELLED');
    const [first] = (await d.client.getTask(task.id)).executions;
    return { task, first: first! };
  }

  /** The queues the task's runAgent activities were scheduled on, and how many waited out the host timeout. */
  async function runQueues(taskId: string): Promise<{ queues: string[]; hostTimeouts: number }> {
    const events = (await handle(taskId).fetchHistory()).events ?? [];
    const queues = events
      .filter(
        (e) =>
          e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED &&
          e.activityTaskScheduledEventAttributes?.activityType?.name === 'runAgent',
      )
      .map((e) => e.activityTaskScheduledEventAttributes!.taskQueue!.name!);
    const hostTimeouts = events.filter(
      (e) =>
        e.eventType === EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT &&
        e.activityTaskTimedOutEventAttributes?.failure?.timeoutFailureInfo?.timeoutType ===
          TimeoutType.TIMEOUT_TYPE_SCHEDULE_TO_START,
    ).length;
    return { queues, hostTimeouts };
  }

  it('the host that holds the session is there: the retry waits for it and resumes the same session in its sandbox', async () => {
    const d = await deploy('60s');
    await d.start('orchestration', d.host('orchestrator'));
    const first = d.host('machine-1');
    const second = d.host('machine-2');
    const a = await d.start('agents', first);
    const { task, first: asked } = await cancelledAfterQuestion(d, 'moved', 'question');
    const machine1Queue = hostTaskQueue(d.config.agentTaskQueue, 'machine-1');
    expect(asked.hostQueue).toBe(machine1Queue);

    // machine-1's worker restarts; meanwhile only machine-2 polls the shared queue, where the session is unknown.
    a.process.kill('SIGTERM');
    expect((await a.process).exitCode).toBe(0);
    await d.start('agents', second);
    await d.client.retryTask(task.id, { message: 'Carry on [scenario:success]' });
    await waitFor(
      'the resume scheduled on machine-1’s queue',
      async () => (await runQueues(task.id)).queues.length === 1 || undefined,
      30_000,
    );
    await d.start('agents', first);
    expect((await d.client.waitForTask(task.id, { timeoutMs: 90_000 })).state).toBe('READY');

    const { executions } = await d.client.getTask(task.id);
    expect(executions.map((e) => [e.status, e.sessionId, e.hostQueue])).toEqual([
      ['QUESTION', asked.sessionId, machine1Queue],
      ['SUCCEEDED', asked.sessionId, machine1Queue],
    ]);
    expect(executions[1]!.resumeAnswer).toBe('Carry on [scenario:success]');
    expect(await runQueues(task.id)).toEqual({ queues: [machine1Queue], hostTimeouts: 0 });
    const calls = callsOf(d.stateDir, task.id);
    expect(calls).toHaveLength(2);
    expect(calls.every((c) => c.cwd.startsWith(first.dataDir))).toBe(true);
    expect(calls[1]!.cwd).toBe(calls[0]!.cwd);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', asked.sessionId!]));
    expect(calls[1]!.argv.at(-1)).toContain('Carry on [scenario:success]');
    expect(readCalls(d.stateDir).filter((c) => c.cwd.startsWith(second.dataDir))).toEqual([]);
  });

  it('the host is gone: after the host timeout the retry runs afresh on another host, with the message in the prompt', async () => {
    const d = await deploy('3s');
    const first = d.host('machine-1');
    const second = d.host('machine-2');
    const a = await d.start('all', first);
    const { task, first: asked } = await cancelledAfterQuestion(d, 'stranded', 'question,success');
    const machine1Queue = hostTaskQueue(d.config.agentTaskQueue, 'machine-1');
    expect(asked.hostQueue).toBe(machine1Queue);

    a.process.kill('SIGKILL');
    expect((await a.process).signal).toBe('SIGKILL');
    await d.start('all', second);
    await d.client.retryTask(task.id, { message: 'use postgres' });
    expect((await d.client.waitForTask(task.id, { timeoutMs: 90_000 })).state).toBe('READY');

    const { executions } = await d.client.getTask(task.id);
    expect(executions.map((e) => e.status)).toEqual(['QUESTION', 'SUCCEEDED']);
    expect(executions[1]!.hostQueue).toBe(hostTaskQueue(d.config.agentTaskQueue, 'machine-2'));
    expect(executions[1]!.sessionId).not.toBe(asked.sessionId);
    expect(executions[1]!.sandboxDir!.startsWith(second.dataDir)).toBe(true);
    expect(await runQueues(task.id)).toEqual({ queues: [machine1Queue, d.config.agentTaskQueue], hostTimeouts: 1 });
    const calls = callsOf(d.stateDir, task.id);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.cwd.startsWith(second.dataDir)).toBe(true);
    expect(calls[1]!.argv).not.toContain('--resume');
    expect(calls[1]!.argv.at(-1)).toContain('Do it [scenario:question,success]');
    expect(calls[1]!.argv.at(-1)).toContain('Earlier in this task a human told you: use postgres');
  });
});
