/**
 * Questions with deadlines, as pure rules: which timer a BLOCKED task waits for next (a reminder, the
 * escalation, the expiry), what its timers look like to people, what the agent is told when the
 * deadline passes with a default answer, and which policies make sense at all. The task workflow
 * (task.ts) waits for the answer or the next step's time with a durable timer and performs the step;
 * the client checks policies with `questionPolicyIssues` before anything is stored.
 *
 * All times are epoch milliseconds counted from the moment the question was asked (workflow time).
 */
import type { QuestionPolicy, QuestionTimers } from './types.js';

/** Reminders at most once a minute: each one is a notice, and a child workflow in the task's history. */
export const MIN_REMIND_AFTER_MS = 60_000;

/** Whether `policy` sets any timer: an empty one (a task opting out of its project's) waits like none. */
export function hasTimers(policy: QuestionPolicy | undefined): policy is QuestionPolicy {
  return (
    policy !== undefined &&
    (policy.remindAfterMs !== undefined || policy.escalateAfterMs !== undefined || policy.expireAfterMs !== undefined)
  );
}

/** How far an open question has got: when it was asked, how many reminders went out, whether it escalated. */
export interface QuestionProgress {
  askedAt: number;
  remindersSent: number;
  escalated: boolean;
}

/** The next thing due for an open question; `reminder` is the reminder's number (1, 2, …). */
export type QuestionStep =
  { kind: 'remind'; at: number; reminder: number } | { kind: 'escalate'; at: number } | { kind: 'expire'; at: number };

/**
 * The step due next, or undefined when nothing is left but waiting. Reminders repeat every
 * `remindAfterMs`; one due at or after the deadline is not sent. At the same instant the expiry comes
 * first (it ends the wait), then the escalation, then a reminder.
 */
export function nextQuestionStep(policy: QuestionPolicy, progress: QuestionProgress): QuestionStep | undefined {
  const { askedAt, remindersSent, escalated } = progress;
  const expireAt = policy.expireAfterMs === undefined ? undefined : askedAt + policy.expireAfterMs;
  const candidates: QuestionStep[] = [];
  if (expireAt !== undefined) candidates.push({ kind: 'expire', at: expireAt });
  if (policy.escalateAfterMs !== undefined && !escalated) {
    const at = askedAt + policy.escalateAfterMs;
    if (expireAt === undefined || at < expireAt) candidates.push({ kind: 'escalate', at });
  }
  if (policy.remindAfterMs !== undefined) {
    const reminder = remindersSent + 1;
    const at = askedAt + reminder * policy.remindAfterMs;
    if (expireAt === undefined || at < expireAt) candidates.push({ kind: 'remind', at, reminder });
  }
  // Stable sort: ties keep the order above (expire, escalate, remind).
  return candidates.sort((a, b) => a.at - b.at)[0];
}

/** The timers of an open question as people see them (status query, current details, `task show`). */
export function questionTimers(policy: QuestionPolicy, progress: QuestionProgress): QuestionTimers {
  const iso = (at: number): string => new Date(at).toISOString();
  const { askedAt, remindersSent, escalated } = progress;
  const expireAt = policy.expireAfterMs === undefined ? undefined : askedAt + policy.expireAfterMs;
  const before = (at: number): boolean => expireAt === undefined || at < expireAt;
  const nextReminder =
    policy.remindAfterMs === undefined ? undefined : askedAt + (remindersSent + 1) * policy.remindAfterMs;
  const escalation = policy.escalateAfterMs === undefined || escalated ? undefined : askedAt + policy.escalateAfterMs;
  return {
    askedAt: iso(askedAt),
    ...(expireAt !== undefined ? { expiresAt: iso(expireAt), onExpire: policy.onExpire ?? 'fail' } : {}),
    ...(nextReminder !== undefined && before(nextReminder) ? { nextReminderAt: iso(nextReminder) } : {}),
    ...(escalation !== undefined && before(escalation) ? { escalatesAt: iso(escalation) } : {}),
    remindersSent,
    escalated,
  };
}

/** One paragraph for the Web UI's current details: the deadline and what it does, the next reminder, the escalation. */
export function describeQuestionTimers(timers: QuestionTimers, defaultAnswer?: string): string {
  const lines: string[] = [];
  if (timers.expiresAt) {
    const outcome =
      timers.onExpire === 'answer'
        ? `the agent gets the default answer${defaultAnswer ? ` "${defaultAnswer}"` : ''}`
        : timers.onExpire === 'cancel'
          ? 'the task is cancelled'
          : 'the task fails';
    lines.push(`**Deadline:** ${timers.expiresAt}; unanswered by then, ${outcome}.`);
  }
  if (timers.nextReminderAt) lines.push(`Next reminder: ${timers.nextReminderAt} (${timers.remindersSent} sent).`);
  else if (timers.remindersSent > 0) lines.push(`Reminders sent: ${timers.remindersSent}.`);
  if (timers.escalatesAt) lines.push(`Escalates: ${timers.escalatesAt}.`);
  else if (timers.escalated) lines.push('Escalated.');
  return lines.join('\n');
}

/** What the agent is told when the deadline passes under `onExpire: 'answer'`: the default, marked as one. */
export function defaultAnswerText(policy: QuestionPolicy): string {
  return (
    `Nobody answered your question within ${formatDuration(policy.expireAfterMs ?? 0)}, so this is the default ` +
    `answer set in advance by the task's question policy, not a human's reply to your question: ` +
    `${policy.defaultAnswer ?? ''}\nProceed with it, and mention in your summary that you relied on a default answer.`
  );
}

/** The task's error when its question expires under `onExpire: 'fail'` or `'cancel'`. */
export function expiredError(policy: QuestionPolicy): string {
  return `the question expired: nobody answered within ${formatDuration(policy.expireAfterMs ?? 0)} (question policy onExpire: ${policy.onExpire ?? 'fail'})`;
}

/** A duration as people write it: "45s", "30m", "2h", "1h30m", "3d". */
export function formatDuration(ms: number): string {
  const units: Array<[string, number]> = [
    ['d', 86_400_000],
    ['h', 3_600_000],
    ['m', 60_000],
    ['s', 1000],
  ];
  let rest = Math.round(ms / 1000) * 1000;
  const parts: string[] = [];
  for (const [unit, size] of units) {
    const n = Math.floor(rest / size);
    if (n > 0) parts.push(`${n}${unit}`);
    rest -= n * size;
  }
  return parts.join('') || `${ms}ms`;
}

/** A problem with a policy: the field as a spec names it (remindAfter, onExpire, …) and what to change. */
export interface QuestionPolicyIssue {
  field: 'remindAfter' | 'escalateAfter' | 'expireAfter' | 'onExpire' | 'defaultAnswer';
  message: string;
}

/**
 * Every problem with `policy`: the order of its durations (a reminder before the escalation before
 * the deadline), an expiry without an outcome or an outcome without an expiry, a default answer
 * missing or without use, reminders more often than once a minute.
 */
export function questionPolicyIssues(policy: QuestionPolicy): QuestionPolicyIssue[] {
  const issues: QuestionPolicyIssue[] = [];
  const { remindAfterMs: remind, escalateAfterMs: escalate, expireAfterMs: expire, onExpire } = policy;
  const d = formatDuration;
  if (remind !== undefined && remind < MIN_REMIND_AFTER_MS) {
    issues.push({
      field: 'remindAfter',
      message: `must be at least 1m (reminders at most once a minute), got ${d(remind)}`,
    });
  }
  if (remind !== undefined && escalate !== undefined && remind >= escalate) {
    issues.push({
      field: 'escalateAfter',
      message: `must be longer than remindAfter (${d(remind)}): remind first, escalate later; got ${d(escalate)}`,
    });
  }
  if (escalate !== undefined && expire !== undefined && escalate >= expire) {
    issues.push({
      field: 'expireAfter',
      message: `must be longer than escalateAfter (${d(escalate)}), or the escalation never goes out; got ${d(expire)}`,
    });
  }
  if (remind !== undefined && expire !== undefined && remind >= expire) {
    issues.push({
      field: 'expireAfter',
      message: `must be longer than remindAfter (${d(remind)}), or no reminder goes out; got ${d(expire)}`,
    });
  }
  if (expire !== undefined && onExpire === undefined) {
    issues.push({
      field: 'onExpire',
      message: 'is required with expireAfter: fail, cancel or answer (with defaultAnswer)',
    });
  }
  if (expire === undefined && onExpire !== undefined) {
    issues.push({
      field: 'expireAfter',
      message: `is required with onExpire (${onExpire}): the deadline, such as "2h"`,
    });
  }
  if (onExpire === 'answer' && !policy.defaultAnswer?.trim()) {
    issues.push({ field: 'defaultAnswer', message: 'is required with onExpire "answer": the text the agent gets' });
  }
  if (policy.defaultAnswer !== undefined && onExpire !== 'answer') {
    issues.push({
      field: 'defaultAnswer',
      message: 'is only used with onExpire "answer"; set onExpire: answer or drop it',
    });
  }
  return issues;
}
