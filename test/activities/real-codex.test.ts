/**
 * runAgent with the real Codex CLI (`@openai/codex` 0.171.0, a dev dependency; the native binary runs under
 * its Node wrapper) talking to a scripted local Responses API server: changes made by a shell command and a
 * patch inside Codex's own sandbox, a question answered by resuming the same thread, 429s, usage limits,
 * a budget it cannot be held to, a cancellation and a crash. Each test has its own HOME and CODEX_HOME.
 *
 * `CODEX_RECORD=1 npx vitest run --project integration test/activities/real-codex.test.ts` rewrites the
 * recorded fixtures in test/fixtures/codex/ from these runs (the checkout's path becomes /sandbox, other
 * scratch paths /data, the thread id one fixed id; the fake codex and the adapter's unit tests replay them).
 *
 * The sandbox flag is `workspace-write`: Codex's bubblewrap/seccomp sandbox works in this container, and
 * (a) checks that it confines writes; `danger-full-access` would not be needed, nor wanted.
 */
import { mkdirSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAgentActivities } from '../../activities/run-agent.js';
import { executionPaths } from '../../activities/sandbox.js';
import { loadConfig } from '../../infra/config.js';
import type { AgentRunInput, AgentRunResult } from '../../workflows/types.js';
import {
  codexConfigToml,
  inputText,
  ResponsesApiServer,
  scriptedCallId,
  type ScriptedReply,
  toolOutput,
} from '../helpers/codex-api.js';
import { git, isAlive, makeBareRepo, markedProcesses, newRun, runIn, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';

const CODEX_BIN = fileURLToPath(new URL('../../node_modules/.bin/codex', import.meta.url));
const FIXTURES = fileURLToPath(new URL('../fixtures/codex', import.meta.url));
const RECORD = process.env.CODEX_RECORD === '1';
/** The model named in config.toml; tasks that name one pass it with --model. */
const DEFAULT_MODEL = 'gpt-5.6-luna';

const db = useTestDatabase();
let root: { dir: string; remove: () => void };
let remote: string;
let api: ResponsesApiServer;
let home: string;
let n = 0;

beforeAll(() => {
  root = tempDir('real-codex');
  remote = makeBareRepo(root.dir);
});
afterAll(() => root.remove());
beforeEach(async () => {
  n += 1;
  home = path.join(root.dir, `home-${n}`);
  api = await ResponsesApiServer.start();
});
afterEach(async () => {
  await api.close();
});

/** The runner with the real codex, a CODEX_HOME of its own whose config points at the scripted API. */
function activities(retries: { request?: number; stream?: number } = {}) {
  const codexHome = path.join(home, '.codex');
  mkdirSync(codexHome, { recursive: true });
  writeFileSync(
    path.join(codexHome, 'config.toml'),
    codexConfigToml({
      baseUrl: api.url,
      model: DEFAULT_MODEL,
      requestMaxRetries: retries.request,
      streamMaxRetries: retries.stream,
    }),
  );
  const config = loadConfig({
    PATH: process.env.PATH,
    HOME: home,
    SHELL: '/bin/bash',
    ...(process.env.TZ ? { TZ: process.env.TZ } : {}),
    CLAUDOMATOR_DATA_DIR: path.join(root.dir, 'data'),
    CLAUDOMATOR_CODEX_BIN: CODEX_BIN,
    CLAUDOMATOR_HOST_ID: 'test-host',
    CODEX_HOME: codexHome,
    OPENAI_API_KEY: 'sk-scripted-test-key',
  });
  return createAgentActivities({ store: db.current.store, config, killGraceMs: 2_000 });
}

async function newCodexRun(extra: Partial<Parameters<typeof newRun>[1]> = {}): Promise<AgentRunInput> {
  return newRun(db.current.store, {
    agent: 'codex',
    repository: { url: remote, branch: `task/real-codex-${n}` },
    prompt: 'Add feature.txt',
    ...extra,
  });
}

/** The thread id every recorded fixture carries, so that re-recording changes only what the CLI changed. */
const FIXTURE_THREAD_ID = '01a241e4-da66-7c53-9872-3e411f07dc9a';

/** Write a run's stdout to test/fixtures/codex/<name>.jsonl when recording. */
function record(name: string, result: Pick<AgentRunResult, 'paths'>): void {
  if (!RECORD) return;
  let text = readFileSync(result.paths.stdoutPath, 'utf8')
    .split(result.paths.sandboxDir)
    .join('/sandbox')
    .split(root.dir)
    .join('/data');
  const thread = /"thread_id":"([^"]+)"/.exec(text)?.[1];
  if (thread) text = text.split(thread).join(FIXTURE_THREAD_ID);
  writeFileSync(path.join(FIXTURES, `${name}.jsonl`), text);
}

/** The command line of `pid` as its arguments ([] once it is gone). */
function argv(pid: number): string[] {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').slice(0, -1);
  } catch {
    return [];
  }
}

/** The run's live processes (found by the runner's marker) whose command line `matches`. */
function runProcesses(input: AgentRunInput, matches: (args: string[]) => boolean): number[] {
  return markedProcesses(input.executionId).filter((pid) => matches(argv(pid)));
}

const isSleep = (args: string[]): boolean => args[0] === 'sleep';

/** Process group and session of `pid` (fields 5 and 6 of /proc/<pid>/stat). */
function groupAndSession(pid: number): { pgrp: number; session: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { pgrp: Number(fields[2]), session: Number(fields[3]) };
}

const tooMany = (headers: Record<string, string> = {}): ScriptedReply => ({
  status: 429,
  headers,
  body: { error: { type: 'rate_limit_exceeded', message: 'Rate limit reached for requests' } },
});

describe('the real codex CLI against a scripted Responses API', () => {
  it('(a) a shell command and a patch, run in the workspace-write sandbox: success, the changes counted', async () => {
    const { runAgent } = activities();
    const input = await newCodexRun({ config: { model: 'gpt-5.5' } });
    api.push(
      {
        text: 'Looking around first.',
        exec: { cmd: "printf 'more\\n' >> README.md && ls" },
        usage: { input: 5_000, cached: 1_000, output: 120 },
      },
      {
        patch: '*** Begin Patch\n*** Add File: feature.txt\n+one\n+two\n+three\n*** End Patch\n',
        usage: { input: 6_000, cached: 5_000, output: 80 },
      },
      { text: 'Added feature.txt with three lines.', usage: { input: 6_500, cached: 6_000, output: 30 } },
    );

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(result).toMatchObject({
      outcome: 'success',
      summary: 'Added feature.txt with three lines.',
      changeStats: { filesChanged: 2, insertions: 4, deletions: 0 },
    });
    expect(result.sessionId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$/);
    // 17.5 k input (12 k cached) and 230 output tokens, priced as gpt-5 (the model the task named).
    expect(result.costUsd).toBeCloseTo((5_500 * 1.25 + 12_000 * 0.125 + 230 * 10) / 1e6, 5);
    const sandbox = result.paths.sandboxDir;
    expect(readFileSync(path.join(sandbox, 'feature.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
    expect(readFileSync(path.join(sandbox, 'README.md'), 'utf8')).toMatch(/hello\nmore\n$/);
    expect(git(sandbox, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(input.repository?.branch);

    expect(toolOutput(api.requests[1]!, scriptedCallId(1))).toContain('README.md');
    expect(toolOutput(api.requests[2]!, scriptedCallId(2))).toContain('feature.txt');

    // One thread throughout; the task's model; the runner's instructions in front of the prompt.
    expect(api.requests.map((r) => r.headers['thread-id'])).toEqual(Array(3).fill(result.sessionId));
    expect(api.requests.map((r) => r.body.model)).toEqual(Array(3).fill('gpt-5.5'));
    expect(api.requests[0]!.headers.authorization).toBe('Bearer sk-scripted-test-key');
    expect(inputText(api.requests[0]!)).toMatch(/CLAUDOMATOR_QUESTION_FILE.*---\\n\\nAdd feature\.txt/);
    const stdout = readFileSync(result.paths.stdoutPath, 'utf8');
    expect(stdout).toContain('"type":"file_change"');
    expect(stdout).toContain('"type":"command_execution"');
    expect(markedProcesses(input.executionId)).toEqual([]);
    record('success', result);
  });

  it('(a) the sandbox is real: a command can write the checkout and the added directory, nothing else', async () => {
    const { runAgent } = activities();
    const input = await newCodexRun();
    const outside = path.join(home, 'outside.txt');
    const artifacts = executionPaths(path.join(root.dir, 'data'), input.taskId, input.executionId).artifactDir;
    api.push(
      { exec: { cmd: `echo in > inside.txt; echo added > ${artifacts}/added.txt; echo out > ${outside}; true` } },
      { text: 'Tried.' },
    );

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(result.outcome).toBe('success');
    expect(readFileSync(path.join(result.paths.sandboxDir, 'inside.txt'), 'utf8')).toBe('in\n');
    expect(readFileSync(path.join(artifacts, 'added.txt'), 'utf8')).toBe('added\n');
    expect(existsSync(outside)).toBe(false);
    expect(toolOutput(api.requests[1]!, scriptedCallId(1))).toContain(`${outside}: Read-only file system`);
  });

  it('(b) a question through the question file, then `exec resume` continues the same thread in the same sandbox', async () => {
    const { runAgent } = activities();
    const input = await newCodexRun({ prompt: 'Set up the database' });
    api.push(
      {
        exec: {
          cmd: `printf '%s' '{"question":"Which database?","options":["postgres","sqlite"]}' > "$CLAUDOMATOR_QUESTION_FILE"`,
        },
      },
      { text: 'I asked which database to use.' },
    );
    const asked = await runIn(new MockActivityEnvironment(), runAgent, input);
    expect(asked).toMatchObject({
      outcome: 'question',
      question: { text: 'Which database?', options: ['postgres', 'sqlite'] },
    });
    // The question file is outside the checkout and outside /tmp's writable roots: writable only through --add-dir.
    expect(toolOutput(api.requests[1]!, scriptedCallId(1))).toContain('exited with code 0');
    record('question', asked);

    const sandbox = asked.paths.sandboxDir;
    api.push(
      { patch: '*** Begin Patch\n*** Add File: db.txt\n+sqlite\n*** End Patch\n' },
      { text: 'Configured sqlite.' },
    );
    const resume = await newRun(db.current.store, {
      agent: 'codex',
      taskId: input.taskId,
      repository: input.repository,
      resume: { sessionId: asked.sessionId ?? '', answer: 'sqlite' },
    });
    const answered = await runIn(new MockActivityEnvironment(), runAgent, resume);
    api.assertDone();
    expect(answered).toMatchObject({ outcome: 'success', sessionId: asked.sessionId, summary: 'Configured sqlite.' });
    expect(answered.paths.sandboxDir).toBe(sandbox);
    expect(readFileSync(path.join(sandbox, 'db.txt'), 'utf8')).toBe('sqlite\n');

    // The resumed request is the same thread, and carries the whole conversation and the answer.
    const third = api.requests[2]!;
    expect(third.headers['thread-id']).toBe(asked.sessionId);
    expect(inputText(third)).toContain('Set up the database');
    expect(inputText(third)).toContain('CLAUDOMATOR_QUESTION_FILE');
    expect(inputText(third)).toContain('I asked which database to use.');
    expect(inputText(third)).toContain('A human answered your question');
    expect(inputText(third)).toContain('sqlite');
    record('answer', answered);
  });

  it('(c) a 429 with retry-after: the CLI waits it out, then gives up without saying how long: rate_limited, the default minute', async () => {
    const { runAgent } = activities({ stream: 1 });
    const input = await newCodexRun();
    api.push(tooMany({ 'retry-after': '2' }), tooMany({ 'retry-after': '2' }));

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    const finished = Date.now();
    api.assertDone();
    expect(result.outcome).toBe('rate_limited');
    expect(result.error).toContain('exceeded retry limit, last status: 429 Too Many Requests');
    const [first, second] = api.requests;
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(2_000);
    const retryIn = Date.parse(result.retryAt ?? '') - finished;
    expect(retryIn).toBeGreaterThan(55_000);
    expect(retryIn).toBeLessThanOrEqual(60_000);
    record('rate_limit', result);
  });

  it('(c) a rate limit reported in the stream with "try again in 1.5s": rate_limited, retryAt from that delay', async () => {
    const { runAgent } = activities({ stream: 1 });
    const input = await newCodexRun();
    const failed: ScriptedReply = {
      failed: { code: 'rate_limit_exceeded', message: 'Rate limit reached for gpt-5.5. Please try again in 1.5s.' },
    };
    api.push(failed, failed);

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    const finished = Date.now();
    api.assertDone();
    expect(result.outcome).toBe('rate_limited');
    expect(result.error).toContain('Please try again in 1.5s.');
    expect(api.requests[1]!.at - api.requests[0]!.at).toBeGreaterThanOrEqual(1_500);
    const retryIn = Date.parse(result.retryAt ?? '') - finished;
    expect(retryIn).toBeGreaterThan(1_000);
    expect(retryIn).toBeLessThanOrEqual(1_500);
    record('rate_limit_delay', result);
  });

  it('(d) a usage limit (429 usage_limit_reached with resets_at): quota_exhausted until the reset, no retry', async () => {
    const { runAgent } = activities({ stream: 2 });
    const input = await newCodexRun();
    const resetsAt = Math.floor(Date.now() / 1000) + 3 * 3600 + 17 * 60;
    api.push({
      status: 429,
      body: {
        error: { type: 'usage_limit_reached', message: 'The usage limit has been reached', resets_at: resetsAt },
      },
    });

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(result.outcome).toBe('quota_exhausted');
    expect(result.error).toMatch(/You’ve hit your usage limit\. Try again at .*\d:\d\d [AP]M\./);
    // The CLI prints the reset to the minute, in the local zone.
    const retryAt = Date.parse(result.retryAt ?? '');
    expect(retryAt).toBeGreaterThan(resetsAt * 1000 - 60_000);
    expect(retryAt).toBeLessThanOrEqual(resetsAt * 1000);
    record('usage_limit_reset', result);
  });

  it.each([
    [
      'usage_limit',
      { status: 429, body: { error: { type: 'usage_limit_reached', message: 'The usage limit has been reached' } } },
      'You’ve hit your usage limit. Try again later.',
    ],
    [
      'quota',
      { failed: { code: 'insufficient_quota', message: 'You exceeded your current quota.' } },
      'Quota exceeded. Check your plan and billing details.',
    ],
  ] as const)(
    '(d) %s without a reset time: quota_exhausted for the default 5 hours',
    async (name, reply: ScriptedReply, message) => {
      const { runAgent } = activities({ stream: 2 });
      const input = await newCodexRun();
      api.push(reply);

      const result = await runIn(new MockActivityEnvironment(), runAgent, input);
      const finished = Date.now();
      api.assertDone();
      expect(result.outcome).toBe('quota_exhausted');
      expect(result.error).toContain(message);
      const retryIn = Date.parse(result.retryAt ?? '') - finished;
      expect(Math.abs(retryIn - 5 * 3_600_000)).toBeLessThan(5_000);
      record(name, result);
    },
  );

  it('(e) budget: Codex reports tokens only when its one turn ends, so the budget holds after the run: budget_exceeded, with its cost', async () => {
    const { runAgent } = activities();
    const input = await newCodexRun({ config: { model: 'gpt-5.5', maxBudgetUsd: 0.05 } });
    api.push(
      {
        patch: '*** Begin Patch\n*** Add File: big.txt\n+a lot of work\n*** End Patch\n',
        usage: { input: 200_000, output: 10_000 },
      },
      { text: 'Done, expensively.', usage: { input: 210_000, output: 5_000 } },
    );

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    // The CLI made both model calls: nothing in its output told the runner the cost before the end.
    expect(result.outcome).toBe('budget_exceeded');
    expect(result.error).toContain('passed the task budget ($0.05)');
    expect(result.summary).toBe('Done, expensively.');
    expect(result.costUsd).toBeCloseTo((410_000 * 1.25 + 15_000 * 10) / 1e6, 6);
    expect(result.costUsd).toBeGreaterThan(0.05);
    const stdout = readFileSync(result.paths.stdoutPath, 'utf8');
    expect(stdout.match(/"usage"/g)).toHaveLength(1);
    expect(stdout.trim().split('\n').at(-1)).toMatch(/^\{"type":"turn\.completed"/);
    record('budget', result);
  });

  it('(f) cancelled mid-run: the CLI and the commands its sandbox started (a session of their own) are killed', async () => {
    const { runAgent } = activities();
    const input = await newCodexRun();
    api.push({ exec: { cmd: 'sleep 1000 & sleep 1001', yieldTimeMs: 30_000 } });
    const env = new MockActivityEnvironment();
    const running = runIn(env, runAgent, input);

    const { stdoutPath } = executionPaths(path.join(root.dir, 'data'), input.taskId, input.executionId);
    const sleeps = await waitFor('the sandboxed sleeps, reported', () => {
      const pids = runProcesses(input, isSleep);
      return pids.length === 2 && readFileSync(stdoutPath, 'utf8').includes('"item.started"') ? pids : undefined;
    });
    // The Node wrapper the runner started (the native binary is its child).
    const [cli] = runProcesses(input, (args) => args[1]?.endsWith('/.bin/codex') === true);
    expect(cli).toBeDefined();
    // Codex's sandbox starts commands in a new session: killing the CLI's process group would miss them.
    for (const pid of sleeps) expect(groupAndSession(pid).pgrp).not.toBe(groupAndSession(cli!).pgrp);

    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    for (const pid of [cli!, ...sleeps]) expect(isAlive(pid)).toBe(false);
    expect(markedProcesses(input.executionId)).toEqual([]);
    record('hang', {
      paths: executionPaths(path.join(root.dir, 'data'), input.taskId, input.executionId),
    });
  });

  it('(g) crash: the CLI killed from outside (SIGKILL, as the OOM killer does): failed, nothing left running', async () => {
    const { runAgent } = activities();
    const input = await newCodexRun();
    api.push({ exec: { cmd: 'sleep 1002', yieldTimeMs: 30_000 } });
    const running = runIn(new MockActivityEnvironment(), runAgent, input);

    const { stdoutPath } = executionPaths(path.join(root.dir, 'data'), input.taskId, input.executionId);
    await waitFor('the sandboxed sleep, reported', () => {
      return runProcesses(input, isSleep).length === 1 && readFileSync(stdoutPath, 'utf8').includes('"item.started"');
    });
    // The native binary (the Node wrapper mirrors its death).
    const native = runProcesses(input, (args) => args[0]?.endsWith('/bin/codex') === true);
    expect(native).toHaveLength(1);
    process.kill(native[0]!, 'SIGKILL');

    const result = await running;
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/^codex was killed by SIGKILL/);
    expect(result.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(markedProcesses(input.executionId)).toEqual([]);
    record('crash', result);
  });

  it('a resume of a thread the CLI no longer has: a fresh run in the same sandbox, told what the lost session was told', async () => {
    const { runAgent } = activities();
    const unknown = '01a24000-0000-7000-8000-000000000000';
    const input = await newCodexRun({ resume: { sessionId: unknown, answer: 'sqlite' } });
    api.push({ text: 'Went with sqlite.' });

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(result.outcome).toBe('success');
    expect(result.sessionId).not.toBe(unknown);
    // The CLI said it had no such thread; the fresh run's prompt carries the answer the lost session was to get.
    expect(readFileSync(result.paths.stderrPath, 'utf8')).toContain(`no rollout found for thread id ${unknown}`);
    expect(JSON.stringify(api.requests[0]!.body)).toContain('That session was then told');
    expect(JSON.stringify(api.requests[0]!.body)).toContain('sqlite');
  });
});
