/**
 * Codex CLI (`codex exec --json`), as codex-cli 0.171.0 behaves (test/activities/real-codex.test.ts).
 *
 * - The session is the thread: `thread.started.thread_id`. A resume is `codex exec <flags> resume -- <id>
 *   <prompt>`: it remembers no flags, and `resume` itself takes no `--sandbox`/`--add-dir`, so every flag goes
 *   in front of the subcommand, the same for a new run and a resume.
 * - `--sandbox workspace-write`: commands run under Codex's own sandbox (bubblewrap and seccomp, which work in
 *   the test container). Writable are the checkout, the question file's directory (`--add-dir`), /tmp and
 *   $TMPDIR; the checkout's `.git` stays read-only, so the agent cannot commit (claudomator commits what it
 *   leaves). Approvals are never asked in exec mode.
 * - No system-prompt flag: the instructions go in front of the prompt.
 * - One `codex exec` is one turn: `turn.completed` (with the usage, the thread's total so far, resumed runs
 *   included) or `turn.failed`, and exit 1 for any failure. `error` events before the end are retries
 *   ("Reconnecting... 1/5 (…)") or warnings (an `error` item).
 * - Limits: a 429 whose body says `usage_limit_reached` ends the turn at once with "You’ve hit your usage
 *   limit. … try again at 7:23 PM." (the reset in the local zone; a date when not today, "later" without
 *   one); `insufficient_quota` reads "Quota exceeded. Check your plan and billing details."; any other
 *   429 is retried (`stream_max_retries`) only when it carries `retry-after`, after waiting that long, and
 *   ends "exceeded retry limit, last status: 429 Too Many Requests" without the delay; a rate limit
 *   reported in the stream ends "rate limit exceeded: … Please try again in 1.5s.".
 * - A resume of an unknown id prints "no rollout found for thread id <id>" on stderr and exits 1.
 */
import {
  type AgentAdapter,
  type AgentEvent,
  type Classification,
  type ExitInfo,
  failed,
  type Invocation,
  type InvocationContext,
  num,
  obj,
  type ParsedLine,
  parseJsonObject,
  plainLines,
  str,
  tail,
  toolDetail,
  type Transcript,
} from './adapter.js';
import {
  clampRetryAt,
  DEFAULT_QUOTA_DELAY_MS,
  DEFAULT_RATE_LIMIT_DELAY_MS,
  parseDuration,
  parseWallClock,
} from './limits.js';
import { CODEX_PRICES, estimateCostUsd } from './prices.js';

export const codexAdapter: AgentAdapter = {
  type: 'codex',
  choosesSessionId: false,
  resumable: true,
  ignoredEvents: new Set(['item.started', 'item.updated']),

  invocation(ctx: InvocationContext): Invocation {
    const flags = [
      'exec',
      '--json',
      '--sandbox',
      'workspace-write',
      '--skip-git-repo-check',
      ...(ctx.config.model ? ['--model', ctx.config.model] : []),
      ...ctx.writableDirs.flatMap((d) => ['--add-dir', d]),
    ];
    if (ctx.resume) {
      return { file: ctx.bin, args: [...flags, 'resume', '--', ctx.resume.sessionId, ctx.resume.message], env: {} };
    }
    const prompt = ctx.run?.prompt ?? '';
    return {
      file: ctx.bin,
      args: [...flags, '--', ctx.systemPrompt ? `${ctx.systemPrompt}\n\n---\n\n${prompt}` : prompt],
      env: {},
    };
  },

  parseLine(line: string): ParsedLine | undefined {
    const ev = parseJsonObject(line);
    const type = str(ev?.type);
    if (ev === undefined || type === undefined) return undefined;
    const events: AgentEvent[] = [];
    if (type === 'thread.started') {
      const id = str(ev.thread_id);
      if (id) events.push({ kind: 'session', sessionId: id });
    } else if (type === 'item.started' || type === 'item.updated' || type === 'item.completed') {
      const item = obj(ev.item);
      const itemType = str(item?.type);
      if (itemType === 'agent_message' && type === 'item.completed') {
        events.push({ kind: 'text', text: str(item?.text) ?? '' });
      } else if (itemType === 'file_change' && type === 'item.completed' && str(item?.status) === 'completed') {
        const changes = Array.isArray(item?.changes) ? item.changes : [];
        events.push({ kind: 'files', paths: changes.map((c) => str(obj(c)?.path)).filter((p): p is string => !!p) });
      } else if (itemType === 'command_execution' || itemType === 'mcp_tool_call' || itemType === 'web_search') {
        const status = str(item?.status);
        const detail = toolDetail(item);
        events.push({
          kind: 'tool',
          name: itemType,
          status: status === 'completed' || status === 'failed' || status === 'declined' ? status : 'started',
          ...(detail ? { detail } : {}),
        });
      } else if (itemType === 'error') {
        events.push({ kind: 'error', message: str(item?.message) ?? 'error' });
      }
    } else if (type === 'turn.completed') {
      const usage = obj(ev.usage);
      events.push({
        kind: 'usage',
        inputTokens: num(usage?.input_tokens) ?? 0,
        cachedInputTokens: num(usage?.cached_input_tokens) ?? 0,
        outputTokens: num(usage?.output_tokens) ?? 0,
      });
      events.push({ kind: 'result', result: { ok: true, subtype: type } });
    } else if (type === 'turn.failed') {
      events.push({ kind: 'result', result: { ok: false, subtype: type, text: str(obj(ev.error)?.message) } });
    } else if (type === 'error') {
      events.push({ kind: 'error', message: str(ev.message) ?? 'error' });
    }
    return { type, events };
  },

  classify(t: Transcript, exit: ExitInfo, now: number): Classification {
    const r = t.result;
    const costUsd = estimateCostUsd(t, CODEX_PRICES);
    if (r?.ok) return { outcome: 'success', summary: t.lastText, costUsd };

    const stderr = withoutNoise(exit.stderrTail);
    // What ended the run decides: the failed turn's message, else the last error (earlier ones may be
    // retries of something else).
    const reason = [r?.text ?? t.errors.at(-1), stderr].filter((s) => !!s).join('\n');
    const text = [r?.text, ...t.errors.slice(-3), tail(stderr), tail(plainLines(exit.stdoutTail))]
      .filter((s): s is string => typeof s === 'string' && s !== '')
      .join('\n');
    if (USAGE_LIMIT.test(reason)) {
      const at = usageLimitReset(reason, now);
      return { outcome: 'quota_exhausted', retryAt: at ?? now + DEFAULT_QUOTA_DELAY_MS, error: tail(text), costUsd };
    }
    if (RATE_LIMIT.test(reason)) {
      const delay = rateLimitDelay(reason);
      return {
        outcome: 'rate_limited',
        retryAt: now + (delay ?? DEFAULT_RATE_LIMIT_DELAY_MS),
        error: tail(text),
        costUsd,
      };
    }
    if (!r && exit.signal) {
      return failed(exit, `codex was killed by ${exit.signal}${text ? `: ${tail(text)}` : ''}`, { costUsd });
    }
    if (!r && exit.exitCode === 0) {
      return failed(exit, `codex exited without finishing a turn${text ? `: ${tail(text)}` : ''}`);
    }
    return failed(exit, text ? tail(text) : undefined, { costUsd });
  },

  estimateCostUsd(t: Transcript): number | undefined {
    return estimateCostUsd(t, CODEX_PRICES);
  },

  isUnknownSession(t: Transcript, exit: ExitInfo): boolean {
    return /no rollout found|No saved session found/i.test(
      [t.result?.text ?? '', ...t.errors, exit.stderrTail].join('\n'),
    );
  },
};

/** A plan's usage limit (with or without a reset time), or an API key's exhausted quota. */
const USAGE_LIMIT = /you[’']ve hit your usage limit|usage limit reached|Quota exceeded\. Check your plan and billing/i;
const RATE_LIMIT = /exceeded retry limit, last status: 429|429 Too Many Requests|rate limit exceeded/i;

/** Lines Codex prints on stderr on every run; they say nothing about how it ended. */
const STDERR_NOISE = [
  /^Reading additional input from stdin\.\.\.$/,
  /^WARNING: proceeding, even though we could not create PATH aliases/,
];

function withoutNoise(stderr: string): string {
  return stderr
    .split('\n')
    .filter((l) => !STDERR_NOISE.some((re) => re.test(l.trim())))
    .join('\n')
    .trim();
}

/** The wait in a rate-limit text ("Please try again in 1.5s", as the API words it); undefined when none. */
export function rateLimitDelay(text: string): number | undefined {
  const m = /try again in\s*(\d+(?:\.\d+)?\s*(?:ms|s|seconds?))\b/i.exec(text);
  const delay = m ? parseDuration(m[1] ?? '') : undefined;
  return delay !== undefined && delay > 0 ? delay : undefined;
}

/**
 * The reset time in a Codex usage-limit text; undefined when it names none ("try again later"). 0.171 prints
 * "at <time>" or "at <date> <time>"; "in 3 days 6 hours" and "Try again Aug 18." are older releases' wording.
 */
export function usageLimitReset(text: string, now: number, zone?: string): number | undefined {
  const at = /try again at ((?:[A-Z][a-z]{2,8} \d{1,2}(?:st|nd|rd|th)?, \d{4},? )?\d{1,2}:\d{2}\s?[AP]M)/i.exec(text);
  if (at) {
    const when = parseWallClock(at[1] ?? '', now, zone);
    // The text has minutes only: a reset within the last minute is this one, not a stale date.
    if (when !== undefined) return when < now - 60_000 ? undefined : clampRetryAt(when, now);
  }
  const inText = /try again in ((?:\d+ days?\s*)?(?:\d+ hours?\s*)?(?:\d+ minutes?)?)/i.exec(text);
  const delay = inText ? parseDuration(inText[1] ?? '') : undefined;
  if (delay !== undefined) return clampRetryAt(now + delay, now);
  const day = /[Tt]ry again ([A-Z][a-z]{2,8} \d{1,2}(?:st|nd|rd|th)?)\b/.exec(text);
  if (day) {
    const when = parseWallClock(day[1] ?? '', now, zone);
    if (when !== undefined) return clampRetryAt(when, now);
  }
  return undefined;
}
