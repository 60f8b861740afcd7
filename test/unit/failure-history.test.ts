import { describe, expect, it } from 'vitest';
import { MAX_ERROR_CHARS, MAX_LISTED_ATTEMPTS, withFailureHistory } from '../../workflows/failure-history.js';
import type { AgentConfig, Execution } from '../../workflows/types.js';

function execution(n: number, status: Execution['status'], error?: string): Execution {
  return {
    id: `e${n}`,
    taskId: 't1',
    status,
    startTime: `2026-11-0${n}T09:0${n}:30.000Z`,
    ...(error === undefined ? {} : { error }),
  };
}

describe('withFailureHistory', () => {
  const agent: AgentConfig = { type: 'claude', model: 'sonnet', systemPromptAppend: 'Use tabs.' };

  it('prepends FAILED and TIMED_OUT errors in the seed format, keeping the existing append', () => {
    const result = withFailureHistory(agent, [
      execution(1, 'FAILED', 'npm test: 3 failures'),
      execution(2, 'SUCCEEDED'),
      execution(3, 'TIMED_OUT', 'execution timed out'),
      execution(4, 'CANCELLED', 'execution cancelled'),
      execution(5, 'FAILED', ''),
    ]);
    expect(result.systemPromptAppend).toBe(
      '## Prior Attempt History\n\n' +
        'This task has failed before. Do not repeat the same mistakes.\n\n' +
        '**Attempt 1** (2026-11-01 09:01 UTC) — FAILED:\nnpm test: 3 failures\n\n' +
        '**Attempt 2** (2026-11-03 09:03 UTC) — TIMED_OUT:\nexecution timed out\n\n' +
        '---\n\n' +
        'Use tabs.',
    );
    expect(result).toMatchObject({ type: 'claude', model: 'sonnet' });
  });

  it('returns the config unchanged (and does not mutate it) when nothing failed', () => {
    const executions = [execution(1, 'SUCCEEDED'), execution(2, 'FAILED')];
    expect(withFailureHistory(agent, executions)).toBe(agent);
    expect(withFailureHistory(agent, [])).toBe(agent);
    const copy = withFailureHistory(agent, [execution(1, 'FAILED', 'x')]);
    expect(copy).not.toBe(agent);
    expect(agent.systemPromptAppend).toBe('Use tabs.');
  });

  it('works without an existing append', () => {
    const result = withFailureHistory({ type: 'gemini' }, [execution(1, 'FAILED', 'boom')]);
    expect(result.systemPromptAppend?.endsWith('boom\n\n---\n\n')).toBe(true);
  });

  it('lists only the most recent attempts, numbered as they happened, and keeps the end of long errors', () => {
    const many = Array.from({ length: MAX_LISTED_ATTEMPTS + 3 }, (_, i) =>
      execution((i % 9) + 1, 'FAILED', i === MAX_LISTED_ATTEMPTS + 2 ? `${'x'.repeat(5_000)}LAST LINE` : `err ${i}`),
    );
    const text = withFailureHistory({ type: 'codex' }, many).systemPromptAppend ?? '';
    expect(text).toContain('(3 earlier failed attempts not shown.)');
    expect(text).not.toContain('**Attempt 3**');
    expect(text).toContain('**Attempt 4**');
    expect(text).toContain(`**Attempt ${MAX_LISTED_ATTEMPTS + 3}**`);
    expect(text).toContain('LAST LINE');
    const longest = Math.max(...text.split('\n').map((l) => l.length));
    expect(longest).toBeLessThanOrEqual(MAX_ERROR_CHARS);
  });

  it('is deterministic: the same input gives the same text', () => {
    const executions = [execution(1, 'FAILED', 'a'), execution(2, 'TIMED_OUT', 'b')];
    expect(withFailureHistory(agent, executions)).toEqual(withFailureHistory(agent, executions));
  });
});
