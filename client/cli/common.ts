/**
 * What every command shares: exit statuses, connecting a client for one call, turning errors into a
 * message plus the next command, printing for people (tables, fields) or for scripts (JSON), and the
 * question policy's flags that `task submit` and `project add` share.
 */
import { InvalidArgumentError, type Command } from 'commander';
import ms from 'ms';
import { loadConfig } from '../../infra/config.js';
import { formatDuration } from '../../workflows/question-policy.js';
import type { QuestionPolicy, QuestionTimers } from '../../workflows/types.js';
import type { QuestionPolicySpec, SpecIssue } from '../specs.js';
import { ClaudomatorClient, ClaudomatorError, ValidationError } from '../index.js';

/** Exit statuses: documented in `--help`, relied on by scripts. */
export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3, timeout: 4 } as const;

export const EXIT_HELP = `
Exit status:
  0  success
  1  failure (a service is down, a check failed, a conflict, a task that ended badly for \`task wait\`)
  2  usage error or invalid input (the message names the field)
  3  not found (no such project, story or task)
  4  timed out waiting (\`task wait --timeout\`, \`story watch --timeout\`)`;

export interface JsonOption {
  json?: boolean;
}

/** Connect, run one SDK call, close; SDK field names in validation errors are shown as the flags typed. */
export async function withClient<T>(
  fn: (client: ClaudomatorClient) => Promise<T>,
  flags: Record<string, string> = {},
): Promise<T> {
  const client = await ClaudomatorClient.connect(loadConfig());
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof ValidationError) throw withFlagNames(err, flags);
    throw err;
  } finally {
    await client.close();
  }
}

function withFlagNames(err: ValidationError, flags: Record<string, string>): ValidationError {
  const issues: SpecIssue[] = err.issues.map((issue) => ({
    ...issue,
    path: flags[issue.path] ? `${flags[issue.path]} (${issue.path})` : issue.path,
  }));
  const what = /^Invalid ([^:]+):/.exec(err.message)?.[1] ?? 'input';
  return new ValidationError(
    `Invalid ${what}:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
    issues,
    err.hint,
  );
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof ClaudomatorError) {
    switch (err.code) {
      case 'NOT_FOUND':
        return EXIT.notFound;
      case 'INVALID':
        return EXIT.usage;
      case 'TIMEOUT':
        return EXIT.timeout;
      case 'CONFLICT':
      case 'UNAVAILABLE':
        return EXIT.failure;
    }
  }
  return EXIT.failure;
}

export function reportError(err: unknown, json: boolean): void {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`error: ${message}`);
  if (err instanceof ClaudomatorError && err.hint) console.error(`next:  ${err.hint}`);
  if (json) {
    printJson({
      error: {
        code: err instanceof ClaudomatorError ? err.code : 'FAILED',
        message,
        ...(err instanceof ClaudomatorError && err.hint ? { hint: err.hint } : {}),
        ...(err instanceof ValidationError ? { issues: err.issues } : {}),
      },
    });
  }
}

// ---- Output -------------------------------------------------------------------------------------

export function out(text: string): void {
  console.log(text);
}

/** Progress lines go to stderr, so stdout stays the command's result. */
export function info(text: string): void {
  console.error(text);
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

export function printFields(fields: Array<[string, string | undefined]>): void {
  const shown = fields.filter((f): f is [string, string] => f[1] !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length));
  for (const [key, value] of shown) out(`  ${key.padEnd(width)}  ${value}`);
}

export function printTable<T>(rows: T[], columns: Array<[string, (row: T) => string]>): void {
  const cells = [columns.map(([title]) => title), ...rows.map((row) => columns.map(([, get]) => get(row)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  for (const line of cells)
    out(line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

export function parseCount(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError('expected a whole number.');
  return Number(raw);
}

export function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port >= 65536) {
    throw new InvalidArgumentError('expected a port from 1 to 65535.');
  }
  return port;
}

/** A duration such as 90s, 10m or 2h (or milliseconds). */
export function parseDuration(raw: string): number {
  const millis = /^\d+$/.test(raw) ? Number(raw) : ms(raw as ms.StringValue);
  if (typeof millis !== 'number' || !Number.isFinite(millis) || millis <= 0) {
    throw new InvalidArgumentError('expected a duration such as 90s, 10m or 2h.');
  }
  return millis;
}

// ---- Question policies (task submit, project add) ----------------------------------------------------

/** The question policy's flags, as `withClient` shows the SDK's field names. */
export const QUESTION_POLICY_FLAGS: Record<string, string> = {
  questionPolicy: '--remind-after / --escalate-after / --expire-after / --on-expire / --default-answer',
  'questionPolicy.remindAfter': '--remind-after',
  'questionPolicy.escalateAfter': '--escalate-after',
  'questionPolicy.expireAfter': '--expire-after',
  'questionPolicy.onExpire': '--on-expire',
  'questionPolicy.defaultAnswer': '--default-answer',
};

export interface QuestionPolicyOptions {
  remindAfter?: string;
  escalateAfter?: string;
  expireAfter?: string;
  onExpire?: string;
  defaultAnswer?: string;
}

/**
 * Add the question policy's flags to `command`; `whose` says whose questions they govern. A task's
 * flags make a policy of its own, which replaces its project's.
 */
export function questionPolicyOptions(command: Command, whose: string): Command {
  return command
    .option(
      '--remind-after <duration>',
      `remind about ${whose} open question after this long, and again each time (at least 1m)`,
    )
    .option(
      '--escalate-after <duration>',
      'notify the escalation receivers once after this long (longer than --remind-after)',
    )
    .option('--expire-after <duration>', 'the deadline: after this long the question expires with --on-expire')
    .option('--on-expire <outcome>', 'at the deadline: fail, cancel, or answer (with --default-answer)')
    .option('--default-answer <text>', 'with --on-expire answer: what the agent gets, marked as a default');
}

/** The policy spec from the flags (the SDK checks it); undefined when none is given. */
export function questionPolicyFromFlags(opts: QuestionPolicyOptions): QuestionPolicySpec | undefined {
  const spec = {
    ...(opts.remindAfter !== undefined ? { remindAfter: opts.remindAfter } : {}),
    ...(opts.escalateAfter !== undefined ? { escalateAfter: opts.escalateAfter } : {}),
    ...(opts.expireAfter !== undefined ? { expireAfter: opts.expireAfter } : {}),
    // The SDK refuses an unknown outcome with the list of known ones; the cast only tells the compiler so.
    ...(opts.onExpire !== undefined ? { onExpire: opts.onExpire as 'fail' } : {}),
    ...(opts.defaultAnswer !== undefined ? { defaultAnswer: opts.defaultAnswer } : {}),
  };
  return Object.keys(spec).length > 0 ? spec : undefined;
}

/** A policy in one line: "remind every 30m, escalate after 2h, expire after 8h: answer \"…\"". */
export function describeQuestionPolicy(policy: QuestionPolicy): string {
  const parts = [
    policy.remindAfterMs !== undefined && `remind every ${formatDuration(policy.remindAfterMs)}`,
    policy.escalateAfterMs !== undefined && `escalate after ${formatDuration(policy.escalateAfterMs)}`,
    policy.expireAfterMs !== undefined &&
      `expire after ${formatDuration(policy.expireAfterMs)}: ${policy.onExpire ?? 'fail'}` +
        (policy.onExpire === 'answer' && policy.defaultAnswer ? ` "${policy.defaultAnswer}"` : ''),
  ].filter((part): part is string => typeof part === 'string');
  return parts.length > 0 ? parts.join(', ') : 'none (no reminders, no deadline)';
}

/** An open question's deadline and next steps, for `task show`. */
export function describeQuestionTimers(timers: QuestionTimers): Array<[string, string | undefined]> {
  return [
    ['deadline', timers.expiresAt && `${timers.expiresAt} (then ${timers.onExpire ?? 'fail'})`],
    ['next reminder', timers.nextReminderAt && `${timers.nextReminderAt} (${timers.remindersSent} sent)`],
    ['escalation', timers.escalatesAt ?? (timers.escalated ? 'sent' : undefined)],
  ];
}
