/**
 * `withFailureHistory`: before a task runs again, the errors of its earlier failed runs are
 * prepended to the agent's system-prompt append, so the agent knows what went wrong and does not repeat it.
 *
 * A pure function of the agent config and the task's executions (oldest first, as the store lists them),
 * with no clock or randomness: workflow code may call it, and replays give the same text. Two bounds keep
 * the prompt small when a task has failed many times: only the most recent attempts are listed, and each
 * error is cut to a size.
 */
import type { AgentConfig, Execution } from './types.js';

/** How many failed attempts are listed at most (the most recent ones). */
export const MAX_LISTED_ATTEMPTS = 10;
/** How many characters of one attempt's error are kept (its end: the last lines say most). */
export const MAX_ERROR_CHARS = 2_000;

const FAILED_STATUSES: ReadonlySet<Execution['status']> = new Set(['FAILED', 'TIMED_OUT']);

/**
 * A copy of `agent` whose `systemPromptAppend` starts with the history of the failed (FAILED or
 * TIMED_OUT, with an error) executions among `executions`; `agent` itself when there are none.
 */
export function withFailureHistory(agent: AgentConfig, executions: readonly Execution[]): AgentConfig {
  const failures = executions.filter((e) => FAILED_STATUSES.has(e.status) && e.error !== undefined && e.error !== '');
  if (failures.length === 0) return agent;

  const first = Math.max(0, failures.length - MAX_LISTED_ATTEMPTS);
  let text = '## Prior Attempt History\n\n';
  text += 'This task has failed before. Do not repeat the same mistakes.\n\n';
  if (first > 0) text += `(${first} earlier failed attempt${first === 1 ? '' : 's'} not shown.)\n\n`;
  failures.slice(first).forEach((f, i) => {
    text += `**Attempt ${first + i + 1}** (${formatStart(f.startTime)}) — ${f.status}:\n${clip(f.error ?? '')}\n\n`;
  });
  text += '---\n\n';

  return { ...agent, systemPromptAppend: text + (agent.systemPromptAppend ?? '') };
}

/** "2026-12-04 15:04 UTC"; an unparsable time is shown as it is. */
function formatStart(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return iso;
  return `${new Date(ms).toISOString().slice(0, 16).replace('T', ' ')} UTC`;
}

function clip(error: string): string {
  return error.length <= MAX_ERROR_CHARS ? error : `…${error.slice(error.length - MAX_ERROR_CHARS + 1)}`;
}
