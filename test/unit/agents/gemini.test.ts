/**
 * The Gemini adapter on stdout recorded from the real CLI (test/fixtures/gemini, re-recorded by
 * test/activities/real-gemini.test.ts) and on the stderr texts the real CLI prints next to it.
 */
import { describe, expect, it } from 'vitest';
import type { InvocationContext } from '../../../agents/adapter.js';
import { geminiAdapter } from '../../../agents/gemini.js';
import { DEFAULT_QUOTA_DELAY_MS, DEFAULT_RATE_LIMIT_DELAY_MS } from '../../../agents/limits.js';
import { exitInfo, NOW, transcriptOf } from './transcripts.js';

const base: InvocationContext = {
  bin: '/opt/bin/cli',
  config: { type: 'gemini', model: 'gemini-2.5-pro' },
  cwd: '/data/sandboxes/t1',
  systemPrompt: 'Ask via the file.',
  writableDirs: ['/data/executions/t1/e1'],
  isRoot: true,
};

const SESSION_ID = 'b3c5d7e9-1f2a-4b4c-8d6e-7f8091a2b3c4';

/** What the real CLI prints on stderr when it gives up on a quota error (the report and the error's cause). */
const RETRYABLE_STDERR = `Attempt 1 failed: Resource has been exhausted (e.g. check quota).
Suggested retry after 6s.. Retrying after 6712ms...
Error when talking to Gemini API Full report available at: /tmp/gemini-client-error-Turn.run-sendMessageStream-2026-12-04T15-54-34-986Z.json RetryableQuotaError: Resource has been exhausted (e.g. check quota).
  cause: { code: 429, message: 'Resource has been exhausted (e.g. check quota).', details: [ [Object] ] },
  retryDelayMs: 6000,
  status: 429
}`;
const DAILY_QUOTA_STDERR = `Error when talking to Gemini API Full report available at: /tmp/gemini-client-error-Turn.run-sendMessageStream-2026-12-04T15-54-45-798Z.json TerminalQuotaError: You have exhausted your daily quota on this model.
  cause: {
    code: 429,
    message: 'You exceeded your current quota, please check your plan and billing details. * Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 250, model: gemini-3-flash-preview\\n' +
      'Please retry in 12005.5s.',
    details: [ [Object], [Object] ]
  },
  status: 429
}`;

describe('gemini adapter', () => {
  const classify = (name: string, exitCode: number, stderr = '', signal?: string) => {
    const { t, stdoutTail } = transcriptOf(geminiAdapter, name);
    return { t, verdict: geminiAdapter.classify(t, exitInfo(exitCode, stderr, stdoutTail, signal), NOW) };
  };

  it('success: session from init, the summary from the assistant deltas after the last tool, an estimated cost', () => {
    const { t, verdict } = classify('success', 0);
    expect(t.sessionId).toBe(SESSION_ID);
    // `init.model` is what was asked for: "auto" (the CLI's router picked the models in `stats.models`).
    expect(t).toMatchObject({ model: 'auto', inputTokens: 9010, outputTokens: 455, cachedInputTokens: 0 });
    // Not a model id: priced at the family's highest price, 9 010 × $2.50/M + 455 × $15/M.
    expect(verdict).toEqual({ outcome: 'success', summary: 'Added feature.txt with three lines.', costUsd: 0.02935 });
  });

  it('question and answer runs end in success; the runner turns the question file into the outcome', () => {
    expect(classify('question', 0).verdict).toMatchObject({
      outcome: 'success',
      summary: 'I asked which database to use.',
    });
    const { t, verdict } = classify('answer', 0);
    expect(t.sessionId).toBe(SESSION_ID);
    expect(verdict).toMatchObject({ outcome: 'success', summary: 'Configured sqlite.' });
  });

  it('429 given up on (error.type "unknown", exit 173): rate_limited after the last "Suggested retry after"', () => {
    const { t, verdict } = classify('rate_limit', 173);
    expect(t.result).toMatchObject({ ok: false, subtype: 'unknown' });
    expect(verdict).toMatchObject({
      outcome: 'rate_limited',
      retryAt: NOW + 34_075,
      error: expect.stringContaining('Suggested retry after 34.074824224s.') as unknown,
    });
    // The final message's delay wins over the earlier ones stderr shows.
    expect(classify('rate_limit', 173, RETRYABLE_STDERR).verdict.retryAt).toBe(NOW + 34_075);
  });

  it('the error class from stderr when the message has no delay; a bare exit 173 is a 429', () => {
    const { t } = classify('api_error', 144);
    const bare = { ...t, result: { ok: false, subtype: 'unknown', text: '[API Error: Too many requests]' } };
    expect(geminiAdapter.classify(bare, exitInfo(144, RETRYABLE_STDERR), NOW)).toMatchObject({
      outcome: 'rate_limited',
      retryAt: NOW + 6_000,
    });
    expect(geminiAdapter.classify(bare, exitInfo(173), NOW)).toMatchObject({
      outcome: 'rate_limited',
      retryAt: NOW + DEFAULT_RATE_LIMIT_DELAY_MS,
    });
  });

  it('daily quota (TerminalQuotaError): quota_exhausted until the API\'s "Please retry in" (stderr), else 5 hours', () => {
    const { verdict } = classify('usage_limit', 173);
    expect(verdict).toMatchObject({
      outcome: 'quota_exhausted',
      retryAt: NOW + DEFAULT_QUOTA_DELAY_MS,
      error: expect.stringContaining('You have exhausted your daily quota on this model.') as unknown,
    });
    expect(classify('usage_limit', 173, DAILY_QUOTA_STDERR).verdict).toMatchObject({
      outcome: 'quota_exhausted',
      retryAt: NOW + 12_005_500,
    });
  });

  it('an API error that is no limit: failed with the message, even after earlier 429 retries in stderr', () => {
    const { t, verdict } = classify('api_error', 144);
    expect(t.result).toMatchObject({ ok: false, subtype: 'unknown' });
    expect(verdict).toMatchObject({ outcome: 'failed' });
    expect(verdict.error).toContain('Request contains an invalid argument.');
    expect(verdict.error).not.toContain('unknown:');
    expect(classify('api_error', 144, 'Attempt 1 failed: Suggested retry after 6s.').verdict.outcome).toBe('failed');
  });

  it('the session-turn limit: failed with the exit code reason and the CLI message', () => {
    expect(classify('max_turns', 53).verdict.error).toMatch(
      /^reached the maximum session turns \(exit 53\): FatalTurnLimitedError: Reached max session turns/,
    );
  });

  it('runs without a result event: stderr, known exit codes, quota texts, a cut line, a kill', () => {
    const { t, verdict } = classify('crash', 1, "TypeError: Cannot read properties of undefined (reading 'content')");
    expect(t.sessionId).toBe(SESSION_ID);
    expect(verdict).toMatchObject({ outcome: 'failed', error: expect.stringContaining('TypeError') as unknown });
    expect(
      geminiAdapter.classify(t, exitInfo(1, 'TerminalQuotaError: You have exhausted your capacity'), NOW).outcome,
    ).toBe('quota_exhausted');
    expect(
      geminiAdapter.classify(t, exitInfo(1, 'Attempt 3 failed with status 429. Please retry in 900ms'), NOW),
    ).toMatchObject({ outcome: 'rate_limited', retryAt: NOW + 900 });
    expect(geminiAdapter.classify(t, exitInfo(55, 'not trusted'), NOW).error).toContain('not trusted (exit 55)');
    expect(geminiAdapter.classify(t, exitInfo(41, 'Invalid auth method selected.'), NOW).error).toBe(
      'authentication failed (exit 41): Invalid auth method selected.',
    );
    const garbage = classify('garbage', 0);
    expect(garbage.t.badLines).toBe(1);
    expect(garbage.verdict).toMatchObject({ outcome: 'failed' });
    expect(garbage.verdict.error).toMatch(/^gemini exited without a result event/);
    expect(classify('hang', 137, '', 'SIGKILL').verdict).toMatchObject({ outcome: 'failed' });
  });

  it('knows an unknown session from the resume refusal (exit 42, stderr only)', () => {
    const { t } = transcriptOf(geminiAdapter, 'crash');
    const refusal = (text: string) => geminiAdapter.isUnknownSession({ ...t, result: undefined }, exitInfo(42, text));
    expect(
      refusal('Error resuming session: Invalid session identifier "0badc0de".\n  Searched for sessions in …'),
    ).toBe(true);
    expect(refusal('Error resuming session: No previous sessions found for this project.')).toBe(true);
    expect(refusal('Invalid auth method selected.')).toBe(false);
  });

  it('tool calls: their input in the detail; tool results are not decoded while running', () => {
    const { t } = transcriptOf(geminiAdapter, 'hang');
    expect(t.lastEventType).toBe('tool_use');
    const line = geminiAdapter.parseLine(
      '{"type":"tool_use","timestamp":"2026-12-04T16:05:56.135Z","tool_name":"write_file","tool_id":"write_file__write_file_1796400356024_0","parameters":{"file_path":"feature.txt","content":"alpha\\n"}}',
    );
    expect(line?.events).toEqual([{ kind: 'tool', name: 'write_file', status: 'started', detail: 'feature.txt' }]);
    expect(geminiAdapter.ignoredEvents.has('tool_result')).toBe(true);
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
    const resume = geminiAdapter.invocation({ ...base, resume: { sessionId: 'sid', message: 'Use sqlite' } }).args;
    expect(resume.slice(0, 3)).toEqual(['-r', 'sid', '--prompt=Use sqlite']);
    expect(resume).not.toContain('--session-id');
  });
});
