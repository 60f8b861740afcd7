/**
 * Notifications, activity side: `sendNotification` posts one event to one receiver, a generic JSON
 * webhook or a Slack-compatible incoming webhook, and keeps the durable record that makes it once.
 *
 * The receiver's URL is the project's own (projects.notify) or else the global one (CLAUDOMATOR_NOTIFY_*);
 * none: the notice is skipped. Before sending, the activity claims an attempt in the `notifications`
 * row of the event and receiver, which refuses when the notice was sent already; after a 2xx it marks
 * the row sent. A failed attempt records its error and throws: Temporal retries it (the workflow's
 * retry policy), except a 4xx other than 429, which is `NotificationRejected` and final.
 */
import { ApplicationFailure } from '@temporalio/activity';
import type { Config } from '../infra/config.js';
import { NotFoundError, type Store } from '../store/index.js';
import { assertNever, toError } from '../workflows/assert.js';
import { FailureType } from '../workflows/failures.js';
import type {
  NotificationEvent,
  NotificationInput,
  NotificationOutcome,
  NotificationTarget,
  NotifyConfig,
} from '../workflows/types.js';
import { withStoreFailures } from './store-failures.js';

/** How long one POST may take; the activity's start-to-close timeout is longer. */
const REQUEST_TIMEOUT_MS = 10_000;
/** How much of a failed response's body the record keeps. */
const ERROR_BODY_CHARS = 200;

/** The JSON a generic webhook receives. */
export interface WebhookPayload {
  kind: NotificationEvent['kind'];
  /** Unique per event: a receiver may use it to drop a duplicate. */
  key: string;
  /** One line saying what happened, as the Slack message says it. */
  text: string;
  /** The Temporal Web UI page of the workflow concerned. */
  webUiUrl: string;
  /** The command that acts on it: answer the question, restart the story, acknowledge the agent. */
  command?: string;
  channel?: 'primary' | 'escalation';
  reminder?: number;
  /** A question's deadline under its question policy, and what happens then (fail, cancel, answer). */
  expiresAt?: string;
  onExpire?: string;
  taskId?: string;
  executionId?: string;
  storyId?: string;
  projectId?: string;
  agent?: string;
  question?: string;
  reason?: string;
  until?: string;
}

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createNotifyActivities(deps: { store: Store; config: Readonly<Config> }) {
  const { store, config } = deps;

  /** The receiver's URL for this event: the project's, else the global one; undefined when neither is set. */
  const receiverUrl = async (event: NotificationEvent, target: NotificationTarget): Promise<string | undefined> => {
    const field = configField(target, event.kind === 'task_question' ? event.channel : 'primary');
    const projectId = 'projectId' in event ? event.projectId : undefined;
    const project = projectId
      ? await store.getProject(projectId).catch((err: unknown) => {
          if (err instanceof NotFoundError) return undefined;
          throw err;
        })
      : undefined;
    return project?.notify?.[field] ?? config.notify[field];
  };

  return withStoreFailures({
    /** Send `input.event` to one receiver, at most once per event key and receiver. */
    async sendNotification(input: NotificationInput & { target: NotificationTarget }): Promise<NotificationOutcome> {
      const { key, target, event } = input;
      const url = await receiverUrl(event, target);
      if (url === undefined) return { target, status: 'skipped' };
      const attempt = await store.beginNotificationAttempt({ key, target, kind: event.kind });
      if (!attempt) return { target, status: 'duplicate' };

      const payload = webhookPayload(input, webUiUrl(config, input.workflowId));
      const body = JSON.stringify(target === 'slack' ? { text: slackText(payload) } : payload);
      let failure: { error: string; rejected: boolean; retryAfterMs?: number } | undefined;
      try {
        const response = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body,
          signal: AbortSignal.timeout(REQUEST_TIMEOUT_MS),
        });
        if (!response.ok) {
          const text = (await response.text().catch(() => '')).slice(0, ERROR_BODY_CHARS);
          failure = {
            error: `${target} receiver answered HTTP ${response.status}${text ? `: ${text}` : ''}`,
            rejected: response.status >= 400 && response.status < 500 && response.status !== 429,
            retryAfterMs: retryAfterMs(response.headers.get('retry-after')),
          };
        }
      } catch (err) {
        failure = { error: `${target} receiver unreachable: ${toError(err).message}`, rejected: false };
      }
      if (failure) {
        await store.markNotificationFailed({
          key,
          target,
          status: failure.rejected ? 'rejected' : 'failed',
          error: failure.error,
        });
        throw ApplicationFailure.create({
          message: failure.error,
          ...(failure.rejected ? { type: FailureType.NotificationRejected, nonRetryable: true } : {}),
          ...(failure.retryAfterMs !== undefined ? { nextRetryDelay: failure.retryAfterMs } : {}),
        });
      }
      await store.markNotificationSent({ key, target });
      return { target, status: 'sent', attempts: attempt.attempts };
    },
  });
}

/** The field of a `NotifyConfig` that names `target` on `channel`. */
function configField(target: NotificationTarget, channel: 'primary' | 'escalation'): keyof NotifyConfig {
  if (channel === 'escalation') return target === 'slack' ? 'escalationSlackUrl' : 'escalationWebhookUrl';
  return target === 'slack' ? 'slackUrl' : 'webhookUrl';
}

/** The Web UI page of a workflow (as `ClaudomatorClient.webUiUrl` builds it). */
export function webUiUrl(config: Readonly<Pick<Config, 'uiUrl' | 'temporal'>>, workflowId: string): string {
  return `${config.uiUrl}/namespaces/${encodeURIComponent(config.temporal.namespace)}/workflows/${encodeURIComponent(workflowId)}`;
}

/** A Retry-After header in seconds (a 429's hint), in milliseconds; undefined when absent or a date. */
function retryAfterMs(header: string | null): number | undefined {
  if (header === null || !/^\d+$/.test(header.trim())) return undefined;
  return Math.min(Number(header.trim()) * 1000, 10 * 60_000);
}

/** The generic webhook's JSON for an event. */
export function webhookPayload(input: NotificationInput, webUi: string): WebhookPayload {
  const { event, key } = input;
  switch (event.kind) {
    case 'task_question': {
      const reminder = event.reminder === undefined ? '' : `Reminder ${event.reminder}: `;
      const escalation = event.channel === 'escalation' ? 'Escalated: ' : '';
      return compact({
        kind: event.kind,
        key,
        text: `${escalation}${reminder}task ${event.taskId} is blocked on a question`,
        webUiUrl: webUi,
        command: `claudomator task answer ${event.taskId} "<answer>"`,
        channel: event.channel,
        reminder: event.reminder,
        taskId: event.taskId,
        executionId: event.executionId,
        storyId: event.storyId,
        projectId: event.projectId,
        question: event.question,
        expiresAt: event.expiresAt,
        onExpire: event.onExpire,
      });
    }
    case 'story_needs_fix':
    case 'story_review_ready':
      return {
        kind: event.kind,
        key,
        text:
          event.kind === 'story_needs_fix'
            ? `story ${event.storyId} needs a fix`
            : `story ${event.storyId} is ready for review`,
        webUiUrl: webUi,
        ...(event.kind === 'story_needs_fix' ? { command: `claudomator story start ${event.storyId}` } : {}),
        storyId: event.storyId,
        projectId: event.projectId,
        reason: event.reason,
      };
    case 'agent_drained':
    case 'agent_quota_paused':
      return compact({
        kind: event.kind,
        key,
        text:
          event.kind === 'agent_drained'
            ? `agent ${event.agent} is drained and waits for an operator`
            : `agent ${event.agent} is paused until its quota resets${event.until ? ` at ${event.until}` : ''}`,
        webUiUrl: webUi,
        command:
          event.kind === 'agent_drained'
            ? `claudomator agents ack ${event.agent}`
            : `claudomator agents resume ${event.agent}`,
        agent: event.agent,
        reason: event.reason,
        until: event.until,
      });
    default:
      return assertNever(event);
  }
}

/** The Slack message (mrkdwn) for a payload: what happened, the question or reason, the command and the link. */
export function slackText(payload: WebhookPayload): string {
  const lines = [`*claudomator:* ${payload.text}`];
  if (payload.projectId || payload.storyId) {
    lines.push(
      [payload.projectId && `project ${payload.projectId}`, payload.storyId && `story ${payload.storyId}`]
        .filter(Boolean)
        .join(', '),
    );
  }
  const detail = payload.question ?? payload.reason;
  if (detail)
    lines.push(
      slackEscape(detail)
        .split('\n')
        .map((line) => `> ${line}`)
        .join('\n'),
    );
  if (payload.expiresAt) lines.push(`Deadline: ${payload.expiresAt} (then: ${payload.onExpire ?? 'fail'})`);
  if (payload.command) lines.push(`${payload.kind === 'task_question' ? 'Answer' : 'Next'}: \`${payload.command}\``);
  lines.push(`Web UI: <${payload.webUiUrl}>`);
  return lines.join('\n');
}

/** Text as Slack shows it literally: its three control characters escaped. */
function slackEscape(text: string): string {
  return text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

/** `value` without its undefined fields (the payload is JSON: absent, not null). */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
