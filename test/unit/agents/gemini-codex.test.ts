import { describe, expect, it } from 'vitest';
import type { InvocationContext } from '../../../activities/agents/adapter.js';
import { codexAdapter, usageLimitReset } from '../../../activities/agents/codex.js';
import { geminiAdapter } from '../../../activities/agents/gemini.js';
import { DEFAULT_QUOTA_DELAY_MS, DEFAULT_RATE_LIMIT_DELAY_MS } from '../../../activities/agents/limits.js';
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

describe('codex adapter', () => {
  const classify = (name: string, exitCode: number, stderr = '') => {
    const { t, stdoutTail } = transcriptOf(codexAdapter, name);
    return { t, verdict: codexAdapter.classify(t, exitInfo(exitCode, stderr, stdoutTail), NOW) };
  };

  it('success: the thread id, the last agent message, changed files, an estimated cost', () => {
    const { t, verdict } = classify('success', 0);
    expect(t.sessionId).toBe('0199b4c2-7d1e-7a3b-9c4d-5e6f7a8b9c0d');
    expect(t.files).toEqual(['/sandbox/feature.txt']);
    expect(verdict).toMatchObject({ outcome: 'success', summary: 'Added feature.txt with three lines.' });
    expect(verdict.costUsd).toBeGreaterThan(0);
  });

  it('a turn that failed on 429s: rate_limited; a usage limit: quota_exhausted until the time given', () => {
    expect(classify('rate_limit', 1).verdict).toMatchObject({
      outcome: 'rate_limited',
      retryAt: NOW + DEFAULT_RATE_LIMIT_DELAY_MS,
    });
    expect(classify('usage_limit', 1).verdict).toMatchObject({
      outcome: 'quota_exhausted',
      retryAt: NOW + ((3 * 24 + 6) * 60 + 57) * 60_000,
    });
  });

  it('"Reconnecting..." errors are not fatal; a run killed while waiting for the network fails', () => {
    const { t, verdict } = classify('network', undefined as unknown as number);
    expect(t.errors.length).toBe(4);
    expect(verdict.outcome).toBe('failed');
    expect(verdict.error).toContain('waiting for network');
  });

  it('an unknown thread on resume (recorded from codex-cli 0.171.0)', () => {
    const { t } = classify('crash', 1);
    const exit = exitInfo(
      1,
      'Error: thread/resume: thread/resume failed: no rollout found for thread id 0199b4c2-0000-4000-8000-000000000000 (code -32600)',
    );
    expect(codexAdapter.isUnknownSession(t, exit)).toBe(true);
    expect(codexAdapter.classify(t, exit, NOW).error).toContain('no rollout found');
  });

  it('estimates cost per turn, so the runner can stop a run between turns', () => {
    const { t } = classify('budget', 0);
    t.model = 'gpt-5';
    expect(codexAdapter.estimateCostUsd?.(t)).toBeCloseTo(4.5, 6);
    t.model = 'gpt-5-mini';
    expect(codexAdapter.estimateCostUsd?.(t)).toBeCloseTo(0.9, 6);
  });

  it('command lines: exec with workspace-write and the writable dir; resume passes the sandbox as -c overrides', () => {
    const config = { type: 'codex' as const, model: 'gpt-5' };
    expect(codexAdapter.invocation({ ...base, config, run: { prompt: 'Fix it' } }).args).toEqual([
      'exec',
      '--json',
      '--sandbox',
      'workspace-write',
      '--skip-git-repo-check',
      '--model',
      'gpt-5',
      '--add-dir',
      '/data/executions/t1/e1',
      '--',
      'Ask via the file.\n\n---\n\nFix it',
    ]);
    expect(
      codexAdapter.invocation({ ...base, config, resume: { sessionId: 'th', message: 'Use sqlite' } }).args,
    ).toEqual([
      'exec',
      'resume',
      '--json',
      '--skip-git-repo-check',
      '--model',
      'gpt-5',
      '-c',
      'sandbox_mode="workspace-write"',
      '-c',
      'sandbox_workspace_write.writable_roots=["/data/executions/t1/e1"]',
      '--',
      'th',
      'Use sqlite',
    ]);
  });

  it.each([
    ['You’ve hit your usage limit. Try again at 3:28 PM.', Date.UTC(2026, 10, 28, 15, 28)],
    [
      "You've hit your usage limit. Upgrade to Pro, or try again at Dec 1st, 2026 6:15 PM.",
      Date.UTC(2026, 11, 1, 18, 15),
    ],
    ["You've hit your usage limit. Try again in 2 hours 5 minutes.", NOW + 125 * 60_000],
    ["You've hit your usage limit. Try again Dec 3.", Date.UTC(2026, 11, 3)],
    // A date already past (the format changed before and broke parsers): no time rather than a wrong one.
    ["You've hit your usage limit. Upgrade to Pro, or try again at Jun 28th, 2026 6:15 PM.", undefined],
    ["You've hit your usage limit. Upgrade to Pro or try again later.", undefined],
  ])('usage-limit reset: %s', (text, expected) => {
    expect(usageLimitReset(text, NOW, 'UTC')).toBe(expected);
  });
});
