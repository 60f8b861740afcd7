/**
 * runAgent with the real Claude Code CLI (`@anthropic-ai/claude-code`, a dev dependency) talking to a
 * scripted local Messages API server: a tool call that writes a file, a 429 with retry-after, and a
 * question answered by resuming the same session. Each test has its own HOME and CLAUDE_CONFIG_DIR.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, beforeAll, afterAll, beforeEach, describe, expect, it } from 'vitest';
import { createAgentActivities } from '../../activities/run-agent.js';
import { executionPaths } from '../../activities/sandbox.js';
import { loadConfig } from '../../infra/config.js';
import type { AgentRunInput } from '../../workflows/types.js';
import { git, makeBareRepo, markedProcesses, newRun, runIn, tempDir } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { MessagesApiServer, requestText, systemText } from '../helpers/messages-api.js';

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

function activities() {
  const config = loadConfig({
    PATH: process.env.PATH,
    HOME: home,
    SHELL: '/bin/bash',
    CLAUDOMATOR_DATA_DIR: path.join(root.dir, 'data'),
    CLAUDOMATOR_CLAUDE_BIN: CLAUDE_BIN,
    CLAUDOMATOR_HOST_ID: 'test-host',
    ANTHROPIC_BASE_URL: api.url,
    ANTHROPIC_API_KEY: 'sk-ant-scripted-test-key',
    CLAUDE_CONFIG_DIR: path.join(home, '.claude'),
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
    CLAUDE_CODE_MAX_RETRIES: '1',
  });
  return createAgentActivities({ store: db.current.store, config, killGraceMs: 2_000 });
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
});
