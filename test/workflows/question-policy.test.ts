/**
 * Questions with deadlines on the time-skipping server: a real stack (production workers, fake agent
 * CLIs, Postgres, a local webhook receiver) whose BLOCKED tasks wait on their question policy's durable
 * timers, while the test moves the server's clock with `env.sleep` (hours pass in milliseconds).
 * Covered: reminders that repeat, the escalation to the second channel, each expiry outcome (fail,
 * cancel, a default answer the agent is told is one) and an answer that stops the timers. A worker
 * restart while they wait runs on the dev server (below).
 */
import { WorkflowFailedError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { ConflictError, type QuestionPolicySpec } from '../../client/index.js';
import { createWorkers } from '../../worker/factory.js';
import { taskStatusQuery, taskWorkflowId } from '../../workflows/definitions.js';
import { FailureType } from '../../workflows/failures.js';
import { SETTLED_TASK_STATES } from '../../workflows/states.js';
import type { Task } from '../../workflows/types.js';
import { makeBareRepo, readCalls, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordFetchedHistory } from '../helpers/histories.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv, timeSkippingEnv } from '../helpers/temporal.js';

const MINUTE = 60_000;
/** Past the BLOCKED question: `waitForTask` would stop at it, so these waits name the settled states. */
const SETTLED = [...SETTLED_TASK_STATES];
const HOUR = 60 * MINUTE;

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let receiver: Receiver;
let stack: TestStack | undefined;
const scratch = tempDir('question-policy-tests');

beforeAll(async () => {
  [env, receiver] = await Promise.all([timeSkippingEnv(), startReceiver()]);
});
/** Task workflows a test started: ended after it, so no timer of theirs fires into a later test's clock. */
const started: string[] = [];
afterEach(async () => {
  await Promise.allSettled(started.splice(0).map((id) => handle(id).terminate('test over')));
  await stack?.stop();
  stack = undefined;
});
afterAll(async () => {
  await env?.teardown();
  await receiver?.close();
  scratch.remove();
});

/** A stack on the time-skipping server whose primary and escalation webhooks are paths on the receiver. */
async function policyStack(label: string): Promise<{ s: TestStack; hook: string; escalation: string }> {
  const hook = `/${label}/hook`;
  const escalation = `/${label}/escalation`;
  const s = await startTestStack(env, db.current.store, {
    label,
    env: {
      // The test server knows no custom search attributes.
      CLAUDOMATOR_SEARCH_ATTRIBUTES: 'off',
      CLAUDOMATOR_NOTIFY_WEBHOOK_URL: receiver.url(hook),
      CLAUDOMATOR_NOTIFY_ESCALATION_WEBHOOK_URL: receiver.url(escalation),
    },
  });
  return { s, hook, escalation };
}

/**
 * Submit a task that asks a question (then succeeds once answered) under `policy` (none: its
 * project's); returns it BLOCKED.
 */
async function blockedTask(
  s: TestStack,
  policy: QuestionPolicySpec | undefined,
  extra: { project?: string; suffix?: string } = {},
): Promise<Task> {
  const [task] = await s.client.submitTasks({
    id: `${s.name}-${extra.suffix ?? 'ask'}`,
    name: 'ask',
    instructions: 'Ask first [scenario:question,success]',
    ...(policy ? { questionPolicy: policy } : {}),
    ...(extra.project ? { project: extra.project } : {}),
  });
  started.push(task!.id);
  const blocked = await s.client.waitForTask(task!.id, { timeoutMs: 60_000 });
  expect(blocked.state).toBe('BLOCKED');
  return blocked;
}

/** Every notice of the task sent (none still retrying), so moving the clock cannot time one out. */
async function noticesSent(taskId: string, count: number): Promise<void> {
  await waitFor(
    `${count} notices of ${taskId} sent`,
    async () => {
      const rows = await db.current.store.listNotifications({ keyPrefix: `task-${taskId}.` });
      return rows.length === count && rows.every((r) => r.status === 'sent');
    },
    30_000,
  );
}

const handle = (taskId: string) => env.client.workflow.getHandle(taskWorkflowId(taskId));
const bodies = (path: string) => receiver.at(path).map((r) => r.body as Record<string, unknown>);

describe('question policies (time-skipping server)', () => {
  it('reminds the primary receivers again and again, escalates once to the second channel, and stops when answered', async () => {
    const { s, hook, escalation } = await policyStack('remind');
    stack = s;
    const task = await blockedTask(s, { remindAfter: '30m', escalateAfter: '75m' });
    await receiver.waitFor(hook, 1);
    await noticesSent(task.id, 1);
    const status = await handle(task.id).query(taskStatusQuery);
    const askedAt = Date.parse(status.questionTimers!.askedAt);
    expect(status.questionTimers).toMatchObject({
      nextReminderAt: new Date(askedAt + 30 * MINUTE).toISOString(),
      escalatesAt: new Date(askedAt + 75 * MINUTE).toISOString(),
      remindersSent: 0,
    });
    expect((await s.client.getTask(task.id)).task.questionTimers).toEqual(status.questionTimers);

    // +30m and +60m: reminders 1 and 2; +75m: the escalation, on the escalation webhook only; +90m: reminder 3.
    await env.sleep(30 * MINUTE);
    await receiver.waitFor(hook, 2);
    await noticesSent(task.id, 2);
    await env.sleep(30 * MINUTE);
    await receiver.waitFor(hook, 3);
    await noticesSent(task.id, 3);
    await env.sleep(15 * MINUTE);
    await receiver.waitFor(escalation, 1);
    await noticesSent(task.id, 4);
    await env.sleep(15 * MINUTE);
    await receiver.waitFor(hook, 4);
    await noticesSent(task.id, 5);

    expect(bodies(hook).map((b) => [b.channel, b.reminder, b.text])).toEqual([
      ['primary', undefined, `task ${task.id} is blocked on a question`],
      ['primary', 1, `Reminder 1: task ${task.id} is blocked on a question`],
      ['primary', 2, `Reminder 2: task ${task.id} is blocked on a question`],
      ['primary', 3, `Reminder 3: task ${task.id} is blocked on a question`],
    ]);
    expect(bodies(escalation).map((b) => [b.channel, b.text, b.question])).toEqual([
      [
        'escalation',
        `Escalated: task ${task.id} is blocked on a question`,
        'Which database should I use?\nOptions: postgres · sqlite',
      ],
    ]);
    const keys = [...bodies(hook), ...bodies(escalation)].map((b) => b.key);
    expect(new Set(keys).size).toBe(5);
    expect((await handle(task.id).query(taskStatusQuery)).questionTimers).toMatchObject({
      nextReminderAt: new Date(askedAt + 120 * MINUTE).toISOString(),
      remindersSent: 3,
      escalated: true,
    });

    // Answered: the agent resumes, and no reminder follows however long the clock runs.
    await s.client.answerQuestion(task.id, 'postgres');
    expect((await s.client.waitForTask(task.id, { timeoutMs: 60_000 })).state).toBe('READY');
    await env.sleep(5 * HOUR);
    expect(receiver.at(hook)).toHaveLength(4);
    expect(receiver.at(escalation)).toHaveLength(1);
    expect((await s.client.getTask(task.id)).task.questionTimers).toBeUndefined();
  });

  it('an answer before the deadline cancels the expiry: the task is READY, not FAILED, long after it', async () => {
    const { s, hook } = await policyStack('answered');
    stack = s;
    const task = await blockedTask(s, { remindAfter: '1h', expireAfter: '3h', onExpire: 'fail' });
    await noticesSent(task.id, 1);
    await env.sleep(HOUR);
    await receiver.waitFor(hook, 2);
    await noticesSent(task.id, 2);
    await s.client.answerQuestion(task.id, 'sqlite');
    expect((await s.client.waitForTask(task.id, { timeoutMs: 60_000 })).state).toBe('READY');
    await env.sleep(4 * HOUR);

    const { task: after, interactions } = await s.client.getTask(task.id);
    expect(after.state).toBe('READY');
    expect(interactions.map((i) => i.kind)).toEqual(['question', 'answer']);
    expect(receiver.at(hook)).toHaveLength(2);
    // The deadline's timer was cancelled when the answer came, never fired.
    const events = (await handle(task.id).fetchHistory()).events ?? [];
    expect(events.filter((e) => e.timerFiredEventAttributes)).toHaveLength(1);
    expect(events.filter((e) => e.timerCanceledEventAttributes).length).toBeGreaterThanOrEqual(1);
  });

  it('expires with onExpire fail: the task FAILED, saying the question expired; a late answer is refused', async () => {
    const { s } = await policyStack('fail');
    stack = s;
    const task = await blockedTask(s, { expireAfter: '2h', onExpire: 'fail' });
    const { questionTimers } = (await s.client.getTask(task.id)).task;
    expect(questionTimers).toMatchObject({ onExpire: 'fail' });
    expect(Date.parse(questionTimers!.expiresAt!) - Date.parse(questionTimers!.askedAt)).toBe(2 * HOUR);

    await env.sleep(2 * HOUR);
    const failed = await s.client.waitForTask(task.id, { until: SETTLED, timeoutMs: 60_000 });
    expect(failed.state).toBe('FAILED');
    expect(failed.error).toBe('the question expired: nobody answered within 2h (question policy onExpire: fail)');
    expect(failed.question).toBeUndefined();
    expect(failed.questionTimers).toBeUndefined();
    // The workflow has ended: awaiting its result skips no time.
    const ended: unknown = await handle(task.id)
      .result()
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(ended).toBeInstanceOf(WorkflowFailedError);
    expect((ended as WorkflowFailedError).cause).toMatchObject({ type: FailureType.QuestionExpired });
    await expect(s.client.answerQuestion(task.id, 'too late')).rejects.toThrow(ConflictError);
  });

  it("expires with onExpire cancel from the project's policy: the task CANCELLED; a task's own empty policy has no timers", async () => {
    const { s, hook } = await policyStack('cancel');
    stack = s;
    await s.client.addProject({
      id: s.name,
      remoteUrl: makeBareRepo(`${scratch.dir}/${s.name}`),
      questionPolicy: { remindAfter: '20m', expireAfter: '1h', onExpire: 'cancel' },
    });
    const task = await blockedTask(s, undefined, { project: s.name });
    const optedOut = await blockedTask(s, {}, { project: s.name, suffix: 'own' });
    expect(task.questionTimers).toMatchObject({ onExpire: 'cancel' });
    expect(optedOut.questionTimers).toBeUndefined();
    await noticesSent(task.id, 1);
    await noticesSent(optedOut.id, 1);
    // The notice says when the question expires, and what happens then.
    expect(bodies(hook).find((b) => b.taskId === task.id)).toMatchObject({
      expiresAt: task.questionTimers!.expiresAt,
      onExpire: 'cancel',
    });

    await env.sleep(HOUR);
    const cancelled = await s.client.waitForTask(task.id, { until: SETTLED, timeoutMs: 60_000 });
    expect(cancelled.state).toBe('CANCELLED');
    expect(cancelled.error).toBe('the question expired: nobody answered within 1h (question policy onExpire: cancel)');
    // Reminders at +20m and +40m; none for the task that opted out, which still waits.
    await noticesSent(task.id, 3);
    expect((await s.client.getTask(optedOut.id)).task.state).toBe('BLOCKED');
    expect(await db.current.store.listNotifications({ keyPrefix: `task-${optedOut.id}.` })).toHaveLength(1);
  });

  it('expires with onExpire answer: the same session resumes with the default, marked as one, and the task is READY', async () => {
    const { s } = await policyStack('answer');
    stack = s;
    const task = await blockedTask(s, { expireAfter: '4h', onExpire: 'answer', defaultAnswer: 'use sqlite' });
    await env.sleep(4 * HOUR);
    const done = await s.client.waitForTask(task.id, { until: SETTLED, timeoutMs: 60_000 });
    expect(done.state).toBe('READY');

    const { executions, interactions } = await s.client.getTask(task.id);
    expect(executions.map((e) => e.status)).toEqual(['QUESTION', 'SUCCEEDED']);
    expect(executions[1]!.sessionId).toBe(executions[0]!.sessionId);
    expect(interactions.map((i) => i.kind)).toEqual(['question', 'default_answer']);
    const told = interactions[1]!.text;
    expect(told).toContain('Nobody answered your question within 4h');
    expect(told).toContain('default answer');
    expect(told).toContain('use sqlite');
    expect(executions[1]!.resumeAnswer).toBe(told);
    // The agent itself was resumed with that text.
    const calls = readCalls(s.stateDir).filter((c) => c.env.CLAUDOMATOR_TASK_ID === task.id);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', executions[0]!.sessionId!]));
    expect(calls[1]!.argv.at(-1)).toContain(told);
    await recordFetchedHistory(handle(task.id), 'task-question-policy');
  });
});

/**
 * The restart runs on the dev server: the time-skipping server cannot hand a stopped worker's sticky
 * workflow task to another worker (its sticky timeout waits on the clock it has locked), so the clock
 * would never move. Here the deadline is seconds away in real time.
 */
describe('question policies across a worker restart (dev server)', () => {
  let devEnv: TestWorkflowEnvironment;
  beforeAll(async () => {
    devEnv = await devServerEnv();
  });
  afterAll(async () => {
    await devEnv?.teardown();
  });

  it('a worker stopped and restarted while the timers wait still expires the question', async () => {
    const s = await startTestStack(devEnv, db.current.store, { label: 'restart' });
    const [submitted] = await s.client.submitTasks({
      id: `${s.name}-ask`,
      name: 'ask',
      instructions: 'Ask first [scenario:question,success]',
      questionPolicy: { expireAfter: '15s', onExpire: 'fail' },
    });
    const blocked = await s.client.waitForTask(submitted!.id, { timeoutMs: 60_000 });
    expect(blocked.state).toBe('BLOCKED');
    await s.stop();

    // A new worker process (same queues, same configuration, no cached workflow) takes over the timers.
    const workers = await createWorkers({
      role: 'all',
      config: s.config,
      connection: devEnv.nativeConnection,
      store: db.current.store,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const runs = workers.map(({ worker }) => worker.run());
    try {
      expect(Date.now()).toBeLessThan(Date.parse(blocked.questionTimers!.expiresAt!));
      const failed = await s.client.waitForTask(submitted!.id, { until: SETTLED, timeoutMs: 60_000 });
      expect(failed.state).toBe('FAILED');
      expect(failed.error).toBe('the question expired: nobody answered within 15s (question policy onExpire: fail)');
      const status = await devEnv.client.workflow.getHandle(taskWorkflowId(submitted!.id)).describe();
      expect(status.status.name).toBe('FAILED');
    } finally {
      for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(runs);
    }
  });
});
