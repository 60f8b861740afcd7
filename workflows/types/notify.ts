/** Notifications: the events claudomator tells people about, and what a notification workflow carries. */

/**
 * The receivers of notices, as a project or the global configuration sets them: each an http(s) URL.
 * A project's URL replaces the global one of the same receiver; the escalation receivers get only
 * `channel: 'escalation'` questions.
 */
export interface NotifyConfig {
  /** Generic JSON webhook: POST of the whole event as JSON. */
  webhookUrl?: string;
  /** Slack-compatible incoming webhook: POST of `{"text": …}`. */
  slackUrl?: string;
  escalationWebhookUrl?: string;
  escalationSlackUrl?: string;
}

/** Where a notice goes: the project's (or the global) primary receivers, or its escalation receivers. */
export type NotificationChannel = 'primary' | 'escalation';

/** A task is BLOCKED on its agent's question and waits for `claudomator task answer`. */
export interface TaskQuestionNotification {
  kind: 'task_question';
  taskId: string;
  /** The run that asked: each question is its own event (a resumed session that asks again is a new run). */
  executionId: string;
  question: string;
  projectId?: string;
  storyId?: string;
  channel: NotificationChannel;
  /** Absent: the first notice of the question; n: its n-th reminder (each reminder is its own event). */
  reminder?: number;
  /** The question's deadline (ISO time) under its question policy, and what happens then. */
  expiresAt?: string;
  /** The policy's `onExpire` (domain.ts `QuestionExpiry`; spelled out here because domain.ts imports this file). */
  onExpire?: 'fail' | 'cancel' | 'answer';
}

/** A story stopped for a human (NEEDS_FIX) or is ready for review (REVIEW_READY). */
export interface StoryNotification {
  kind: 'story_needs_fix' | 'story_review_ready';
  storyId: string;
  projectId: string;
  /** The story's step: why it needs a fix, or what was done. */
  reason: string;
}

/** The agent pool drained an agent (it waits for an operator) or paused it until its quota resets. */
export interface AgentNotification {
  kind: 'agent_drained' | 'agent_quota_paused';
  agent: string;
  /** The pool's agent-event id: one notice per event, however often the event is recorded. */
  eventId: string;
  reason?: string;
  /** For a quota pause: when the agent is available again (ISO time). */
  until?: string;
}

export type NotificationEvent = TaskQuestionNotification | StoryNotification | AgentNotification;
export type NotificationKind = NotificationEvent['kind'];

/** What a notification workflow gets: the event, its dedupe key and the workflow the Web UI link shows. */
export interface NotificationInput {
  event: NotificationEvent;
  /** Unique per event and channel (reminder included): the key of the `notifications` rows and of the workflow id. */
  key: string;
  /** The workflow the notice links to in the Web UI. */
  workflowId: string;
}

/** The receivers a notice can go to; each is configured by a URL (or not at all). */
export const NOTIFICATION_TARGETS = ['webhook', 'slack'] as const;
export type NotificationTarget = (typeof NOTIFICATION_TARGETS)[number];

/** How one receiver's notice ended. `skipped`: no URL configured; `duplicate`: sent before, not sent again. */
export interface NotificationOutcome {
  target: NotificationTarget;
  status: 'sent' | 'duplicate' | 'skipped' | 'failed';
  attempts?: number;
  error?: string;
}

export type NotificationStatus = 'sending' | 'sent' | 'failed' | 'rejected';

/** The durable record of one event sent to one receiver (the `notifications` table). */
export interface NotificationRecord {
  key: string;
  target: NotificationTarget;
  kind: string;
  status: NotificationStatus;
  attempts: number;
  lastError?: string;
  createdAt: string;
  updatedAt: string;
  sentAt?: string;
}
