import { describe, expect, it, vi } from 'vitest';
import { type InvocationContext, readLine, settleTranscript } from '../../../agents/adapter.js';
import { claudeAdapter, quotaReset } from '../../../agents/claude.js';
import { DEFAULT_QUOTA_DELAY_MS, DEFAULT_RATE_LIMIT_DELAY_MS } from '../../../agents/limits.js';
import { exitInfo, NOW, transcriptOf } from './transcripts.js';

const classify = (name: string, exitCode: number | undefined, stderr = '') => {
  const { t, stdoutTail } = transcriptOf(claudeAdapter, name);
  return { t, verdict: claudeAdapter.classify(t, exitInfo(exitCode, stderr, stdoutTail), NOW) };
};

describe('claude adapter: reading recorded stream-json (CLI 2.1.197)', () => {
  it('success: session id from init, summary and cost from the result, the tool call seen', () => {
    const { t, verdict } = classify('success', 0);
    expect(t.sessionId).toBe('6f1c2a4e-8f7b-4c1d-9e2a-3b4c5d6e7f80');
    expect(t.model).toBe('claude-opus-4-8[1m]');
    expect(t.lastEventType).toBe('result');
    expect(verdict).toEqual({ outcome: 'success', summary: 'Added feature.txt with three lines.', costUsd: 0.00035 });
  });

  it('a 429 after the CLI retried: rate_limited after the retry-after it waited (retry_delay_ms)', () => {
    const { t, verdict } = classify('rate_limit', 1);
    expect(t.retryDelayMs).toBe(3_000);
    expect(verdict).toMatchObject({ outcome: 'rate_limited', retryAt: NOW + 3_000 });
    expect(verdict.error).toContain('API Error: Request rejected (429)');
  });

  it('a 429 with no retry seen: the default minute', () => {
    const { t } = classify('rate_limit', 1);
    t.retryDelayMs = undefined;
    expect(claudeAdapter.classify(t, exitInfo(1), NOW)).toMatchObject({
      outcome: 'rate_limited',
      retryAt: NOW + DEFAULT_RATE_LIMIT_DELAY_MS,
    });
  });

  it('a rejected rate_limit_event: quota_exhausted until resetsAt (epoch seconds), clamped to the future', () => {
    const { t, verdict } = classify('usage_limit', 1);
    // Recorded with a reset at 2026-12-04 18:00 UTC.
    const resetsAt = Date.UTC(2026, 11, 4, 18, 0);
    expect(t.rateLimit).toMatchObject({ status: 'rejected', window: 'five_hour', resetsAt });
    expect(verdict).toMatchObject({ outcome: 'quota_exhausted', retryAt: resetsAt });
    expect(verdict.error).toBe("You've hit your session limit · resets 6pm (UTC)");
    // A reset in the past: at least a minute from now.
    t.rateLimit = { status: 'rejected', resetsAt: NOW - 3_600_000 };
    expect(claudeAdapter.classify(t, exitInfo(1), NOW).retryAt).toBe(NOW + 60_000);
  });

  it('a quota text without the event: the reset time from the text', () => {
    const { t } = classify('usage_limit', 1);
    t.rateLimit = undefined;
    // "You've hit your session limit · resets 6pm (UTC)": 18:00 UTC today
    expect(claudeAdapter.classify(t, exitInfo(1), NOW)).toMatchObject({
      outcome: 'quota_exhausted',
      retryAt: Date.UTC(2026, 10, 28, 18, 0),
    });
  });

  it("the CLI's own error texts (model <synthetic>) are not the agent's messages", () => {
    const { t } = classify('usage_limit', 1);
    expect(t.lastMessage).toBe('');
    expect(t.lastText).toBe('');
  });

  it('budget: error_max_budget_usd with its cost and message; the last message before it is kept', () => {
    const { t, verdict } = classify('budget', 1);
    expect(verdict).toEqual({
      outcome: 'budget_exceeded',
      error: 'Reached maximum budget ($0.5)',
      costUsd: 0.6,
    });
    expect(t.lastMessage).toBe('Refactoring the parser module.');
  });

  it('assistant lines are not decoded while the agent runs: the last message of the agent is, once, at the end', () => {
    const { t } = classify('hang', 143);
    expect(t.lastMessage).toBe('Starting the dev server to check the page.');
    expect(t.lastEventType).toBe('assistant');
    const line = (message: object) => Buffer.from(JSON.stringify({ type: 'assistant', message, session_id: 's' }));
    const text = (s: string) => line({ model: 'claude-opus-4-8', content: [{ type: 'text', text: s }] });
    // A Write of a file that holds `"type":"text"`: inside a JSON string its quotes are escaped.
    const toolCall = line({ content: [{ type: 'tool_use', name: 'Write', input: { content: '{"type":"text"}' } }] });
    const synthetic = line({ model: '<synthetic>', content: [{ type: 'text', text: 'API Error: 500' }] });
    const parse = vi.spyOn(claudeAdapter, 'parseLine');
    try {
      for (const l of [text('First.'), text('Done.'), toolCall, synthetic]) readLine(claudeAdapter, t, l);
      expect(parse).not.toHaveBeenCalled();
      expect(t.lastMessage).toBe('Starting the dev server to check the page.');
      settleTranscript(claudeAdapter, t);
      expect(parse).toHaveBeenCalledTimes(1);
      expect(t.lastMessage).toBe('Done.');
      expect(t.pendingMessage).toBeUndefined();
    } finally {
      parse.mockRestore();
    }
  });

  it('the question run itself is a success (the runner sees the question file)', () => {
    expect(classify('question', 0).verdict).toMatchObject({
      outcome: 'success',
      summary: 'I asked which color to use.',
    });
  });

  it('a crash: failed with stderr; garbage with exit 0: failed, never success', () => {
    const crash = classify('crash', 1, 'TypeError: boom\n    at x');
    expect(crash.verdict).toMatchObject({ outcome: 'failed', error: 'TypeError: boom\n    at x' });
    // Recorded from a CLI killed while it waited for the model, after a tool call: its last message stays.
    expect(crash.t.lastMessage).toBe('Looking at the failing test.');
    expect(classify('crash', undefined).verdict).toMatchObject({ outcome: 'failed' });
    const garbage = classify('garbage', 0).verdict;
    expect(garbage.outcome).toBe('failed');
    expect(garbage.error).toMatch(/^claude exited without a result event: ⚠ claude.ai connectors are disabled/);
    expect(classify('garbage', 0).t.badLines).toBe(1);
  });

  it('an unknown session on resume is recognized (so a crash retry can start fresh)', () => {
    const { t, stdoutTail } = transcriptOf(claudeAdapter, 'unknown_session');
    const exit = exitInfo(1, 'No conversation found with session ID: 0000', stdoutTail);
    expect(claudeAdapter.isUnknownSession(t, exit)).toBe(true);
    expect(claudeAdapter.classify(t, exit, NOW).outcome).toBe('failed');
    expect(claudeAdapter.isUnknownSession(classify('success', 0).t, exitInfo(0))).toBe(false);
  });

  it('stream events: api_retry, rate_limit_event, assistant text and tools', () => {
    expect(
      claudeAdapter.parseLine(
        '{"type":"system","subtype":"api_retry","attempt":2,"max_retries":10,"retry_delay_ms":4000,"error_status":null,"error":"unknown","session_id":"s"}',
      ),
    ).toEqual({
      type: 'system/api_retry',
      events: [
        { kind: 'session', sessionId: 's', model: undefined },
        { kind: 'retry', status: null, delayMs: 4000, attempt: 2 },
      ],
    });
    expect(
      claudeAdapter.parseLine('{"type":"result","subtype":"error_max_turns","is_error":true,"errors":["x"]}'),
    ).toMatchObject({
      events: [{ kind: 'result', result: { ok: false, subtype: 'error_max_turns', errors: ['x'] } }],
    });
    expect(claudeAdapter.parseLine('{"type":')).toBeUndefined();
    expect(claudeAdapter.parseLine('[1,2]')).toBeUndefined();
  });
});

describe('claude adapter: command lines', () => {
  const base: InvocationContext = {
    bin: '/opt/claude',
    config: { type: 'claude' },
    cwd: '/data/sandboxes/t1',
    systemPrompt: 'Ask via the file.',
    writableDirs: ['/data/executions/t1/e1'],
    isRoot: false,
  };

  it('a new run: print mode, stream-json with --verbose, the chosen session id, the prompt after --', () => {
    const inv = claudeAdapter.invocation({ ...base, run: { prompt: '-starts with a dash', sessionId: 'abc' } });
    expect(inv).toEqual({
      file: '/opt/claude',
      args: [
        '-p',
        '--output-format',
        'stream-json',
        '--verbose',
        '--session-id',
        'abc',
        '--permission-mode',
        'bypassPermissions',
        '--add-dir',
        '/data/executions/t1/e1',
        '--append-system-prompt',
        'Ask via the file.',
        '--',
        '-starts with a dash',
      ],
      env: {},
    });
  });

  it('a resume passes every flag again, and root gets IS_SANDBOX=1', () => {
    const inv = claudeAdapter.invocation({
      ...base,
      config: {
        type: 'claude',
        model: 'opus',
        permissionMode: 'acceptEdits',
        allowedTools: ['Read', 'Bash(git *)'],
        maxBudgetUsd: 3,
      },
      resume: { sessionId: 'abc', message: 'The answer' },
      isRoot: true,
    });
    expect(inv.args).toEqual([
      '-p',
      '--output-format',
      'stream-json',
      '--verbose',
      '--resume',
      'abc',
      '--model',
      'opus',
      '--permission-mode',
      'acceptEdits',
      '--allowedTools',
      'Read,Bash(git *)',
      '--max-budget-usd',
      '3',
      '--add-dir',
      '/data/executions/t1/e1',
      '--append-system-prompt',
      'Ask via the file.',
      '--',
      'The answer',
    ]);
    expect(inv.env).toEqual({ IS_SANDBOX: '1' });
  });
});

describe('claude quota texts (every variant in reference §1.5)', () => {
  const at = (h: number, m = 0, dayOffset = 0) => Date.UTC(2026, 10, 28 + dayOffset, h, m);
  it.each([
    ['Claude AI usage limit reached|1795870000', 1795870000_000],
    ['5-hour limit reached ∙ resets 3pm', at(15)],
    ['Session limit reached ∙ resets 9:30pm', at(21, 30)],
    ["You've hit your limit · resets 4am (Asia/Shanghai)", at(20)],
    ['You’ve hit your session limit · resets 12:50pm (UTC) · progress saved', at(12, 50)],
    ["You've hit your weekly limit · resets Dec 2, 4am", Date.UTC(2026, 11, 2, 4)],
    ["You've hit your Sonnet limit · resets 3pm (UTC)", at(15)],
    // 9am UTC is an hour past: tomorrow
    ["You've hit your session limit · resets 8:30am (UTC)", at(8, 30, 1)],
  ])('%s', (text, expected) => {
    expect(quotaReset(text, NOW, 'UTC')).toBe(expected);
  });

  it('limits without a reset time, and texts that are no limit', () => {
    expect(quotaReset("You've reached your Fable limit.", NOW)).toBeNull();
    expect(quotaReset("You've hit your org's monthly usage limit", NOW)).toBeNull();
    expect(quotaReset('Limit reached – contact an admin to keep working', NOW)).toBeNull();
    expect(quotaReset('API Error: Request rejected (429) · rate limit', NOW)).toBeUndefined();
    expect(DEFAULT_QUOTA_DELAY_MS).toBe(5 * 3_600_000);
  });
});
