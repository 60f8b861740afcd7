/**
 * Gemini CLI (`gemini --prompt=…`), headless with `--output-format stream-json`.
 *
 * Facts this adapter relies on (checked against the real CLI 0.61.0, see test/activities/real-gemini.test.ts):
 * - coding runs need `--approval-mode yolo` (headless turns every "ask" into a denial) and `--skip-trust`
 *   (an untrusted directory exits 55 and silently downgrades the approval mode);
 * - the session id can be chosen up front (`--session-id <uuid>`); `-r <uuid>` with a new prompt continues
 *   the session (per project directory, under `$HOME/.gemini/tmp/<dir name>/chats/`); an unknown id exits
 *   42 with `Invalid session identifier "…"` on stderr and nothing on stdout;
 * - there is no system-prompt flag that appends, so the instructions go in front of the prompt, which is
 *   passed as `--prompt=<text>` so that a prompt starting with "-" is not read as a flag;
 * - `--model` takes a model id or an alias (`auto`, the default, asks a flash-lite router per prompt;
 *   `pro`, `flash`, `flash-lite`); `init.model` is what was asked for (`auto`), not what answered;
 * - the terminal event is `{"type":"result","status":"success"|"error","error":{"type","message"},"stats"}`
 *   with the tokens of the whole run (`stats` is the only place tokens appear, so a budget cannot be
 *   enforced while the CLI runs). For API errors `error.type` is `"unknown"`: the error class
 *   (`RetryableQuotaError`, `TerminalQuotaError`) is only in stderr's "Error when talking to Gemini API …
 *   <class>: <message>" report. The message reads `[API Error: <message>]`, for a 429 followed by "Please
 *   wait and try again later"; a retryable one ends "Suggested retry after <RetryInfo.retryDelay>.", a daily
 *   quota is "You have exhausted your daily quota on this model." (the API's "Please retry in …" only in
 *   stderr). The exit code is the HTTP status modulo 256 (429 → 173), 53 for the session-turn limit.
 * - the CLI retries 429s and 5xx itself (`general.maxAttempts` in settings.json, default and most 10),
 *   waiting the larger of the server's retryDelay and its own backoff (5 s doubling to 30 s, plus jitter);
 *   a daily quota or a retryDelay over 300 s is not retried.
 * - No cost is reported, only tokens: the cost is estimated from a price table.
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
import { clampRetryAt, DEFAULT_QUOTA_DELAY_MS, DEFAULT_RATE_LIMIT_DELAY_MS, parseDuration } from './limits.js';
import { estimateCostUsd, GEMINI_PRICES } from './prices.js';

export const geminiAdapter: AgentAdapter = {
  type: 'gemini',
  choosesSessionId: true,
  resumable: true,
  ignoredEvents: new Set(['tool_result']),

  invocation(ctx: InvocationContext): Invocation {
    const args: string[] = [];
    if (ctx.resume) {
      args.push('-r', ctx.resume.sessionId, `--prompt=${ctx.resume.message}`);
    } else {
      const prompt = ctx.run?.prompt ?? '';
      args.push(`--prompt=${ctx.systemPrompt ? `${ctx.systemPrompt}\n\n---\n\n${prompt}` : prompt}`);
      if (ctx.run?.sessionId) args.push('--session-id', ctx.run.sessionId);
    }
    args.push('--output-format', 'stream-json', '--approval-mode', 'yolo', '--skip-trust');
    if (ctx.config.model) args.push('--model', ctx.config.model);
    for (const dir of ctx.writableDirs) args.push('--include-directories', dir);
    return { file: ctx.bin, args, env: {} };
  },

  parseLine(line: string): ParsedLine | undefined {
    const ev = parseJsonObject(line);
    const type = str(ev?.type);
    if (ev === undefined || type === undefined) return undefined;
    const events: AgentEvent[] = [];
    switch (type) {
      case 'init': {
        const sessionId = str(ev.session_id);
        if (sessionId) events.push({ kind: 'session', sessionId, model: str(ev.model) });
        break;
      }
      case 'message':
        if (ev.role === 'assistant' && typeof ev.content === 'string') {
          events.push({ kind: 'text', text: ev.content, delta: ev.delta === true });
        }
        break;
      case 'tool_use': {
        const detail = toolDetail(ev.parameters);
        events.push({
          kind: 'tool',
          name: str(ev.tool_name) ?? 'tool',
          status: 'started',
          ...(detail ? { detail } : {}),
        });
        break;
      }
      case 'tool_result':
        events.push({
          kind: 'tool',
          name: str(ev.tool_id) ?? 'tool',
          status: ev.status === 'error' ? 'failed' : 'completed',
        });
        break;
      case 'error':
        events.push({ kind: 'error', message: str(ev.message) ?? 'error' });
        break;
      case 'result': {
        const stats = obj(ev.stats);
        if (stats) {
          events.push({
            kind: 'usage',
            inputTokens: num(stats.input_tokens) ?? 0,
            outputTokens: num(stats.output_tokens) ?? 0,
            cachedInputTokens: num(stats.cached) ?? 0,
          });
        }
        const error = obj(ev.error);
        events.push({
          kind: 'result',
          result: {
            ok: ev.status === 'success',
            subtype: str(error?.type) ?? str(ev.status),
            text: str(error?.message) ?? str(ev.response),
          },
        });
        break;
      }
      default:
        break;
    }
    return { type, events };
  },

  classify(t: Transcript, exit: ExitInfo, now: number): Classification {
    const r = t.result;
    const costUsd = estimateCostUsd(t, GEMINI_PRICES);
    if (r?.ok) return { outcome: 'success', summary: r.text ?? t.lastText, costUsd };

    // What the run said last: the result's message, else (no result: a crash, an early exit) the ends of
    // stderr and of stdout's plain lines.
    const said = [r?.text, ...t.errors.slice(-3)].filter((s): s is string => !!s).join('\n');
    const text = said || [tail(exit.stderrTail), tail(plainLines(exit.stdoutTail))].filter((s) => s !== '').join('\n');
    const errorClass = r?.subtype?.endsWith('Error') ? r.subtype : lastQuotaErrorClass(exit.stderrTail);
    const limitText = r ? said : `${exit.stderrTail}\n${text}`;
    // The final error's delay, else the last one stderr shows (a daily quota's "Please retry in …").
    const delay = lastRetryDelay(said) ?? lastRetryDelay(exit.stderrTail);

    if (errorClass === 'TerminalQuotaError' || TERMINAL_QUOTA.test(limitText)) {
      return {
        outcome: 'quota_exhausted',
        retryAt: delay === undefined ? now + DEFAULT_QUOTA_DELAY_MS : clampRetryAt(now + delay, now),
        error: tail(text),
        costUsd,
      };
    }
    if (errorClass === 'RetryableQuotaError' || RETRYABLE_QUOTA.test(limitText) || exit.exitCode === 429 % 256) {
      return {
        outcome: 'rate_limited',
        retryAt: now + (delay ?? DEFAULT_RATE_LIMIT_DELAY_MS),
        error: tail(text),
        costUsd,
      };
    }
    const known = EXIT_CODES[exit.exitCode ?? -1];
    const kind = r?.subtype?.endsWith('Error') ? `${r.subtype}: ` : '';
    const message = text ? tail(`${kind}${text}`) : undefined;
    if (known) return failed(exit, message ? `${known}: ${message}` : known, { costUsd });
    if (!r && exit.exitCode === 0 && !exit.signal) {
      return failed(exit, `gemini exited without a result event${message ? `: ${message}` : ''}`, { costUsd });
    }
    return failed(exit, message, { costUsd });
  },

  estimateCostUsd(t: Transcript): number | undefined {
    return estimateCostUsd(t, GEMINI_PRICES);
  },

  isUnknownSession(t: Transcript, exit: ExitInfo): boolean {
    return /Invalid session identifier|No (?:previous )?sessions? found/i.test(
      [t.result?.text ?? '', exit.stderrTail].join('\n'),
    );
  },
};

/** A used-up quota the CLI does not retry (its TerminalQuotaError texts and reasons). */
const TERMINAL_QUOTA =
  /TerminalQuotaError|exhausted your daily quota|exhausted your capacity|capacity exceeded|MODEL_CAPACITY_EXHAUSTED|MODEL_CAPACITY_EXCEEDED|QUOTA_EXHAUSTED|INSUFFICIENT_G1_CREDITS_BALANCE/i;
/** A rate limit it gave up retrying ("Please wait and try again later" follows every 429 it reports). */
const RETRYABLE_QUOTA =
  /RetryableQuotaError|Please wait and try again later|Suggested retry after|Please retry in|status 429|RESOURCE_EXHAUSTED/i;

/** Gemini's exit codes (API errors exit with their HTTP status modulo 256). */
const EXIT_CODES: Record<number, string> = {
  41: 'authentication failed (exit 41)',
  42: 'invalid input (exit 42)',
  44: 'sandbox error (exit 44)',
  52: 'configuration error (exit 52)',
  53: 'reached the maximum session turns (exit 53)',
  54: 'a tool failed fatally (exit 54)',
  55: 'the workspace is not trusted (exit 55)',
};

/** The quota error class of the turn failure stderr reported last ("Error when talking to Gemini API … RetryableQuotaError: …"). */
function lastQuotaErrorClass(stderr: string): string | undefined {
  let found: string | undefined;
  for (const m of stderr.matchAll(
    /Error when talking to Gemini API[^\n]*?\b(TerminalQuotaError|RetryableQuotaError):/g,
  )) {
    found = m[1];
  }
  return found;
}

/** The last "Suggested retry after 34.07s" / "Please retry in 12005.5s" of `text`, in milliseconds. */
function lastRetryDelay(text: string): number | undefined {
  let found: string | undefined;
  for (const m of text.matchAll(/(?:Suggested retry after|Please retry in)\s+((?:[\d.]+(?:ms|h|m|s))+)/gi))
    found = m[1];
  return found === undefined ? undefined : parseDuration(found);
}
