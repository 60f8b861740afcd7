/**
 * runAgent with the real Gemini CLI (`@google/gemini-cli`, a dev dependency) talking to a scripted local
 * Gemini API (test/helpers/gemini-api.ts): a tool call that writes a file, a question answered by resuming
 * the same session, a 429 with a retry delay, a used-up daily quota, an API error, the session-turn limit,
 * and a cancellation mid-tool-call. Each test has its own HOME (settings and sessions) and TMPDIR.
 *
 * `RECORD_GEMINI_FIXTURES=1 npx vitest run --project integration test/activities/real-gemini.test.ts`
 * re-records test/fixtures/gemini/*.jsonl from these runs' stdout (see `record`).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createAgentActivities, INTERRUPTED_PROMPT } from '../../activities/run-agent.js';
import { executionPaths } from '../../activities/sandbox.js';
import { loadConfig } from '../../infra/config.js';
import type { AgentRunInput, AgentRunProgress, AgentRunResult } from '../../workflows/types.js';
import { git, isAlive, makeBareRepo, markedProcesses, newRun, runIn, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import {
  dailyQuotaExhausted,
  GeminiApiServer,
  prepareGeminiHome,
  rateLimited,
  requestText,
} from '../helpers/gemini-api.js';

const GEMINI_BIN = fileURLToPath(new URL('../../node_modules/.bin/gemini', import.meta.url));
const FIXTURES_DIR = fileURLToPath(new URL('../fixtures/gemini', import.meta.url));
const RECORD = process.env.RECORD_GEMINI_FIXTURES === '1';
/** The session id fixtures carry (the fake agent swaps in each run's own). */
const FIXTURE_SESSION_ID = 'b3c5d7e9-1f2a-4b4c-8d6e-7f8091a2b3c4';
const API_KEY = 'scripted-gemini-key';

const db = useTestDatabase();
let root: { dir: string; remove: () => void };
let remote: string;
let api: GeminiApiServer;
let home: string;
let tmp: string;
let n = 0;

beforeAll(() => {
  root = tempDir('real-gemini');
  remote = makeBareRepo(root.dir);
});
afterAll(() => root.remove());
beforeEach(async () => {
  n += 1;
  home = path.join(root.dir, `home-${n}`);
  tmp = path.join(root.dir, `tmp-${n}`);
  mkdirSync(tmp, { recursive: true });
  api = await GeminiApiServer.start();
});
afterEach(async () => {
  await api.close();
});

/** The activities, with the CLI's settings (merged over the API-key selection) in this test's HOME. */
function activities(settings: Record<string, unknown> = {}, killGraceMs = 2_000) {
  prepareGeminiHome(home, settings);
  const config = loadConfig({
    PATH: process.env.PATH,
    HOME: home,
    TMPDIR: tmp,
    SHELL: '/bin/bash',
    CLAUDOMATOR_DATA_DIR: path.join(root.dir, 'data'),
    CLAUDOMATOR_GEMINI_BIN: GEMINI_BIN,
    CLAUDOMATOR_HOST_ID: 'test-host',
    GEMINI_API_KEY: API_KEY,
    GOOGLE_GEMINI_BASE_URL: api.url,
  });
  return createAgentActivities({ store: db.current.store, config, killGraceMs, heartbeatIntervalMs: 100 });
}

async function newGeminiRun(extra: Partial<Parameters<typeof newRun>[1]> = {}): Promise<AgentRunInput> {
  return newRun(db.current.store, {
    agent: 'gemini',
    repository: { url: remote, branch: `task/real-gemini-${n}` },
    prompt: 'Add a feature file',
    ...extra,
  });
}

function sandboxOf(input: AgentRunInput): string {
  return executionPaths(path.join(root.dir, 'data'), input.taskId, input.executionId).sandboxDir;
}

/**
 * With RECORD_GEMINI_FIXTURES=1, write a run's stdout to test/fixtures/gemini/<name>.jsonl: the session id
 * made the fixtures' fixed one, the sandbox `/sandbox` (the fake agent puts its own directory back), the
 * execution's directory `/data/executions/task/execution`, the rest of this test's temporary root
 * `/tmp/claudomator`. `transform` derives fixtures that are cut short.
 */
function record(
  name: string,
  run: Pick<AgentRunResult, 'paths' | 'sessionId'>,
  transform: (text: string) => string = (t) => t,
): void {
  if (!RECORD) return;
  let text = readFileSync(run.paths.stdoutPath, 'utf8');
  if (run.sessionId) text = text.split(run.sessionId).join(FIXTURE_SESSION_ID);
  text = text
    .split(run.paths.sandboxDir)
    .join('/sandbox')
    .split(run.paths.artifactDir)
    .join('/data/executions/task/execution')
    .split(root.dir)
    .join('/tmp/claudomator');
  writeFileSync(path.join(FIXTURES_DIR, `${name}.jsonl`), transform(text));
}

/** The pid a tool call wrote, once it has. */
function readPid(file: string): number | undefined {
  return existsSync(file) ? Number(readFileSync(file, 'utf8').trim()) || undefined : undefined;
}

describe('the real gemini CLI against a scripted Gemini API', () => {
  it('success: a write_file call the CLI runs, then a final answer; the file counted in changeStats', async () => {
    const { runAgent } = activities();
    const input = await newGeminiRun();
    api.push(
      {
        text: "I'll add the feature file.",
        functionCall: { name: 'write_file', args: { file_path: 'feature.txt', content: 'alpha\nbeta\ngamma\n' } },
      },
      { text: 'Added feature.txt with three lines.', usage: { promptTokenCount: 8_000, candidatesTokenCount: 400 } },
    );

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    const sandbox = sandboxOf(input);
    expect(result).toMatchObject({
      outcome: 'success',
      summary: 'Added feature.txt with three lines.',
      changeStats: { filesChanged: 1, insertions: 3, deletions: 0 },
    });
    expect(readFileSync(path.join(sandbox, 'feature.txt'), 'utf8')).toBe('alpha\nbeta\ngamma\n');
    expect(git(sandbox, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(input.repository?.branch);
    // Tokens come only in the final event; the cost is estimated from them (model "auto": the family's
    // highest price). 1 000 + 8 000 main-turn and 10 routing input tokens, 50 + 400 + 5 output tokens.
    expect(result.costUsd).toBeCloseTo((9_010 * 2.5 + 455 * 15) / 1e6, 6);

    // The CLI used the session id the runner chose, and the question protocol came in front of the prompt.
    expect(result.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    const stdout = readFileSync(result.paths.stdoutPath, 'utf8');
    expect(stdout.split('\n')[0]).toContain(`"session_id":"${result.sessionId}"`);
    expect(api.requests).toHaveLength(2);
    expect(api.requests[0]!.headers['x-goog-api-key']).toBe(API_KEY);
    expect(requestText(api.requests[0]!)).toContain('CLAUDOMATOR_QUESTION_FILE');
    expect(requestText(api.requests[0]!)).toContain('Add a feature file');
    expect(requestText(api.requests[1]!)).toContain('"functionResponse"');
    // The model was left to the CLI ("auto"): it asked the flash-lite router, which chose pro.
    expect(api.routing).toHaveLength(1);
    expect(api.routing[0]!.model).toMatch(/flash-lite/);
    expect(api.requests[0]!.model).toMatch(/^gemini-[\d.]+-pro/);
    expect(markedProcesses(input.executionId)).toEqual([]);
    record('success', result);
  });

  it('budget: tokens come only with the final event, so the budget holds after the run: budget_exceeded, with its cost', async () => {
    const { runAgent } = activities();
    const input = await newGeminiRun({ config: { maxBudgetUsd: 0.01 } });
    api.push(
      { functionCall: { name: 'write_file', args: { file_path: 'big.txt', content: 'a lot of work\n' } } },
      { text: 'Done, expensively.', usage: { promptTokenCount: 200_000, candidatesTokenCount: 10_000 } },
    );

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(result.outcome).toBe('budget_exceeded');
    expect(result.error).toContain('passed the task budget ($0.01)');
    expect(result.summary).toBe('Done, expensively.');
    expect(result.costUsd).toBeGreaterThan(0.01);
    // The run was not cut: the CLI wrote the file, and its only usage came in its last line.
    expect(readFileSync(path.join(sandboxOf(input), 'big.txt'), 'utf8')).toBe('a lot of work\n');
    const stdout = readFileSync(result.paths.stdoutPath, 'utf8').trim().split('\n');
    expect(stdout.at(-1)).toMatch(/^\{"type":"result"/);
    expect(markedProcesses(input.executionId)).toEqual([]);
  });

  it('question: written to the question file by a shell call, answered by resuming the same session', async () => {
    const { runAgent } = activities();
    const input = await newGeminiRun({ prompt: 'Set up the database' });
    api.push(
      {
        functionCall: {
          name: 'run_shell_command',
          args: {
            command: `printf '%s' '{"question":"Which database should I use?","options":["postgres","sqlite"]}' > "$CLAUDOMATOR_QUESTION_FILE"`,
            description: 'Ask the human',
          },
        },
      },
      { text: 'I asked which database to use.' },
    );
    const asked = await runIn(new MockActivityEnvironment(), runAgent, input);
    expect(asked).toMatchObject({
      outcome: 'question',
      question: { text: 'Which database should I use?', options: ['postgres', 'sqlite'] },
    });
    expect(asked.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    record('question', asked);

    const sandbox = asked.paths.sandboxDir;
    api.push(
      {
        functionCall: { name: 'run_shell_command', args: { command: 'printf "sqlite\\n" > db.txt' } },
      },
      { text: 'Configured sqlite.' },
    );
    const resume = await newRun(db.current.store, {
      agent: 'gemini',
      taskId: input.taskId,
      repository: input.repository,
      resume: { sessionId: asked.sessionId ?? '', answer: 'sqlite' },
    });
    const answered = await runIn(new MockActivityEnvironment(), runAgent, resume);
    api.assertDone();
    expect(answered).toMatchObject({ outcome: 'success', sessionId: asked.sessionId, summary: 'Configured sqlite.' });
    expect(answered.paths.sandboxDir).toBe(sandbox);
    expect(readFileSync(path.join(sandbox, 'db.txt'), 'utf8')).toBe('sqlite\n');
    expect(readFileSync(answered.paths.stdoutPath, 'utf8').split('\n')[0]).toContain(
      `"session_id":"${asked.sessionId}"`,
    );

    // The resumed turn carries the whole conversation: the first prompt, the question asked, and the answer.
    const third = api.requests[2]!;
    expect(requestText(third)).toContain('Set up the database');
    expect(requestText(third)).toContain('CLAUDOMATOR_QUESTION_FILE');
    expect(requestText(third)).toContain('I asked which database to use.');
    expect(requestText(third)).toContain('A human answered your question');
    expect(requestText(third)).toContain('sqlite');
    record('answer', answered);
  });

  it('rate limit: 429s with RetryInfo, rate_limited with retryAt from the delay the server asked for last', async () => {
    // Two attempts (the CLI's default is 10, each waiting at least 5 s); the second 429 asks for longer.
    // Routed to flash: auto routing gives the pro model 3 attempts whatever the settings say.
    const { runAgent } = activities({ general: { maxAttempts: 2 } });
    api.route = 'flash';
    const input = await newGeminiRun();
    api.push(rateLimited('6s'), rateLimited('34.074824224s'));

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    const finished = Date.now();
    api.assertDone();
    expect(result.outcome).toBe('rate_limited');
    expect(result.error).toContain('Resource has been exhausted');
    // The CLI honoured the first delay before its retry (with up to 20 % jitter) ...
    const [first, second] = api.requests;
    expect(api.requests.map((r) => r.model)).toEqual([first!.model, first!.model]);
    expect(first!.model).toMatch(/flash/);
    expect(second!.at - first!.at).toBeGreaterThanOrEqual(6_000);
    // ... and reported the last one ("Suggested retry after 34.074824224s."): the agent is free again then.
    const retryIn = Date.parse(result.retryAt ?? '') - finished;
    expect(retryIn).toBeGreaterThan(32_000);
    expect(retryIn).toBeLessThanOrEqual(34_075);
    expect(markedProcesses(input.executionId)).toEqual([]);
    record('rate_limit', result);
  });

  it('quota: a used-up daily quota, quota_exhausted at once until the server says it resets', async () => {
    const { runAgent } = activities({ general: { maxAttempts: 2 } });
    // A model chosen by the task: no routing call, the alias resolved by the CLI.
    const input = await newGeminiRun({ config: { model: 'flash' } });
    api.push(dailyQuotaExhausted('gemini-3-flash-preview'));

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    const finished = Date.now();
    api.assertDone();
    expect(result.outcome).toBe('quota_exhausted');
    expect(result.error).toContain('You have exhausted your daily quota on this model.');
    // A terminal quota error is not retried; the reset comes from the API's "Please retry in 12005.5s".
    expect(api.requests).toHaveLength(1);
    expect(api.routing).toHaveLength(0);
    expect(api.requests[0]!.model).toMatch(/flash/);
    const retryIn = Date.parse(result.retryAt ?? '') - finished;
    expect(retryIn).toBeGreaterThan(12_000_000);
    expect(retryIn).toBeLessThanOrEqual(12_005_500);
    record('usage_limit', result);
  });

  it('API error: a 400 the CLI does not retry, failed with the API message', async () => {
    const { runAgent } = activities();
    const input = await newGeminiRun();
    api.push({
      status: 400,
      error: { code: 400, message: 'Request contains an invalid argument.', status: 'INVALID_ARGUMENT' },
    });

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(result.outcome).toBe('failed');
    expect(result.error).toContain('Request contains an invalid argument.');
    expect(result.retryAt).toBeUndefined();
    expect(result.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    record('api_error', result);
  });

  it('turn limit: maxSessionTurns reached, failed with the reason (exit 53)', async () => {
    const { runAgent } = activities({ model: { maxSessionTurns: 1 } });
    const input = await newGeminiRun();
    api.push({ functionCall: { name: 'run_shell_command', args: { command: 'true' } } });

    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    api.assertDone();
    expect(result.outcome).toBe('failed');
    expect(result.error).toContain('maximum session turns (exit 53)');
    expect(result.error).toContain('Reached max session turns');
    record('max_turns', result);
  });

  it('crash recovery: a later attempt kills what the first left running and resumes its session', async () => {
    const { runAgent } = activities({}, 1_000);
    const input = await newGeminiRun();
    const pidFile = path.join(tmp, 'tool.pid');
    api.push(
      {
        functionCall: { name: 'run_shell_command', args: { command: `echo $$ > ${pidFile}; exec sleep 1000` } },
      },
      { text: 'Finished after the interruption.' },
    );
    // Attempt 1 hangs in a tool call, as when its worker stopped heartbeating.
    const first = new MockActivityEnvironment();
    const heartbeats: AgentRunProgress[] = [];
    first.on('heartbeat', (d: AgentRunProgress) => heartbeats.push(d));
    const firstRun = runIn(first, runAgent, input);
    const toolPid = await waitFor('the tool to start', () => readPid(pidFile));
    const last = await waitFor('a heartbeat with the session and output', () =>
      heartbeats.findLast((h) => h.sessionId && h.bytes > 0 && h.lastEvent === 'tool_use'),
    );

    const second = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: last });
    const result = await runIn(second, runAgent, input);
    api.assertDone();
    expect(result).toMatchObject({
      outcome: 'success',
      sessionId: last.sessionId,
      summary: 'Finished after the interruption.',
    });
    expect(isAlive(toolPid)).toBe(false);
    // The resumed turn carries the first attempt's prompt and the interruption notice; the call that was
    // cut off (no response recorded) is dropped from the session by the CLI.
    const resumed = api.requests[1]!;
    expect(requestText(resumed)).toContain('Add a feature file');
    expect(requestText(resumed)).toContain(INTERRUPTED_PROMPT);
    expect(requestText(resumed)).not.toContain('"functionCall"');
    // Attempt 1 ends when its CLI is killed; nothing of either attempt is left.
    await firstRun.catch(() => undefined);
    expect(markedProcesses(input.executionId)).toEqual([]);
  });

  it('crash recovery of a session the CLI does not know (exit 42): a fresh run instead', async () => {
    const { runAgent } = activities();
    const input = await newGeminiRun();
    const paths = executionPaths(path.join(root.dir, 'data'), input.taskId, input.executionId);
    const lost: AgentRunProgress = {
      executionId: input.executionId,
      sessionId: '0badc0de-0000-4000-8000-000000000000',
      bytes: 100,
      paths,
    };
    api.push({ text: 'Started over.' });

    const result = await runIn(new MockActivityEnvironment({ attempt: 2, heartbeatDetails: lost }), runAgent, input);
    api.assertDone();
    expect(result).toMatchObject({ outcome: 'success', summary: 'Started over.' });
    expect(result.sessionId).not.toBe(lost.sessionId);
    // The refused resume is in the run's stderr; the fresh run started from the task's prompt.
    expect(readFileSync(paths.stderrPath, 'utf8')).toContain('Error resuming session: No previous sessions found');
    expect(requestText(api.requests[0]!)).toContain('Add a feature file');
  });

  it('cancel: mid tool call, the CLI, its relaunched child and the tool (its own process group) are killed', async () => {
    const { runAgent } = activities({}, 1_000);
    const input = await newGeminiRun();
    const pidFile = path.join(tmp, 'tool.pid');
    // The shell tool runs in a process group of its own, out of reach of the CLI's group.
    api.push({
      functionCall: {
        name: 'run_shell_command',
        args: { command: `echo $$ > ${pidFile}; exec sleep 1000`, description: 'Run the dev server' },
      },
    });
    const env = new MockActivityEnvironment();
    const running = runIn(env, runAgent, input);
    const toolPid = await waitFor('the tool to start', () => readPid(pidFile));
    const marked = await waitFor('the CLI and the tool to be marked', () => {
      const pids = markedProcesses(input.executionId);
      return pids.includes(toolPid) && pids.length >= 3 ? pids : undefined;
    });

    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    for (const pid of marked) expect({ pid, alive: isAlive(pid) }).toEqual({ pid, alive: false });
    expect(markedProcesses(input.executionId)).toEqual([]);
    // The run wrote its events so far; a run cut off like this is what the hang and crash fixtures show.
    const paths = executionPaths(path.join(root.dir, 'data'), input.taskId, input.executionId);
    const stdout = readFileSync(paths.stdoutPath, 'utf8');
    expect(stdout).toContain('"type":"tool_use"');
    expect(stdout).not.toContain('"type":"result"');
    const cut = { paths, sessionId: /"session_id":"([^"]+)"/.exec(stdout)?.[1] };
    record('hang', cut);
    record('crash', cut, (text) => text.split('\n').slice(0, 2).join('\n') + '\n');
    // What a process killed while writing leaves: a line cut short.
    record('garbage', cut, (text) => {
      const [init = '', message = ''] = text.split('\n');
      return `${init}\n${message.slice(0, Math.floor(message.length / 2))}`;
    });
  });
});
