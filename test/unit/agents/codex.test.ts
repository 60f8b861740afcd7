import { describe, expect, it } from 'vitest';
import type { InvocationContext } from '../../../agents/adapter.js';
import { codexAdapter, usageLimitReset } from '../../../agents/codex.js';
import { DEFAULT_RATE_LIMIT_DELAY_MS } from '../../../agents/limits.js';
import { exitInfo, NOW, transcriptOf } from './transcripts.js';

const base: InvocationContext = {
  bin: '/opt/bin/cli',
  config: { type: 'gemini', model: 'gemini-2.5-pro' },
  cwd: '/data/sandboxes/t1',
  systemPrompt: 'Ask via the file.',
  writableDirs: ['/data/executions/t1/e1'],
  isRoot: true,
};

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
