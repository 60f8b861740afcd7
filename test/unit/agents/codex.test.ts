/**
 * The Codex adapter on output recorded from codex-cli 0.171.0 (test/fixtures/codex/, re-recorded by
 * `CODEX_RECORD=1 npx vitest run --project integration test/activities/real-codex.test.ts`; network.jsonl
 * from a run without a network, garbage.jsonl written by hand).
 */
import { describe, expect, it } from 'vitest';
import { emptyTranscript, type InvocationContext, readLine } from '../../../agents/adapter.js';
import { codexAdapter, rateLimitDelay, usageLimitReset } from '../../../agents/codex.js';
import { DEFAULT_QUOTA_DELAY_MS, DEFAULT_RATE_LIMIT_DELAY_MS } from '../../../agents/limits.js';
import { exitInfo, fixture, NOW, transcriptOf } from './transcripts.js';

const base: InvocationContext = {
  bin: '/opt/bin/cli',
  config: { type: 'codex' },
  cwd: '/data/sandboxes/t1',
  systemPrompt: 'Ask via the file.',
  writableDirs: ['/data/executions/t1/e1'],
  isRoot: true,
};

/** Codex prints this on stderr on every run. */
const STDERR_NOISE = 'Reading additional input from stdin...\n';

const threadOf = (name: string): string =>
  (JSON.parse(fixture('codex', name).split('\n')[0] ?? '{}') as { thread_id: string }).thread_id;

describe('codex adapter', () => {
  const classify = (name: string, exitCode: number | undefined, stderr = STDERR_NOISE, signal?: string) => {
    const { t, stdoutTail } = transcriptOf(codexAdapter, name);
    return { t, verdict: codexAdapter.classify(t, exitInfo(exitCode, stderr, stdoutTail, signal), NOW) };
  };

  it('success: the thread id, the last agent message, changed files, an estimated cost from the turn usage', () => {
    const { t, verdict } = classify('success', 0);
    expect(t.sessionId).toBe(threadOf('success'));
    expect(t.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    expect(t.files).toEqual(['/sandbox/feature.txt']);
    expect({ input: t.inputTokens, cached: t.cachedInputTokens, output: t.outputTokens }).toEqual({
      input: 17_500,
      cached: 12_000,
      output: 230,
    });
    // No model named: priced at the family's highest list price ($2 / $0.50 / $15 per million).
    expect(verdict).toEqual({
      outcome: 'success',
      summary: 'Added feature.txt with three lines.',
      costUsd: (5_500 * 2 + 12_000 * 0.5 + 230 * 15) / 1e6,
    });
  });

  it('a command is a tool event with the command line Codex ran (shell-quoted, in bash -lc)', () => {
    const t = emptyTranscript();
    const tools = fixture('codex', 'success')
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .flatMap((l) => readLine(codexAdapter, t, Buffer.from(l))?.events ?? [])
      .filter((e) => e.kind === 'tool');
    // item.started is not decoded (ignoredEvents): one event per finished command.
    expect(tools[0]).toEqual({
      kind: 'tool',
      name: 'command_execution',
      status: 'completed',
      detail: `/bin/bash -lc "printf 'more\\\\n' >> README.md && ls"`,
    });
  });

  it('a question run and its resume: one thread; the resume reports the whole thread’s tokens', () => {
    const asked = classify('question', 0);
    const answered = classify('answer', 0);
    expect(asked.verdict).toMatchObject({ outcome: 'success', summary: 'I asked which database to use.' });
    expect(answered.verdict).toMatchObject({ outcome: 'success', summary: 'Configured sqlite.' });
    expect(answered.t.sessionId).toBe(asked.t.sessionId);
    expect(answered.t.files).toEqual(['/sandbox/db.txt']);
    expect(answered.t.inputTokens).toBe(2 * asked.t.inputTokens);
  });

  it('a 429 the CLI gave up on: rate_limited after the default minute (it does not say how long it waited)', () => {
    const { verdict } = classify('rate_limit', 1);
    expect(verdict).toMatchObject({ outcome: 'rate_limited', retryAt: NOW + DEFAULT_RATE_LIMIT_DELAY_MS });
    expect(verdict.error).toContain('exceeded retry limit, last status: 429 Too Many Requests');
    expect(verdict.error).not.toContain('Reading additional input');
  });

  it('a rate limit the API reported in the stream: rate_limited after its "try again in 1.5s"', () => {
    expect(classify('rate_limit_delay', 1).verdict).toMatchObject({ outcome: 'rate_limited', retryAt: NOW + 1_500 });
  });

  it('a usage limit with a reset time: quota_exhausted until then (read in the local zone)', () => {
    const { t, verdict } = classify('usage_limit_reset', 1);
    expect(verdict.outcome).toBe('quota_exhausted');
    expect(t.result?.text).toMatch(/^You’ve hit your usage limit\. Try again at \d{1,2}:\d\d [AP]M\.$/);
    const text = t.result?.text ?? '';
    const at = usageLimitReset(text, NOW, 'UTC') ?? 0;
    const d = new Date(at);
    const clock = `${((d.getUTCHours() + 11) % 12) + 1}:${String(d.getUTCMinutes()).padStart(2, '0')} ${d.getUTCHours() < 12 ? 'AM' : 'PM'}`;
    expect(text).toContain(`Try again at ${clock}.`);
    expect(at).toBeGreaterThan(NOW);
    expect(at).toBeLessThanOrEqual(NOW + 86_400_000);
    expect(verdict.retryAt).toBeGreaterThan(NOW);
  });

  it.each(['usage_limit', 'quota'])('%s without a reset time: quota_exhausted for the default 5 hours', (name) => {
    expect(classify(name, 1).verdict).toMatchObject({
      outcome: 'quota_exhausted',
      retryAt: NOW + DEFAULT_QUOTA_DELAY_MS,
    });
  });

  it('what ended the turn decides: a 401 after 429 retries is a failure, not a rate limit', () => {
    const t = emptyTranscript();
    for (const line of [
      '{"type":"thread.started","thread_id":"01a241d9-757d-7260-bcb0-2990c5527671"}',
      '{"type":"error","message":"Reconnecting... 1/1 (exceeded retry limit, last status: 429 Too Many Requests)"}',
      '{"type":"turn.failed","error":{"message":"unexpected status 401 Unauthorized: Incorrect API key provided, url: http://127.0.0.1:18080/v1/responses"}}',
    ]) {
      readLine(codexAdapter, t, Buffer.from(line));
    }
    const verdict = codexAdapter.classify(t, exitInfo(1, STDERR_NOISE), NOW);
    expect(verdict.outcome).toBe('failed');
    expect(verdict.error).toMatch(/^unexpected status 401 Unauthorized/);
  });

  it('a CLI killed from outside mid-turn: failed, saying so', () => {
    const { t, verdict } = classify('crash', undefined, STDERR_NOISE, 'SIGKILL');
    expect(t.sessionId).toBe(threadOf('crash'));
    expect(t.lastEventType).toBe('item.started');
    expect(verdict).toEqual({ outcome: 'failed', error: 'codex was killed by SIGKILL' });
  });

  it('"Reconnecting..." errors are not fatal; a run killed while waiting for the network fails', () => {
    const { t, verdict } = classify('network', undefined, '');
    expect(t.errors.length).toBe(4);
    expect(verdict.outcome).toBe('failed');
    expect(verdict.error).toContain('waiting for network');
  });

  it('banners and a cut line, exit 0: failed, not success', () => {
    expect(classify('garbage', 0).verdict.error).toMatch(/^codex exited without finishing a turn/);
  });

  it('an unknown thread on resume (stderr of codex-cli 0.171.0)', () => {
    const exit = exitInfo(
      1,
      `${STDERR_NOISE}Error: thread/resume: thread/resume failed: no rollout found for thread id 01a24000-0000-7000-8000-000000000000 (code -32600)`,
    );
    const t = emptyTranscript();
    expect(codexAdapter.isUnknownSession(t, exit)).toBe(true);
    expect(codexAdapter.classify(t, exit, NOW).error).toMatch(/^Error: thread\/resume: .*no rollout found/);
  });

  it('estimates the cost from the tokens of the finished turn (the runner cannot see them earlier)', () => {
    const { t, verdict } = classify('budget', 0);
    expect(verdict.outcome).toBe('success');
    t.model = 'gpt-5.5';
    expect(codexAdapter.estimateCostUsd?.(t)).toBeCloseTo((410_000 * 1.25 + 15_000 * 10) / 1e6, 6);
    t.model = 'gpt-5-mini';
    expect(codexAdapter.estimateCostUsd?.(t)).toBeCloseTo((410_000 * 0.25 + 15_000 * 2) / 1e6, 6);
  });

  it('command lines: the same flags for a new run and a resume, in front of `resume`', () => {
    const config = { type: 'codex' as const, model: 'gpt-5.5' };
    const flags = [
      'exec',
      '--json',
      '--sandbox',
      'workspace-write',
      '--skip-git-repo-check',
      '--model',
      'gpt-5.5',
      '--add-dir',
      '/data/executions/t1/e1',
    ];
    expect(codexAdapter.invocation({ ...base, config, run: { prompt: 'Fix it' } }).args).toEqual([
      ...flags,
      '--',
      'Ask via the file.\n\n---\n\nFix it',
    ]);
    expect(
      codexAdapter.invocation({ ...base, config, resume: { sessionId: 'th', message: '-Use sqlite' } }).args,
    ).toEqual([...flags, 'resume', '--', 'th', '-Use sqlite']);
    expect(codexAdapter.invocation({ ...base, run: { prompt: 'Fix it' } }).args).not.toContain('--model');
  });

  it.each([
    ['You’ve hit your usage limit. Try again at 3:28 PM.', Date.UTC(2026, 10, 28, 15, 28)],
    [
      'You’ve hit your usage limit. Upgrade to Pro (https://chatgpt.com/explore/pro), visit https://chatgpt.com/settings/usage to purchase more credits or try again at 7:23 PM.',
      Date.UTC(2026, 10, 28, 19, 23),
    ],
    ['You’ve hit your usage limit. Try again at Dec 1st, 2026 6:15 PM.', Date.UTC(2026, 11, 1, 18, 15)],
    // The text has minutes only: a reset in the minute just begun is still that reset.
    ['You’ve hit your usage limit. Try again at 9:59 AM.', NOW + 60_000],
    // Older releases' wording.
    ["You've hit your usage limit. Try again in 2 hours 5 minutes.", NOW + 125 * 60_000],
    ["You've hit your usage limit. Try again Dec 3.", Date.UTC(2026, 11, 3)],
    // A date already past (the format changed before and broke parsers): no time rather than a wrong one.
    ['You’ve hit your usage limit. Try again at Jun 28th, 2026 6:15 PM.', undefined],
    ['You’ve hit your usage limit. Try again later.', undefined],
  ])('usage-limit reset: %s', (text, expected) => {
    expect(usageLimitReset(text, NOW, 'UTC')).toBe(expected);
  });

  it.each([
    ['rate limit exceeded: Rate limit reached for gpt-5.5. Please try again in 1.5s.', 1_500],
    ['Rate limit reached. Please try again in 20s.', 20_000],
    ['Rate limit reached. Please try again in 850ms.', 850],
    ['exceeded retry limit, last status: 429 Too Many Requests', undefined],
  ])('rate-limit delay: %s', (text, expected) => {
    expect(rateLimitDelay(text)).toBe(expected);
  });
});
