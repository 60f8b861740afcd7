/**
 * runAgent with the real Claude Code CLI (`@anthropic-ai/claude-code`, a dev dependency) talking to a
 * scripted local Messages API server: a tool call that writes a file, a 429 with retry-after, a question
 * answered by resuming the same session, a spent subscription quota, a spent budget, an answer to a
 * session the CLI no longer has, a cancellation while a tool runs, and a CLI killed mid-run. Each test
 * has its own HOME and CLAUDE_CONFIG_DIR.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, beforeAll, afterAll, beforeEach, describe, expect, it } from 'vitest';
import { answerPrompt, createAgentActivities, lostSessionPrompt } from '../../activities/run-agent.js';
import { executionPaths } from '../../activities/sandbox.js';
import { loadConfig } from '../../infra/config.js';
import type { AgentRunInput } from '../../workflows/types.js';
import { git, isAlive, makeBareRepo, markedProcesses, newRun, runIn, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { MessagesApiServer, quotaExhaustedHeaders, requestText, systemText } from '../helpers/messages-api.js';

const CLAUDE_BIN = fileURLToPath(new URL('../../node_modules/.bin/claude', import.meta.url));

const db = useTestDatabase();
let root: { dir: string; remove: () => void };
let remote: string;
let api: MessagesApiServer;
let home: string;
let n = 0;

beforeAll(() => {
  root = tempDir('real-claude');
  remote = makeBareRepo(root.dir);
});
afterAll(() => root.remove());
beforeEach(async () => {
  n += 1;
  home = path.join(root.dir, `home-${n}`);
  api = await MessagesApiServer.start();
});
afterEach(async () => {
  await api.close();
});

/** The runner's activities; `login: 'subscription'` logs the CLI in to a claude.ai plan (an OAuth token) instead of an API key. */
function activities(login: 'api-key' | 'subscription' = 'api-key') {
  const config = loadConfig({
    PATH: process.env.PATH,
    HOME: home,
    SHELL: '/bin/bash',
    TZ: 'UTC',
    CLAUDOMATOR_DATA_DIR: path.join(root.dir, 'data'),
    CLAUDOMATOR_CLAUDE_BIN: CLAUDE_BIN,
    CLAUDOMATOR_HOST_ID: 'test-host',
    CLAUDOMATOR_AGENT_ENV_PASSTHROUGH: 'TZ',
    ANTHROPIC_BASE_URL: api.url,
    ...(login === 'api-key'
      ? { ANTHROPIC_API_KEY: 'sk-ant-scripted-test-key' }
      : { CLAUDE_CODE_OAUTH_TOKEN: 'sk-ant-oat01-scripted-test-token' }),
    CLAUDE_CONFIG_DIR: path.join(home, '.claude'),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    CLAUDE_CODE_MAX_RETRIES: '1',
  });
  return createAgentActivities({ store: db.current.store, config, killGraceMs: 2_000 });
}

/** The command line of a live process, space-separated ('' once it is gone). */
function commandLine(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').join(' ').trim();
  } catch {
    return '';
  }
}

/** The run's live processes whose command line contains `text`. */
function runProcesses(executionId: string, text: string): number[] {
  return markedProcesses(executionId).filter((pid) => commandLine(pid).includes(text));
}

async function newClaudeRun(extra: Partial<Parameters<typeof newRun>[1]> = {}): Promise<AgentRunInput> {
  return newRun(db.current.store, {
    agent: 'claude',
    repository: { url: remote, branch: `task/real-claude-${n}` },
    prompt: 'Create hello.txt',
    ...extra,
  });
}

describe('the real claude CLI against a scripted Messages API', () => {
  it('(a) a tool call that writes a file, then a final answer: success, 1 file changed', async () => {
    const { runAgent } = activities();
    const input = await newClaudeRun();
    const sandbox = executionPaths(path.join(root.dir, 'data'), input.taskId, input.executionId).sandboxDir;
    api.push(
      {
        text: 'Writing the file.',
        toolUse: { name: 'Write', input: { file_path: `${sandbox}/hello.txt`, content: 'hello\nworld\n' } },
      },
      { text: 'Created hello.txt.' },
    );

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(result).toMatchObject({
      outcome: 'success',
      summary: 'Created hello.txt.',
      changeStats: { filesChanged: 1, insertions: 2, deletions: 0 },
    });
    expect(result.costUsd).toBeGreaterThan(0);
    expect(readFileSync(path.join(sandbox, 'hello.txt'), 'utf8')).toBe('hello\nworld\n');
    expect(git(sandbox, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(input.repository?.branch);

    // The CLI used the session id the runner chose, and got the runner's system-prompt append.
    expect(api.requests).toHaveLength(2);
    expect(api.requests.map((r) => r.headers['x-claude-code-session-id'])).toEqual([
      result.sessionId,
      result.sessionId,
    ]);
    expect(systemText(api.requests[0]!)).toContain('CLAUDOMATOR_QUESTION_FILE');
    expect(requestText(api.requests[0]!)).toContain('Create hello.txt');
    expect(requestText(api.requests[1]!)).toContain('"type":"tool_result"');
    expect(markedProcesses(input.executionId)).toEqual([]);
  });

  it('(b) a 429: rate_limited, retryAt from the retry-after the CLI honoured', async () => {
    const { runAgent } = activities();
    const input = await newClaudeRun();
    const tooMany = {
      status: 429,
      headers: { 'retry-after': '2' },
      error: { type: 'rate_limit_error', message: 'This request would exceed your rate limit.' },
    };
    api.push(tooMany, tooMany);

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    const finished = Date.now();
    api.assertDone();
    expect(result.outcome).toBe('rate_limited');
    expect(result.error).toContain('429');
    // The CLI waited the server's retry-after before its one retry (CLAUDE_CODE_MAX_RETRIES=1) ...
    const [first, second] = api.requests;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(2_000);
    // ... and reported the wait (api_retry.retry_delay_ms): the agent may be used again that much later,
    // not after the default minute.
    const retryIn = Date.parse(result.retryAt ?? '') - finished;
    expect(retryIn).toBeGreaterThan(1_000);
    expect(retryIn).toBeLessThanOrEqual(2_000);
    expect(readFileSync(result.paths.stdoutPath, 'utf8')).toContain('"retry_delay_ms":2000');
  });

  it('(c) a question, then a resume with the answer that continues the same session', async () => {
    const { runAgent } = activities();
    const input = await newClaudeRun({ prompt: 'Set up the database' });
    api.push(
      {
        toolUse: {
          name: 'Bash',
          input: {
            command: `printf '%s' '{"question":"Which database?","options":["postgres","sqlite"]}' > "$CLAUDOMATOR_QUESTION_FILE"`,
            description: 'Ask the human',
          },
        },
      },
      { text: 'I asked which database to use.' },
    );
    const asked = await runIn(new MockActivityEnvironment(), runAgent, input);
    expect(asked).toMatchObject({
      outcome: 'question',
      question: { text: 'Which database?', options: ['postgres', 'sqlite'] },
    });
    expect(asked.sessionId).toMatch(/^[0-9a-f-]{36}$/);

    const sandbox = asked.paths.sandboxDir;
    api.push(
      { toolUse: { name: 'Write', input: { file_path: `${sandbox}/db.txt`, content: 'sqlite\n' } } },
      { text: 'Configured sqlite.' },
    );
    const resume = await newRun(db.current.store, {
      agent: 'claude',
      taskId: input.taskId,
      repository: input.repository,
      resume: { sessionId: asked.sessionId ?? '', answer: 'sqlite' },
    });
    const answered = await runIn(new MockActivityEnvironment(), runAgent, resume);
    api.assertDone();
    expect(answered).toMatchObject({ outcome: 'success', sessionId: asked.sessionId, summary: 'Configured sqlite.' });
    expect(answered.paths.sandboxDir).toBe(sandbox);

    // The resumed request carries the whole conversation: the first prompt, the question asked, and the answer.
    const third = api.requests[2]!;
    expect(third.headers['x-claude-code-session-id']).toBe(asked.sessionId);
    expect(requestText(third)).toContain('Set up the database');
    expect(requestText(third)).toContain('CLAUDOMATOR_QUESTION_FILE');
    expect(requestText(third)).toContain('A human answered your question');
    expect(requestText(third)).toContain('sqlite');
    expect(readFileSync(path.join(sandbox, 'db.txt'), 'utf8')).toBe('sqlite\n');
  });

  it('(d) a spent subscription quota: quota_exhausted until the reset the API sent, no retry', async () => {
    const { runAgent } = activities('subscription');
    const input = await newClaudeRun();
    const resetsAt = new Date(Math.ceil(Date.now() / 3_600_000) * 3_600_000 + 2 * 3_600_000);
    api.push({
      status: 429,
      headers: quotaExhaustedHeaders(resetsAt),
      error: { type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit.' },
    });

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(api.requests).toHaveLength(1);
    expect(api.requests[0]!.headers.authorization).toBe('Bearer sk-ant-oat01-scripted-test-token');
    expect(result.outcome).toBe('quota_exhausted');
    expect(result.retryAt).toBe(resetsAt.toISOString());
    const hour = resetsAt.getUTCHours() % 12 || 12;
    expect(result.error).toBe(
      `You've hit your session limit · resets ${hour}${resetsAt.getUTCHours() < 12 ? 'am' : 'pm'} (UTC)`,
    );
    const stdout = readFileSync(result.paths.stdoutPath, 'utf8');
    expect(stdout).toContain(
      `"rate_limit_info":{"status":"rejected","resetsAt":${resetsAt.getTime() / 1000},"rateLimitType":"five_hour"`,
    );
    expect(markedProcesses(input.executionId)).toEqual([]);
  });

  it('(d2) the same 429 under an API key: the CLI reads no quota headers, a plain rate limit', async () => {
    const { runAgent } = activities('api-key');
    const input = await newClaudeRun();
    const quota = {
      status: 429,
      headers: quotaExhaustedHeaders(new Date(Date.now() + 3 * 3_600_000)),
      error: { type: 'rate_limit_error', message: 'Number of requests has exceeded your rate limit.' },
    };
    api.push(quota, quota);

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(result.outcome).toBe('rate_limited');
    expect(result.error).toContain('API Error: Request rejected (429)');
    expect(readFileSync(result.paths.stdoutPath, 'utf8')).not.toContain('rate_limit_event');
  });

  it('(e) --max-budget-usd spent by a turn: budget_exceeded with the CLI’s cost, the tool never runs', async () => {
    const { runAgent } = activities();
    const input = await newClaudeRun({ config: { maxBudgetUsd: 0.5 } });
    const sandbox = executionPaths(path.join(root.dir, 'data'), input.taskId, input.executionId).sandboxDir;
    api.push({
      text: 'Refactoring the parser module.',
      toolUse: { name: 'Bash', input: { command: `touch ${sandbox}/ran.txt`, description: 'Mark' } },
      usage: { input_tokens: 100_000, output_tokens: 4_000 },
    });

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(result).toMatchObject({
      outcome: 'budget_exceeded',
      error: 'Reached maximum budget ($0.5)',
      summary: 'Refactoring the parser module.',
    });
    expect(result.costUsd).toBeGreaterThan(0.5);
    expect(existsSync(path.join(sandbox, 'ran.txt'))).toBe(false);
  });

  it('(f) an answer to a session the CLI no longer has: a fresh run in the same sandbox, told the answer', async () => {
    const { runAgent } = activities();
    const first = await newClaudeRun({ prompt: 'Set up the database' });
    api.push({ text: 'Which database?' });
    const asked = await runIn(new MockActivityEnvironment(), runAgent, first);
    expect(asked.outcome).toBe('success');

    // The session's files are gone (another home, a wiped config directory); the sandbox is not.
    const lost = '0b9f6b1e-1111-4222-8333-444455556666';
    api.push({ text: 'Configured sqlite.' });
    const resume = await newRun(db.current.store, {
      agent: 'claude',
      taskId: first.taskId,
      repository: first.repository,
      prompt: 'Set up the database',
      resume: { sessionId: lost, answer: 'sqlite' },
    });
    const answered = await runIn(new MockActivityEnvironment(), runAgent, resume);
    api.assertDone();
    expect(answered).toMatchObject({ outcome: 'success', summary: 'Configured sqlite.' });
    expect(answered.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(answered.sessionId).not.toBe(lost);
    expect(answered.paths.sandboxDir).toBe(asked.paths.sandboxDir);
    // The failed resume never reached the API; the fresh run did, with the prompt and the answer.
    expect(readFileSync(answered.paths.stdoutPath, 'utf8')).toContain(`No conversation found with session ID: ${lost}`);
    const fresh = api.requests[1]!;
    expect(fresh.headers['x-claude-code-session-id']).toBe(answered.sessionId);
    expect(requestText(fresh)).toContain(
      JSON.stringify(lostSessionPrompt('Set up the database', answerPrompt('sqlite'))).slice(1, -1),
    );
  });

  it('(g) cancelled while a Bash tool runs: the CLI, its shell and the grandchild it left are killed; the last message is the summary', async () => {
    const { runAgent } = activities();
    const input = await newClaudeRun();
    api.push({
      text: 'Starting the dev server.',
      toolUse: {
        name: 'Bash',
        input: { command: 'setsid sleep 1002 >/dev/null 2>&1 & sleep 1001', description: 'Start the server' },
      },
    });
    const env = new MockActivityEnvironment();
    const running = runIn(env, runAgent, input);
    const [cli, orphan, shell] = await waitFor(
      'the CLI, its backgrounded grandchild and its foreground command',
      () => {
        const found = [
          runProcesses(input.executionId, '--output-format stream-json'),
          runProcesses(input.executionId, 'sleep 1002'),
          runProcesses(input.executionId, 'sleep 1001'),
        ];
        return found.every((pids) => pids.length > 0) ? found : undefined;
      },
      60_000,
    );
    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    for (const pid of [...cli!, ...orphan!, ...shell!])
      expect({ pid, alive: isAlive(pid) }).toEqual({ pid, alive: false });
    expect(markedProcesses(input.executionId)).toEqual([]);
    expect((await db.current.store.getExecution(input.executionId)).summary).toBe('Starting the dev server.');
  });

  it('(h) the CLI killed mid-run (SIGKILL, as the OOM killer does): failed, with the last message as the summary', async () => {
    const { runAgent } = activities();
    const input = await newClaudeRun();
    const sandbox = executionPaths(path.join(root.dir, 'data'), input.taskId, input.executionId).sandboxDir;
    api.push(
      { text: 'Looking at the README.', toolUse: { name: 'Read', input: { file_path: `${sandbox}/README.md` } } },
      { hold: true },
    );
    const running = runIn(new MockActivityEnvironment(), runAgent, input);
    await waitFor('the second model call', () => api.requests.length === 2, 60_000);
    const [cli] = runProcesses(input.executionId, '--output-format stream-json');
    expect(cli).toBeDefined();
    process.kill(cli!, 'SIGKILL');

    const result = await running;
    api.assertDone();
    expect(result).toMatchObject({ outcome: 'failed', error: 'killed by SIGKILL', summary: 'Looking at the README.' });
    expect(requestText(api.requests[1]!)).toContain('hello');
    expect(markedProcesses(input.executionId)).toEqual([]);
  });
});
