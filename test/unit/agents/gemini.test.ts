import { describe, expect, it } from 'vitest';
import type { InvocationContext } from '../../../activities/agents/adapter.js';
import { geminiAdapter } from '../../../activities/agents/gemini.js';
import { DEFAULT_QUOTA_DELAY_MS } from '../../../activities/agents/limits.js';
import { exitInfo, NOW, transcriptOf } from './transcripts.js';

const base: InvocationContext = {
  bin: '/opt/bin/cli',
  config: { type: 'gemini', model: 'gemini-2.5-pro' },
  cwd: '/data/sandboxes/t1',
  systemPrompt: 'Ask via the file.',
  writableDirs: ['/data/executions/t1/e1'],
  isRoot: true,
};

describe('gemini adapter', () => {
  const classify = (name: string, exitCode: number, stderr = '') => {
    const { t, stdoutTail } = transcriptOf(geminiAdapter, name);
    return { t, verdict: geminiAdapter.classify(t, exitInfo(exitCode, stderr, stdoutTail), NOW) };
  };

  it('success: session from init, the summary from the assistant deltas after the last tool, an estimated cost', () => {
    const { t, verdict } = classify('success', 0);
    expect(t.sessionId).toBe('b3c5d7e9-1f2a-4b4c-8d6e-7f8091a2b3c4');
    expect(t).toMatchObject({ model: 'gemini-2.5-pro', inputTokens: 8700, outputTokens: 420 });
    // 8700 × $1.25/M + 420 × $10/M
    expect(verdict).toEqual({ outcome: 'success', summary: 'Added feature.txt with three lines.', costUsd: 0.015075 });
  });

  it('RetryableQuotaError: rate_limited after "Please retry in 34.074824224s"', () => {
    expect(classify('rate_limit', 1).verdict).toMatchObject({ outcome: 'rate_limited', retryAt: NOW + 34_075 });
  });

  it('TerminalQuotaError (daily, no time): quota_exhausted for the default 5 hours', () => {
    expect(classify('usage_limit', 1).verdict).toMatchObject({
      outcome: 'quota_exhausted',
      retryAt: NOW + DEFAULT_QUOTA_DELAY_MS,
      error: expect.stringContaining('exhausted your daily quota') as unknown,
    });
  });

  it('text mode errors on stderr, exit codes without a result event', () => {
    const { t } = classify('crash', 1);
    expect(
      geminiAdapter.classify(t, exitInfo(1, 'TerminalQuotaError: You have exhausted your capacity'), NOW).outcome,
    ).toBe('quota_exhausted');
    expect(
      geminiAdapter.classify(t, exitInfo(1, 'Attempt 3 failed with status 429. Please retry in 900ms'), NOW),
    ).toMatchObject({
      outcome: 'rate_limited',
      retryAt: NOW + 900,
    });
    expect(classify('max_turns', 53).verdict.error).toMatch(/^reached the maximum session turns \(exit 53\)/);
    expect(geminiAdapter.classify(t, exitInfo(55, 'not trusted'), NOW).error).toContain('not trusted (exit 55)');
    expect(classify('garbage', 0).verdict).toMatchObject({ outcome: 'failed' });
  });

  it('command lines: --prompt=<instructions + prompt>, yolo, --skip-trust, the session id; resume with -r', () => {
    expect(
      geminiAdapter.invocation({ ...base, run: { prompt: '-p looks like a flag', sessionId: 'sid' } }).args,
    ).toEqual([
      '--prompt=Ask via the file.\n\n---\n\n-p looks like a flag',
      '--session-id',
      'sid',
      '--output-format',
      'stream-json',
      '--approval-mode',
      'yolo',
      '--skip-trust',
      '--model',
      'gemini-2.5-pro',
      '--include-directories',
      '/data/executions/t1/e1',
    ]);
    expect(
      geminiAdapter.invocation({ ...base, resume: { sessionId: 'sid', message: 'Use sqlite' } }).args.slice(0, 3),
    ).toEqual(['-r', 'sid', '--prompt=Use sqlite']);
  });
});
