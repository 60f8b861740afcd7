import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/client';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createWorkers } from '../../worker/factory.js';
import { storyWorkflowId, taskWorkflowId } from '../../workflows/definitions.js';
import { notificationInput, notificationWorkflowId, type notificationWorkflow } from '../../workflows/notify.js';
import type { NotificationInput } from '../../workflows/types.js';
import { makeBareRepo, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordHistory } from '../helpers/histories.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';
import { inject } from 'vitest';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let receiver: Receiver;
let stack: TestStack | undefined;
const scratch = tempDir('notify-tests');

beforeAll(async () => {
  [env, receiver] = await Promise.all([devServerEnv(), startReceiver()]);
});
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});
afterAll(async () => {
  await env?.teardown();
  await receiver?.close();
  scratch.remove();
});

/** A stack whose global receivers are this test's paths on the local receiver. */
async function notifyingStack(label: string): Promise<{ s: TestStack; hook: string; slack: string }> {
  const hook = `/${label}/hook`;
  const slack = `/${label}/slack`;
  const s = await startTestStack(env, db.current.store, {
    label,
    env: { CLAUDOMATOR_NOTIFY_WEBHOOK_URL: receiver.url(hook), CLAUDOMATOR_NOTIFY_SLACK_URL: receiver.url(slack) },
  });
  return { s, hook, slack };
}

const runNotification = (s: TestStack, workflowId: string, input: NotificationInput) =>
  env.client.workflow.execute<typeof notificationWorkflow>('notificationWorkflow', {
    workflowId,
    taskQueue: s.config.taskQueue,
    args: [input],
    workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
  });

describe('notifications', () => {
  it('a question notifies the webhook and Slack without holding the task up; a failing receiver gets it once it recovers', async () => {
    const label = `question-${Math.random().toString(36).slice(2, 8)}`;
    const { s, hook, slack } = await notifyingStack(label);
    stack = s;
    // The webhook fails twice: the task is BLOCKED (and answerable) meanwhile.
    receiver.failNext(hook, 500, 500);
    const [task] = await s.client.submitTasks({
      id: `${s.name}-ask`,
      name: 'ask',
      instructions: 'Ask [scenario:question]',
    });
    const blocked = await s.client.waitForTask(task!.id, { timeoutMs: 60_000 });
    expect(blocked.state).toBe('BLOCKED');

    const [slackPost] = await receiver.waitFor(slack, 1);
    const hookPosts = await receiver.waitFor(hook, 3);
    const link = `${s.config.uiUrl}/namespaces/default/workflows/${taskWorkflowId(task!.id)}`;
    const answer = `claudomator task answer ${task!.id} "<answer>"`;
    expect((slackPost!.body as { text: string }).text).toBe(
      [
        `*claudomator:* task ${task!.id} is blocked on a question`,
        '> Which database should I use?',
        '> Options: postgres · sqlite',
        `Answer: \`${answer}\``,
        `Web UI: <${link}>`,
      ].join('\n'),
    );
    const { executions } = await s.client.getTask(task!.id);
    const expected = {
      kind: 'task_question',
      key: `task-${task!.id}.question.${executions[0]!.id}.primary`,
      taskId: task!.id,
      executionId: executions[0]!.id,
      channel: 'primary',
      question: 'Which database should I use?\nOptions: postgres · sqlite',
      webUiUrl: link,
      command: answer,
    };
    // Three attempts, the same payload each time.
    for (const post of hookPosts) expect(post.body).toMatchObject(expected);

    const child = env.client.workflow.getHandle(notificationWorkflowId(expected.key));
    expect(await child.result()).toEqual([
      { target: 'webhook', status: 'sent', attempts: 3 },
      { target: 'slack', status: 'sent', attempts: 1 },
    ]);
    const records = await db.current.store.listNotifications({ keyPrefix: expected.key });
    expect(records.map((r) => [r.target, r.status, r.attempts]).sort()).toEqual([
      ['slack', 'sent', 1],
      ['webhook', 'sent', 3],
    ]);

    // The same event again: the workflow id is never reused, and a new workflow with the same key sends nothing.
    const input = notificationInput(
      { kind: 'task_question', taskId: task!.id, executionId: executions[0]!.id, question: 'x', channel: 'primary' },
      { workflowId: taskWorkflowId(task!.id), runId: 'any' },
    );
    expect(input.key).toBe(expected.key);
    await expect(runNotification(s, notificationWorkflowId(input.key), input)).rejects.toThrow(
      WorkflowExecutionAlreadyStartedError,
    );
    expect(await runNotification(s, `${notificationWorkflowId(input.key)}-again`, input)).toEqual([
      { target: 'webhook', status: 'duplicate' },
      { target: 'slack', status: 'duplicate' },
    ]);
    expect(receiver.at(hook)).toHaveLength(3);
    expect(receiver.at(slack)).toHaveLength(1);

    await s.client.answerQuestion(task!.id, 'postgres');
    expect((await s.client.waitForTask(task!.id, { timeoutMs: 60_000 })).state).toBe('READY');
    await recordHistory(env.client.workflow.getHandle(taskWorkflowId(task!.id)), 'task-question-notified');
  });

  it('a notice whose worker restarts mid-retry is delivered once, by the new worker', async () => {
    const label = `restart-${Math.random().toString(36).slice(2, 8)}`;
    const { s, hook } = await notifyingStack(label);
    stack = s;
    receiver.failNext(hook, 503, 503, 503, 503);
    const input = notificationInput(
      { kind: 'agent_quota_paused', agent: 'gemini', eventId: `${label}:7`, until: '2030-01-01T00:00:00.000Z' },
      { workflowId: s.config.poolWorkflowId, runId: 'r' },
    );
    const handle = await env.client.workflow.start<typeof notificationWorkflow>('notificationWorkflow', {
      workflowId: notificationWorkflowId(input.key),
      taskQueue: s.config.taskQueue,
      args: [input],
    });
    await receiver.waitFor(hook, 1);
    await s.stop();
    stack = undefined;
    const attemptsBefore = receiver.at(hook).length;

    // A new worker process (same queues, same configuration) takes over the retries.
    const workers = await createWorkers({
      role: 'all',
      config: s.config,
      connection: env.nativeConnection,
      store: db.current.store,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });
    const runs = workers.map(({ worker }) => worker.run());
    try {
      const outcomes = await handle.result();
      const attempts = receiver.at(hook).length;
      expect(attempts).toBe(5);
      expect(attempts).toBeGreaterThan(attemptsBefore);
      expect(outcomes).toEqual([
        { target: 'webhook', status: 'sent', attempts: 5 },
        { target: 'slack', status: 'sent', attempts: 1 },
      ]);
      expect(receiver.at(hook).filter((r) => r.path === hook)).toHaveLength(5);
      const [record] = (await db.current.store.listNotifications({ keyPrefix: input.key })).filter(
        (r) => r.target === 'webhook',
      );
      expect(record).toMatchObject({ status: 'sent', attempts: 5 });
      expect(receiver.at(hook)[4]!.body).toMatchObject({
        kind: 'agent_quota_paused',
        agent: 'gemini',
        until: '2030-01-01T00:00:00.000Z',
        command: 'claudomator agents resume gemini',
      });
    } finally {
      for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(runs);
    }
  });

  it('a drained agent and a story at REVIEW_READY notify the project receiver, or else the global one, once each', async () => {
    const label = `pool-story-${Math.random().toString(36).slice(2, 8)}`;
    const { s, hook, slack } = await notifyingStack(label);
    stack = s;
    // Two crashing codex tasks drain codex.
    await s.client.submitTasks(
      [1, 2].map((n) => ({
        id: `${s.name}-crash-${n}`,
        name: `crash ${n}`,
        instructions: 'Crash [scenario:crash]',
        agent: { type: 'codex' as const },
      })),
    );
    const [drained] = await receiver.waitFor(hook, 1, 60_000);
    expect(drained!.body).toMatchObject({
      kind: 'agent_drained',
      agent: 'codex',
      command: 'claudomator agents ack codex',
      webUiUrl: `${s.config.uiUrl}/namespaces/default/workflows/${s.config.poolWorkflowId}`,
    });
    await receiver.waitFor(slack, 1);

    // The project routes its webhook elsewhere; Slack stays global.
    const projectHook = `/${label}/project-hook`;
    await s.client.addProject({
      id: s.name,
      remoteUrl: makeBareRepo(`${scratch.dir}/${s.name}`),
      notify: { webhookUrl: receiver.url(projectHook) },
    });
    await s.client.createStory({ id: s.name, project: s.name, branch: `story/${s.name.slice(0, 40)}` });
    await s.client.submitTasks([
      {
        id: `${s.name}-work`,
        name: 'work',
        instructions: 'Run touch work.txt',
        agent: { type: 'command' as const, command: 'touch work.txt' },
        story: s.name,
      },
    ]);
    await s.client.startStory(s.name);
    expect((await s.client.waitForStory(s.name, { timeoutMs: 120_000 })).status).toBe('REVIEW_READY');
    const [ready] = await receiver.waitFor(projectHook, 1);
    expect(ready!.body).toMatchObject({
      kind: 'story_review_ready',
      storyId: s.name,
      projectId: s.name,
      reason: 'merged; no validation configured',
      webUiUrl: `${s.config.uiUrl}/namespaces/default/workflows/${storyWorkflowId(s.name)}`,
    });
    const slackPosts = await receiver.waitFor(slack, 2);
    expect((slackPosts[1]!.body as { text: string }).text).toContain(`story ${s.name} is ready for review`);
    // Each event once: the global webhook got only the drain.
    await waitFor('the story notice to be recorded sent', async () =>
      (await db.current.store.listNotifications({ keyPrefix: `story-${s.name}.` })).every((r) => r.status === 'sent'),
    );
    expect(receiver.at(hook)).toHaveLength(1);
    expect(receiver.at(projectHook)).toHaveLength(1);
  });

  it('a story at NEEDS_FIX notifies once per run: started again, it notifies again', async () => {
    const label = `needs-fix-${Math.random().toString(36).slice(2, 8)}`;
    const { s, hook } = await notifyingStack(label);
    stack = s;
    await s.client.addProject({
      id: s.name,
      remoteUrl: makeBareRepo(`${scratch.dir}/${s.name}`),
      deployCommand: 'claudomator-no-such-deployer --now',
    });
    await s.client.createStory({ id: s.name, project: s.name, branch: `story/${s.name.slice(0, 40)}` });
    await s.client.submitTasks([
      {
        id: `${s.name}-work`,
        name: 'work',
        instructions: 'Run touch work.txt',
        agent: { type: 'command' as const, command: 'touch work.txt' },
        story: s.name,
      },
    ]);
    for (const run of [1, 2]) {
      await s.client.startStory(s.name);
      const story = await s.client.waitForStory(s.name, { timeoutMs: 60_000 });
      expect(story.status).toBe('NEEDS_FIX');
      const posts = await receiver.waitFor(hook, run);
      expect(posts[run - 1]!.body).toMatchObject({
        kind: 'story_needs_fix',
        storyId: s.name,
        projectId: s.name,
        reason: expect.stringContaining('cannot start') as unknown,
        command: `claudomator story start ${s.name}`,
      });
    }
    const keys = receiver.at(hook).map((p) => (p.body as { key: string }).key);
    expect(new Set(keys).size).toBe(2);
    const records = await waitFor('both notices recorded sent', async () => {
      const rows = await db.current.store.listNotifications({ keyPrefix: `story-${s.name}.story_needs_fix.` });
      return rows.every((r) => r.status === 'sent') && rows;
    });
    expect(records.filter((r) => r.target === 'webhook').map((r) => [r.status, r.attempts])).toEqual([
      ['sent', 1],
      ['sent', 1],
    ]);
  });
});
