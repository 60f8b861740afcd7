/**
 * Codex CLI (`codex exec --json`).
 *
 * - The session is the thread: `thread.started.thread_id`, resumed with `codex exec resume <id> <prompt>`,
 *   which remembers no flags and takes no `--sandbox`/`--add-dir`: those go in as `-c` overrides.
 * - `--sandbox workspace-write` confines writes to the checkout, so the question file's directory is added
 *   as a writable root. Approvals are never asked in exec mode.
 * - No system-prompt flag: the instructions go in front of the prompt.
 * - `error` events are often not fatal ("Reconnecting... 2/5"); a turn ends `turn.completed` or
 *   `turn.failed`. Every failure exits 1, so the events decide. Usage limits read "You've hit your usage
 *   limit. Try again at 3:28 PM." (or "in 3 days 6 hours", or a date); rate limits "exceeded retry limit,
 *   last status: 429 Too Many Requests".
 * - A resume of an unknown id prints "no rollout found for thread id <id>" on stderr and exits 1.
 * - Tokens come per turn (`turn.completed.usage`), so a budget can be enforced between turns.
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
    const model = ctx.config.model ? ['--model', ctx.config.model] : [];
    if (ctx.resume) {
      return {
        file: ctx.bin,
        args: [
          'exec',
          'resume',
          '--json',
          '--skip-git-repo-check',
          ...model,
          '-c',
          'sandbox_mode="workspace-write"',
          '-c',
          `sandbox_workspace_write.writable_roots=${JSON.stringify(ctx.writableDirs)}`,
          '--',
          ctx.resume.sessionId,
          ctx.resume.message,
        ],
        env: {},
      };
    }
    const prompt = ctx.run?.prompt ?? '';
    return {
      file: ctx.bin,
      args: [
        'exec',
        '--json',
        '--sandbox',
        'workspace-write',
        '--skip-git-repo-check',
        ...model,
        ...ctx.writableDirs.flatMap((d) => ['--add-dir', d]),
        '--',
        ctx.systemPrompt ? `${ctx.systemPrompt}\n\n---\n\n${prompt}` : prompt,
      ],
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
      } else if (itemType === 'file_change' && type === 'item.completed') {
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

    const text = [r?.text, ...t.errors.slice(-3), tail(exit.stderrTail), tail(plainLines(exit.stdoutTail))]
      .filter((s): s is string => typeof s === 'string' && s !== '')
      .join('\n');
    if (USAGE_LIMIT.test(text)) {
      const at = usageLimitReset(text, now);
      return { outcome: 'quota_exhausted', retryAt: at ?? now + DEFAULT_QUOTA_DELAY_MS, error: tail(text), costUsd };
    }
    if (RATE_LIMIT.test(text)) {
      return { outcome: 'rate_limited', retryAt: now + DEFAULT_RATE_LIMIT_DELAY_MS, error: tail(text), costUsd };
    }
    if (!r && exit.exitCode === 0 && !exit.signal) {
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

const USAGE_LIMIT = /you[’']ve hit your usage limit|usage limit reached/i;
const RATE_LIMIT = /exceeded retry limit, last status: 429|429 Too Many Requests|rate limit/i;

/** The reset time in a Codex usage-limit text; undefined when it names none ("try again later"). */
export function usageLimitReset(text: string, now: number, zone?: string): number | undefined {
  const at = /try again at ((?:[A-Z][a-z]{2,8} \d{1,2}(?:st|nd|rd|th)?, \d{4},? )?\d{1,2}:\d{2}\s?[AP]M)/i.exec(text);
  if (at) {
    const when = parseWallClock(at[1] ?? '', now, zone);
    if (when !== undefined) return when < now ? undefined : clampRetryAt(when, now);
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
