/**
 * Claude Code (`claude -p`), headless with `--output-format stream-json --verbose`.
 *
 * Facts this adapter relies on (checked against the real CLI 2.1.197, see test/activities/real-claude.test.ts):
 * - the session id can be chosen up front (`--session-id <uuid>`) and is repeated on every event;
 *   `--resume <id>` with a new prompt continues the same session, and every flag must be passed again;
 * - API failures end with `{"type":"result","subtype":"success","is_error":true,"api_error_status":429}`
 *   and exit code 1: the result decides, not the exit code;
 * - the CLI retries API errors itself (CLAUDE_CODE_MAX_RETRIES) and reports each wait as
 *   `system/api_retry` with `retry_delay_ms`, which is the server's retry-after when it sent one (up to
 *   60 s; a longer retry-after makes the CLI give up at once without saying how long it was);
 * - a spent subscription quota (a 429 with `anthropic-ratelimit-unified-status: rejected`, `…-reset` in
 *   epoch seconds and `…-representative-claim`, read only when the CLI is logged in to a claude.ai
 *   subscription) shows as a `rate_limit_event` with `status:"rejected"` and `resetsAt` before the failing
 *   result, whose text says "You've hit your session limit · resets 6pm (UTC)"; the CLI does not retry it.
 *   With an API key the same 429 is a plain rate limit;
 * - `--max-budget-usd` is checked after each model call against the CLI's own price of the tokens; the run
 *   ends with `subtype:"error_max_budget_usd"` and `errors: ["Reached maximum budget ($0.5)"]`;
 * - the agent's messages and tool calls come as separate `assistant` lines; messages the CLI writes itself
 *   (an API error's text) have the model `<synthetic>`. (In a JSON string every quote is escaped, so
 *   `"type":"text"` and `"model":"<synthetic>"` in a raw line are the message's own fields.)
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
import { clampRetryAt, DEFAULT_QUOTA_DELAY_MS, DEFAULT_RATE_LIMIT_DELAY_MS, parseWallClock } from './limits.js';

export const DEFAULT_PERMISSION_MODE = 'bypassPermissions';

export const claudeAdapter: AgentAdapter = {
  type: 'claude',
  choosesSessionId: true,
  resumable: true,
  ignoredEvents: new Set(['assistant', 'user', 'stream_event']),
  // A text block not written by the CLI itself: the last one is a failed run's summary.
  holdsMessage: (type, line) =>
    type === 'assistant' && line.includes('"type":"text"') && !line.includes('"model":"<synthetic>"'),

  invocation(ctx: InvocationContext): Invocation {
    const { config } = ctx;
    const args = ['-p', '--output-format', 'stream-json', '--verbose'];
    if (ctx.resume) args.push('--resume', ctx.resume.sessionId);
    else if (ctx.run?.sessionId) args.push('--session-id', ctx.run.sessionId);
    if (config.model) args.push('--model', config.model);
    args.push('--permission-mode', config.permissionMode ?? DEFAULT_PERMISSION_MODE);
    if (config.allowedTools && config.allowedTools.length > 0)
      args.push('--allowedTools', config.allowedTools.join(','));
    if (config.maxBudgetUsd !== undefined) args.push('--max-budget-usd', String(config.maxBudgetUsd));
    for (const dir of ctx.writableDirs) args.push('--add-dir', dir);
    if (ctx.systemPrompt) args.push('--append-system-prompt', ctx.systemPrompt);
    // After `--`, a prompt that starts with "-" is still the prompt.
    args.push('--', ctx.resume?.message ?? ctx.run?.prompt ?? '');
    // As root, bypassPermissions is refused unless the CLI is told it runs in a sandbox.
    return { file: ctx.bin, args, env: ctx.isRoot ? { IS_SANDBOX: '1' } : {} };
  },

  parseLine(line: string): ParsedLine | undefined {
    const ev = parseJsonObject(line);
    const type = str(ev?.type);
    if (ev === undefined || type === undefined) return undefined;
    const subtype = str(ev.subtype);
    const events: AgentEvent[] = [];
    const sessionId = str(ev.session_id);
    if (sessionId) events.push({ kind: 'session', sessionId, model: type === 'system' ? str(ev.model) : undefined });

    if (type === 'assistant') {
      const message = obj(ev.message);
      // The CLI's own error texts are not the agent's messages (the result carries them).
      const synthetic = message?.model === '<synthetic>';
      const content = message?.content;
      for (const block of Array.isArray(content) ? content : []) {
        const b = obj(block);
        if (b?.type === 'text' && typeof b.text === 'string' && !synthetic) events.push({ kind: 'text', text: b.text });
        if (b?.type === 'tool_use') {
          const detail = toolDetail(b.input);
          events.push({ kind: 'tool', name: str(b.name) ?? 'tool', status: 'started', ...(detail ? { detail } : {}) });
        }
      }
    } else if (type === 'system' && subtype === 'api_retry') {
      const status = num(ev.error_status);
      events.push({ kind: 'retry', status: status ?? null, delayMs: num(ev.retry_delay_ms), attempt: num(ev.attempt) });
    } else if (type === 'rate_limit_event') {
      const info = obj(ev.rate_limit_info);
      const resetsAt = num(info?.resetsAt);
      events.push({
        kind: 'rate_limit',
        status: str(info?.status) ?? 'unknown',
        resetsAt: resetsAt === undefined ? undefined : resetsAt * 1000,
        window: str(info?.rateLimitType),
      });
    } else if (type === 'result') {
      const errors = Array.isArray(ev.errors) ? ev.errors.filter((e): e is string => typeof e === 'string') : undefined;
      const status = ev.api_error_status;
      events.push({
        kind: 'result',
        result: {
          ok: subtype === 'success' && ev.is_error !== true,
          subtype,
          text: str(ev.result),
          errors,
          costUsd: num(ev.total_cost_usd),
          apiErrorStatus: typeof status === 'number' ? status : status === null ? null : undefined,
          terminalReason: str(ev.terminal_reason),
          numTurns: num(ev.num_turns),
        },
      });
    }
    return { type: subtype && type === 'system' ? `system/${subtype}` : type, events };
  },

  classify(t: Transcript, exit: ExitInfo, now: number): Classification {
    const r = t.result;
    const costUsd = r?.costUsd;
    if (r?.ok) return { outcome: 'success', summary: r.text ?? t.lastText, costUsd };

    // A rejected usage limit arrives before the failing result and carries the reset time.
    if (t.rateLimit?.status === 'rejected') {
      const at = t.rateLimit.resetsAt;
      return {
        outcome: 'quota_exhausted',
        retryAt: at === undefined ? now + DEFAULT_QUOTA_DELAY_MS : clampRetryAt(at, now),
        error: resultText(r) ?? `usage limit reached (${t.rateLimit.window ?? 'unknown window'})`,
        costUsd,
      };
    }

    if (r?.subtype === 'error_max_budget_usd') {
      return {
        outcome: 'budget_exceeded',
        error: resultText(r) ?? 'the task budget (--max-budget-usd) was spent',
        costUsd,
      };
    }
    if (r?.subtype === 'error_max_turns')
      return failed(exit, resultText(r) ?? 'reached the maximum number of turns', { costUsd });

    // The result's text when there is one; otherwise whatever the CLI printed.
    const text = resultText(r) ?? [tail(exit.stderrTail), tail(plainLines(exit.stdoutTail))].filter(Boolean).join('\n');
    const quota = quotaReset(text, now);
    if (quota !== undefined) {
      return { outcome: 'quota_exhausted', retryAt: quota ?? now + DEFAULT_QUOTA_DELAY_MS, error: tail(text), costUsd };
    }
    if (r?.apiErrorStatus === 429 || r?.apiErrorStatus === 529 || RATE_LIMIT_TEXT.test(text)) {
      return {
        outcome: 'rate_limited',
        retryAt: now + (t.retryDelayMs ?? DEFAULT_RATE_LIMIT_DELAY_MS),
        error: tail(text),
        costUsd,
      };
    }
    if (r === undefined && exit.exitCode === 0 && !exit.signal) {
      return failed(exit, `claude exited without a result event${text ? `: ${tail(text)}` : ''}`);
    }
    return failed(exit, text || undefined, { costUsd });
  },

  isUnknownSession(t: Transcript, exit: ExitInfo): boolean {
    return UNKNOWN_SESSION.test([resultText(t.result) ?? '', exit.stderrTail].join('\n'));
  },
};

const UNKNOWN_SESSION = /No conversation found with session ID/i;
const RATE_LIMIT_TEXT =
  /API Error: Request rejected \(429\)|rate[_ ]limit|overloaded_error|\bOverloaded\b|API Error: 529/i;
const QUOTA_WITH_RESET =
  /(?:usage limit reached\|(\d{9,11}))|(?:(?:you[’']ve hit your (?:[\w' ]+ )?limit|(?:5-hour|session|weekly) limit reached)\s*[·∙]\s*resets\s+([^()·∙\n]+?)\s*(?:\(([A-Za-z_/+-]+)\))?\s*(?:[·∙]|$))/im;
const QUOTA_WITHOUT_RESET =
  /you[’']ve (?:hit|reached) your [\w' ]*limit|(?:usage|5-hour|session|weekly) limit reached|limit reached – contact an admin/i;

function resultText(r: Transcript['result']): string | undefined {
  if (r === undefined) return undefined;
  const parts = [r.text, ...(r.errors ?? [])].filter((s): s is string => typeof s === 'string' && s !== '');
  return parts.length > 0 ? parts.join('\n') : undefined;
}

/**
 * Claude's quota texts: undefined when `text` is not one, null for a quota with no readable reset time,
 * else the reset instant.
 */
export function quotaReset(text: string, now: number, zone?: string): number | null | undefined {
  const m = QUOTA_WITH_RESET.exec(text);
  if (m) {
    if (m[1] !== undefined) return clampRetryAt(Number(m[1]) * 1000, now);
    const at = parseWallClock(m[2] ?? '', now, m[3] ?? zone);
    return at === undefined ? null : clampRetryAt(at, now);
  }
  return QUOTA_WITHOUT_RESET.test(text) ? null : undefined;
}
