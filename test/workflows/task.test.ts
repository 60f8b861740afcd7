import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConflictError, ValidationError } from '../../client/index.js';
import { taskStatusQuery, taskWorkflowId } from '../../workflows/definitions.js';
import { git, isAlive, makeBareRepo, readCalls, readPids, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordHistory } from '../helpers/histories.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack | undefined;
const scratch = tempDir('task-tests');

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});
afterAll(async () => {
  await env?.teardown();
  scratch.remove();
});

async function submit(s: TestStack, suffix: string, scenario: string, extra: Record<string, unknown> = {}) {
  const [task] = await s.client.submitTasks({
    id: `${s.name}-${suffix}`,
    name: `task ${suffix}`,
    instructions: `Do it [scenario:${scenario}]`,
    ...extra,
  });
  return task!;
}

const handle = (taskId: string) => env.client.workflow.getHandle(taskWorkflowId(taskId));

/** The workflow's view and the database's agree. */
async function expectMirror(taskId: string): Promise<void> {
  const [status, row] = await Promise.all([handle(taskId).query(taskStatusQuery), db.current.store.getTask(taskId)]);
  expect(row.state).toBe(status.state);
}

describe('taskWorkflow', () => {
  it('runs an agent to READY: execution recorded, changes published on the task branch', async () => {
    stack = await startTestStack(env, db.current.store);
    const remote = makeBareRepo(`${scratch.dir}/success`);
    const task = await submit(stack, 'ok', 'success', { repositoryUrl: remote });
    const done = await stack.client.waitForTask(task.id, { timeoutMs: 60_000 });
    expect(done.state).toBe('READY');
    const { executions } = await stack.client.getTask(task.id);
    expect(executions).toHaveLength(1);
    expect(executions[0]).toMatchObject({
      status: 'SUCCEEDED',
      agent: 'claude',
      changeStats: { filesChanged: 3, insertions: 6, deletions: 0 },
    });
    expect(executions[0]!.sessionId).toBeTruthy();
    expect(executions[0]!.stdoutPath).toMatch(new RegExp(`executions/${task.id}/`));
    expect(done.summary).toBeTruthy();
    // The work is committed on the task's own branch in the "remote".
    expect(git(remote, 'ls-tree', '--name-only', `claudomator/${task.id}`).split('\n').sort()).toEqual([
      'README.md',
      'committed.txt',
      'untracked.txt',
    ]);
    await expectMirror(task.id);
    await recordHistory(handle(task.id), 'task-success');
  });

  it('blocks on a question, refuses early or empty answers, and resumes the same session with the answer', async () => {
    stack = await startTestStack(env, db.current.store, { env: { FAKE_AGENT_SLOW_LINES: '60' } });
    const busy = await submit(stack, 'busy', 'slow', { agent: { type: 'codex' } });
    const asking = await submit(stack, 'asking', 'question');

    await stack.client.waitForTask(busy.id, { until: ['RUNNING'], timeoutMs: 30_000 });
    await expect(stack.client.answerQuestion(busy.id, 'postgres')).rejects.toThrow(
      /not waiting for an answer \(it is RUNNING/,
    );

    const blocked = await stack.client.waitForTask(asking.id, { timeoutMs: 60_000 });
    expect(blocked).toMatchObject({
      state: 'BLOCKED',
      question: { text: 'Which database should I use?', options: ['postgres', 'sqlite'] },
    });
    expect((await handle(asking.id).query(taskStatusQuery)).waitingFor).toBe('an answer');
    await expect(stack.client.answerQuestion(asking.id, '   ')).rejects.toThrow(ValidationError);
    await stack.client.answerQuestion(asking.id, 'postgres', 'alice');
    await expect(stack.client.answerQuestion(asking.id, 'sqlite')).rejects.toThrow(ConflictError);

    const done = await stack.client.waitForTask(asking.id, { timeoutMs: 60_000 });
    expect(done.state).toBe('READY');
    expect(done.question).toBeUndefined();
    const { executions, interactions } = await stack.client.getTask(asking.id);
    expect(executions.map((e) => e.status)).toEqual(['QUESTION', 'SUCCEEDED']);
    expect(executions[1]).toMatchObject({ sessionId: executions[0]!.sessionId, resumeAnswer: 'postgres' });
    expect(interactions.map((i) => [i.kind, i.text])).toEqual([
      ['question', 'Which database should I use?'],
      ['answer', 'postgres'],
    ]);
    // The agent really resumed its session, in the same sandbox, with the answer as the prompt.
    const calls = readCalls(stack.stateDir).filter((c) => c.env.CLAUDOMATOR_TASK_ID === asking.id);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', executions[0]!.sessionId!]));
    expect(calls[1]!.argv.at(-1)).toContain('postgres');
    expect(calls[1]!.cwd).toBe(calls[0]!.cwd);
    await expectMirror(asking.id);
    await recordHistory(handle(asking.id), 'task-question-answer');
    await stack.client.waitForTask(busy.id, { timeoutMs: 60_000 });
  });

  it('waits out a rate limit (the pool pauses the agent) and completes without being marked FAILED', async () => {
    stack = await startTestStack(env, db.current.store);
    const task = await submit(stack, 'limited', 'rate_limit,success');
    const states: string[] = [];
    const done = await stack.client.waitForTask(task.id, {
      timeoutMs: 60_000,
      onChange: (s) => states.push(s),
    });
    expect(done.state).toBe('READY');
    expect(states).not.toContain('FAILED');
    const { executions } = await stack.client.getTask(task.id);
    expect(executions.map((e) => e.status)).toEqual(['RATE_LIMITED', 'SUCCEEDED']);
    const gap = Date.parse(executions[1]!.startTime) - Date.parse(executions[0]!.endTime!);
    expect(gap).toBeGreaterThanOrEqual(2_000); // the fixture's retry delay is 3 s, measured from the run's end
    const events = await db.current.store.listAgentEvents({ agent: 'claude' });
    expect(events.map((e) => e.event)).toEqual(expect.arrayContaining(['rate_limited', 'available']));
    const [claude] = (await stack.client.agentStatuses()).filter((a) => a.agent === 'claude');
    expect(claude).toMatchObject({ consecutiveFailures: 0, drained: false, activeTasks: 0 });
    await recordHistory(handle(task.id), 'task-rate-limited');
  });

  it('cancelling a running task kills the agent and its grandchildren and frees the slot', async () => {
    stack = await startTestStack(env, db.current.store);
    const task = await submit(stack, 'hang', 'hang');
    await stack.client.waitForTask(task.id, { until: ['RUNNING'], timeoutMs: 30_000 });
    const [pids] = await waitFor(
      'the hanging agent and its grandchildren',
      () => readPids(stack!.stateDir).length > 0 && readPids(stack!.stateDir),
    );
    expect([pids!.cli, ...pids!.children].every(isAlive)).toBe(true);

    await stack.client.cancelTask(task.id);
    const done = await stack.client.waitForTask(task.id, { timeoutMs: 30_000 });
    expect(done.state).toBe('CANCELLED');
    expect([pids!.cli, ...pids!.children].filter(isAlive)).toEqual([]);
    const { executions } = await stack.client.getTask(task.id);
    expect(executions.map((e) => e.status)).toEqual(['CANCELLED']);
    const claude = (await stack.client.agentStatuses()).find((a) => a.agent === 'claude');
    expect(claude).toMatchObject({ activeTasks: 0, holders: [], consecutiveFailures: 0 });
    await expect(stack.client.cancelTask(task.id)).rejects.toThrow(/already ended CANCELLED/);
    await recordHistory(handle(task.id), 'task-cancelled');
  });

  it('ends TIMED_OUT, BUDGET_EXCEEDED and FAILED as the run did, and a retry carries the prior error into the prompt', async () => {
    stack = await startTestStack(env, db.current.store);
    const slow = await submit(stack, 'timeout', 'hang', { timeout: '2s' });
    // Claude enforces a budget itself (Codex cannot be stopped by one: see real-codex.test.ts).
    const costly = await submit(stack, 'budget', 'budget', { agent: { type: 'claude', maxBudgetUsd: 0.01 } });
    const crashing = await submit(stack, 'crash', 'crash,success', { agent: { type: 'gemini' } });

    expect((await stack.client.waitForTask(slow.id, { timeoutMs: 60_000 })).state).toBe('TIMED_OUT');
    expect((await stack.client.waitForTask(costly.id, { timeoutMs: 60_000 })).state).toBe('BUDGET_EXCEEDED');
    const failed = await stack.client.waitForTask(crashing.id, { timeoutMs: 60_000 });
    expect(failed.state).toBe('FAILED');
    expect(failed.error).toBeTruthy();
    await recordHistory(handle(crashing.id), 'task-failed');

    await expect(stack.client.retryTask(`${stack.name}-nope`)).rejects.toThrow(/No task/);
    await stack.client.retryTask(crashing.id);
    const retried = await stack.client.waitForTask(crashing.id, { timeoutMs: 60_000 });
    expect(retried.state).toBe('READY');
    await expect(stack.client.retryTask(crashing.id)).rejects.toThrow(
      /only FAILED, TIMED_OUT, CANCELLED or BUDGET_EXCEEDED/,
    );

    const calls = readCalls(stack.stateDir).filter((c) => c.env.CLAUDOMATOR_TASK_ID === crashing.id);
    expect(calls).toHaveLength(2);
    const systemPrompt = (argv: string[]): string => argv.join('\n');
    expect(systemPrompt(calls[0]!.argv)).not.toContain('Prior Attempt History');
    expect(systemPrompt(calls[1]!.argv)).toContain('Prior Attempt History');
    expect(systemPrompt(calls[1]!.argv)).toContain(failed.error!.split('\n')[0]!);
  });

  it('retries with a message by resuming the last session', async () => {
    stack = await startTestStack(env, db.current.store);
    const task = await submit(stack, 'resume', 'rate_limit');
    // A rate-limited run is not a failure; cancel it while it waits, then resume it with a message.
    await stack.client.waitForTask(task.id, { until: ['QUEUED'], timeoutMs: 30_000 });
    await waitFor(
      'the first execution to end',
      async () => (await stack!.client.getTask(task.id)).executions[0]?.endTime,
    );
    await stack.client.cancelTask(task.id);
    expect((await stack.client.waitForTask(task.id, { timeoutMs: 30_000 })).state).toBe('CANCELLED');
    const session = (await stack.client.getTask(task.id)).executions[0]!.sessionId!;
    await stack.client.retryTask(task.id, { message: 'Carry on [scenario:success]' });
    expect((await stack.client.waitForTask(task.id, { timeoutMs: 60_000 })).state).toBe('READY');
    const calls = readCalls(stack.stateDir).filter((c) => c.env.CLAUDOMATOR_TASK_ID === task.id);
    expect(calls.at(-1)!.argv).toEqual(expect.arrayContaining(['--resume', session]));
    expect(calls.at(-1)!.argv.at(-1)).toContain('Carry on [scenario:success]');
  });
});
