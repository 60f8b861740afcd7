/**
 * Gemini CLI (`gemini --prompt=…`), headless with `--output-format stream-json`.
 *
 * - Coding runs need `--approval-mode yolo` (headless turns every "ask" into a denial) and `--skip-trust`
 *   (an untrusted directory exits 55 and silently downgrades the approval mode).
 * - There is no system-prompt flag that appends, so the instructions go in front of the prompt.
 * - The prompt is passed as `--prompt=<text>` so that a prompt starting with "-" is not read as a flag.
 * - The terminal event is `{"type":"result","status":"success"|"error","error":{"type","message"}}`; the
 *   error class says what happened: `TerminalQuotaError` (quota; daily quotas have no reset time),
 *   `RetryableQuotaError` ("Please retry in 34.07s" / "Suggested retry after 900ms"), others fail.
 * - No cost is reported, only tokens, at the end: the cost is estimated from a price table.
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
        const files = obj(stats?.files);
        events.push({
          kind: 'result',
          result: {
            ok: ev.status === 'success',
            subtype: str(error?.type) ?? str(ev.status),
            text: str(error?.message) ?? str(ev.response),
            linesAdded: num(files?.totalLinesAdded),
            linesRemoved: num(files?.totalLinesRemoved),
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

    const text = [r?.text, tail(exit.stderrTail), tail(plainLines(exit.stdoutTail)), ...t.errors.slice(-3)]
      .filter((s): s is string => typeof s === 'string' && s !== '')
      .join('\n');
    const kind = r?.subtype ?? '';
    const delay = retryDelay(text);

    if (kind === 'TerminalQuotaError' || (!r && TERMINAL_QUOTA.test(text))) {
      return {
        outcome: 'quota_exhausted',
        retryAt: delay === undefined ? now + DEFAULT_QUOTA_DELAY_MS : clampRetryAt(now + delay, now),
        error: tail(text),
        costUsd,
      };
    }
    if (kind === 'RetryableQuotaError' || (!r && RETRYABLE_QUOTA.test(text))) {
      return {
        outcome: 'rate_limited',
        retryAt: now + (delay ?? DEFAULT_RATE_LIMIT_DELAY_MS),
        error: tail(text),
        costUsd,
      };
    }
    if (!r) {
      const known = EXIT_CODES[exit.exitCode ?? -1];
      if (known) return failed(exit, `${known}${text ? `: ${tail(text)}` : ''}`, { costUsd });
      if (exit.exitCode === 0 && !exit.signal)
        return failed(exit, `gemini exited without a result event${text ? `: ${tail(text)}` : ''}`);
    }
    return failed(exit, text ? tail(`${kind ? `${kind}: ` : ''}${text}`) : undefined, { costUsd });
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

const TERMINAL_QUOTA =
  /TerminalQuotaError|exhausted your daily quota|exhausted your capacity|capacity exceeded|MODEL_CAPACITY_EXHAUSTED|QUOTA_EXHAUSTED/i;
const RETRYABLE_QUOTA = /RetryableQuotaError|Please retry in|Suggested retry after|status 429|RESOURCE_EXHAUSTED/i;

/** Gemini's documented exit codes, for runs that ended without a result event. */
const EXIT_CODES: Record<number, string> = {
  41: 'authentication failed (exit 41)',
  42: 'invalid input (exit 42)',
  44: 'sandbox error (exit 44)',
  52: 'configuration error (exit 52)',
  53: 'reached the maximum session turns (exit 53)',
  54: 'a tool failed fatally (exit 54)',
  55: 'the workspace is not trusted (exit 55)',
};

/** "Suggested retry after 34.07s" / "Please retry in 900ms" → milliseconds. */
function retryDelay(text: string): number | undefined {
  const m = /(?:Suggested retry after|Please retry in)\s+([\d.]+\s*(?:ms|s|m|h))/i.exec(text);
  return m ? parseDuration(m[1] ?? '') : undefined;
}
