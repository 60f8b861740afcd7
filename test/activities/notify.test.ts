import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNotifyActivities } from '../../activities/notify.js';
import { ClaudomatorClient, ValidationError } from '../../client/index.js';
import { ConfigError, loadConfig } from '../../infra/config.js';
import { FailureType } from '../../workflows/failures.js';
import { notificationInput } from '../../workflows/notify.js';
import type { NotificationEvent, NotificationTarget, TaskQuestionNotification } from '../../workflows/types.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { uniqueName } from '../helpers/temporal.js';

const db = useTestDatabase();
let receiver: Receiver;

beforeAll(async () => {
  receiver = await startReceiver();
});
afterAll(async () => {
  await receiver?.close();
});

/** The activities with the global receivers `env` names (CLAUDOMATOR_NOTIFY_*), on the test's database. */
function activities(env: Record<string, string> = {}) {
  const config = loadConfig({ CLAUDOMATOR_UI_URL: 'http://ui.example:8233', ...env });
  return createNotifyActivities({ store: db.current.store, config });
}

/** One attempt of the activity, as Temporal would run it (a retry is another call). */
async function attempt(acts: ReturnType<typeof activities>, event: NotificationEvent, target: NotificationTarget) {
  const input = { ...notificationInput(event, { workflowId: 'agent-pool', runId: 'run-1' }), target };
  return new MockActivityEnvironment().run((i: typeof input) => acts.sendNotification(i), input);
}

const question = (taskId: string, extra: Partial<TaskQuestionNotification> = {}): TaskQuestionNotification => ({
  kind: 'task_question',
  taskId,
  executionId: 'exec-1',
  question: 'Which database should I use?\nOptions: postgres · sqlite',
  storyId: 'st-1',
  channel: 'primary',
  ...extra,
});

describe('sendNotification', () => {
  it('posts the JSON webhook and the Slack payload of a question: the question, the task, the link and the answer command', async () => {
    const id = uniqueName();
    const acts = activities({
      CLAUDOMATOR_NOTIFY_WEBHOOK_URL: receiver.url(`/${id}/hook`),
      CLAUDOMATOR_NOTIFY_SLACK_URL: receiver.url(`/${id}/slack`),
    });
    expect(await attempt(acts, question(id), 'webhook')).toEqual({ target: 'webhook', status: 'sent', attempts: 1 });
    expect(await attempt(acts, question(id), 'slack')).toEqual({ target: 'slack', status: 'sent', attempts: 1 });

    const link = `http://ui.example:8233/namespaces/default/workflows/task-${id}`;
    const [hook] = receiver.at(`/${id}/hook`);
    expect(hook).toEqual({
      path: `/${id}/hook`,
      contentType: 'application/json',
      body: {
        kind: 'task_question',
        key: `task-${id}.question.exec-1.primary`,
        text: `task ${id} is blocked on a question`,
        webUiUrl: link,
        command: `claudomator task answer ${id} "<answer>"`,
        channel: 'primary',
        taskId: id,
        executionId: 'exec-1',
        storyId: 'st-1',
        question: 'Which database should I use?\nOptions: postgres · sqlite',
      },
    });
    const [slack] = receiver.at(`/${id}/slack`);
    expect(slack!.body).toEqual({
      text: [
        `*claudomator:* task ${id} is blocked on a question`,
        'story st-1',
        '> Which database should I use?',
        '> Options: postgres · sqlite',
        `Answer: \`claudomator task answer ${id} "<answer>"\``,
        `Web UI: <${link}>`,
      ].join('\n'),
    });
    const records = await db.current.store.listNotifications({ keyPrefix: `task-${id}.` });
    expect(records.map((r) => [r.target, r.status, r.attempts, r.lastError]).sort()).toEqual([
      ['slack', 'sent', 1, undefined],
      ['webhook', 'sent', 1, undefined],
    ]);
    expect(records.every((r) => r.sentAt !== undefined)).toBe(true);
  });

  it('a receiver that fails twice (500) then recovers gets the notice once more, and a retry after success sends nothing', async () => {
    const id = uniqueName();
    const acts = activities({ CLAUDOMATOR_NOTIFY_WEBHOOK_URL: receiver.url(`/${id}`) });
    const event: NotificationEvent = { kind: 'agent_drained', agent: 'claude', eventId: `${id}:0`, reason: 'boom' };
    receiver.failNext(`/${id}`, 500, 500);
    for (let n = 1; n <= 2; n++) {
      const failure = await attempt(acts, event, 'webhook').catch((err: unknown) => err);
      expect(failure).toBeInstanceOf(ApplicationFailure);
      expect(failure).toMatchObject({
        nonRetryable: false,
        message: 'webhook receiver answered HTTP 500: scripted 500',
      });
      const [record] = await db.current.store.listNotifications({ keyPrefix: `agent-claude.agent_drained.${id}:` });
      expect(record).toMatchObject({
        status: 'failed',
        attempts: n,
        lastError: 'webhook receiver answered HTTP 500: scripted 500',
      });
    }
    expect(await attempt(acts, event, 'webhook')).toEqual({ target: 'webhook', status: 'sent', attempts: 3 });
    // The activity retried (or replayed, or the event recorded again) after the success: not sent again.
    expect(await attempt(acts, event, 'webhook')).toEqual({ target: 'webhook', status: 'duplicate' });
    expect(receiver.at(`/${id}`)).toHaveLength(3);
    const [record] = await db.current.store.listNotifications({ keyPrefix: `agent-claude.agent_drained.${id}:` });
    expect(record).toMatchObject({ status: 'sent', attempts: 3 });
    expect(record!.lastError).toBeUndefined();
    expect(receiver.at(`/${id}`)[2]!.body).toMatchObject({
      kind: 'agent_drained',
      agent: 'claude',
      reason: 'boom',
      command: 'claudomator agents ack claude',
      webUiUrl: 'http://ui.example:8233/namespaces/default/workflows/agent-pool',
    });
  });

  it('a 4xx is a refusal (non-retryable, recorded rejected); a 429 is retried', async () => {
    const id = uniqueName();
    const acts = activities({ CLAUDOMATOR_NOTIFY_SLACK_URL: receiver.url(`/${id}`) });
    receiver.failNext(`/${id}`, 429, 404);
    const limited = await attempt(acts, question(id), 'slack').catch((err: unknown) => err);
    expect(limited).toMatchObject({ nonRetryable: false });
    expect((limited as Error).message).toContain('HTTP 429');
    const refused = await attempt(acts, question(id), 'slack').catch((err: unknown) => err);
    expect(refused).toBeInstanceOf(ApplicationFailure);
    expect(refused).toMatchObject({ type: FailureType.NotificationRejected, nonRetryable: true });
    const [record] = await db.current.store.listNotifications({ keyPrefix: `task-${id}.` });
    expect(record).toMatchObject({ target: 'slack', status: 'rejected', attempts: 2 });
    expect(record!.lastError).toContain('HTTP 404');
  });

  it("a project's own receiver replaces the global one; escalations go only to escalation receivers", async () => {
    const id = uniqueName();
    await db.current.store.upsertProject({
      id,
      remoteUrl: '/tmp/nowhere',
      defaultBranch: 'main',
      notify: { webhookUrl: receiver.url(`/${id}/project-hook`) },
    });
    const acts = activities({
      CLAUDOMATOR_NOTIFY_WEBHOOK_URL: receiver.url(`/${id}/global-hook`),
      CLAUDOMATOR_NOTIFY_SLACK_URL: receiver.url(`/${id}/global-slack`),
      CLAUDOMATOR_NOTIFY_ESCALATION_SLACK_URL: receiver.url(`/${id}/escalation-slack`),
    });
    const event: NotificationEvent = {
      kind: 'story_needs_fix',
      storyId: 's1',
      projectId: id,
      reason: 'merge conflict',
    };
    expect(await attempt(acts, event, 'webhook')).toMatchObject({ status: 'sent' });
    expect(await attempt(acts, event, 'slack')).toMatchObject({ status: 'sent' });
    expect(receiver.at(`/${id}/project-hook`)).toHaveLength(1);
    expect(receiver.at(`/${id}/global-hook`)).toHaveLength(0);
    expect(receiver.at(`/${id}/global-slack`)).toHaveLength(1);
    expect(receiver.at(`/${id}/project-hook`)[0]!.body).toMatchObject({
      kind: 'story_needs_fix',
      storyId: 's1',
      projectId: id,
      reason: 'merge conflict',
      command: 'claudomator story start s1',
    });

    const escalated = question(`${id}-t`, { projectId: id, channel: 'escalation', reminder: 2 });
    expect(await attempt(acts, escalated, 'webhook')).toEqual({ target: 'webhook', status: 'skipped' });
    expect(await attempt(acts, escalated, 'slack')).toMatchObject({ status: 'sent' });
    const [slack] = receiver.at(`/${id}/escalation-slack`);
    expect((slack!.body as { text: string }).text).toContain(`Escalated: Reminder 2: task ${id}-t is blocked`);
  });

  it('skips a receiver nobody configured, without a record', async () => {
    const id = uniqueName();
    expect(await attempt(activities(), question(id), 'webhook')).toEqual({ target: 'webhook', status: 'skipped' });
    expect(await db.current.store.listNotifications({ keyPrefix: `task-${id}.` })).toEqual([]);
  });
});

describe('notification receiver URLs', () => {
  it('a bad global URL is a ConfigError naming the variable and what it expects', () => {
    const err = ((): unknown => {
      try {
        loadConfig({
          CLAUDOMATOR_NOTIFY_SLACK_URL: 'hooks.slack.com/services/T0/B0/X',
          CLAUDOMATOR_NOTIFY_WEBHOOK_URL: 'https://',
        });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as ConfigError).problems.map((p) => p.variable)).toEqual([
      'CLAUDOMATOR_NOTIFY_WEBHOOK_URL',
      'CLAUDOMATOR_NOTIFY_SLACK_URL',
    ]);
    expect((err as Error).message).toContain(
      'CLAUDOMATOR_NOTIFY_SLACK_URL: expected an http(s) URL with a host, such as https://hooks.slack.com/services/T000/B000/XXXX, got "hooks.slack.com/services/T0/B0/X"',
    );
    expect(loadConfig({ CLAUDOMATOR_NOTIFY_WEBHOOK_URL: ' https://example.com/hook ' }).notify).toEqual({
      webhookUrl: 'https://example.com/hook',
    });
  });

  it('a bad project URL is refused when the project is added, naming the field; nothing is stored', async () => {
    const client = new ClaudomatorClient(undefined as never, db.current.store, loadConfig({}));
    const id = uniqueName();
    const err = await client
      .addProject({
        id,
        remoteUrl: '/tmp/nowhere',
        notify: { slackUrl: 'ftp://example.com/x', webhookUrl: 'https://ok.example/h' },
      })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ValidationError);
    expect((err as Error).message).toContain(
      'notify.slackUrl: must be an http(s) URL with a host, such as https://hooks.slack.com/services/T000/B000/XXXX',
    );
    await expect(db.current.store.getProject(id)).rejects.toThrow(/No project with id/);
    const saved = await client.addProject({
      id,
      remoteUrl: '/tmp/nowhere',
      notify: { slackUrl: 'https://hooks.example/x' },
    });
    expect(saved.notify).toEqual({ slackUrl: 'https://hooks.example/x' });
  });
});
