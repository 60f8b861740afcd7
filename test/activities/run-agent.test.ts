/**
 * runAgent with the fake Claude, Gemini and Codex CLIs (real processes replaying each CLI's recorded
 * output) and real git: every outcome, in each CLI's own shapes, through MockActivityEnvironment.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentActivities } from '../../activities/run-agent.js';
import { FailureType } from '../../workflows/failures.js';
import type { AgentRunInput, AgentRunProgress, AgentRunResult, AgentType } from '../../workflows/types.js';
import {
  fakeAgentConfig,
  git,
  makeBareRepo,
  markedProcesses,
  newRun,
  readCalls,
  runIn,
  tempDir,
} from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';

const db = useTestDatabase();
let root: { dir: string; remove: () => void };
let remote: string;
let n = 0;

beforeAll(() => {
  root = tempDir('run-agent');
  remote = makeBareRepo(root.dir);
});
afterAll(() => root.remove());

interface Ran {
  result: AgentRunResult;
  input: AgentRunInput;
  stateDir: string;
  heartbeats: AgentRunProgress[];
}

/** One run of `agent` playing `scenario` in a worktree of the bare repo, on a fresh branch. */
async function run(
  agent: AgentType,
  scenario: string,
  options: { config?: Parameters<typeof newRun>[1]['config']; timeoutMs?: number; env?: Record<string, string> } = {},
): Promise<Ran> {
  n += 1;
  const stateDir = path.join(root.dir, `state-${n}`);
  const config = fakeAgentConfig({ dataDir: path.join(root.dir, 'data'), stateDir, scenario, env: options.env });
  const input = await newRun(db.current.store, {
    agent,
    repository: { url: remote, branch: `task/${agent}-${scenario}-${n}` },
    config: options.config,
    timeoutMs: options.timeoutMs,
  });
  const env = new MockActivityEnvironment();
  const heartbeats: AgentRunProgress[] = [];
  env.on('heartbeat', (d: AgentRunProgress) => heartbeats.push(d));
  const { runAgent } = createAgentActivities({
    store: db.current.store,
    config,
    killGraceMs: 1_000,
    heartbeatIntervalMs: 100,
  });
  const result = await runIn(env, runAgent, input);
  return { result, input, stateDir, heartbeats };
}

function near(iso: string | undefined, expectedMs: number, toleranceMs: number): void {
  expect(iso).toBeDefined();
  const at = Date.parse(iso ?? '');
  expect(Math.abs(at - expectedMs)).toBeLessThan(toleranceMs);
}

describe('runAgent: success with changes', () => {
  it.each(['claude', 'gemini', 'codex'] as const)(
    '%s: success, session id, summary, and git change stats of committed, modified and untracked files',
    async (agent) => {
      const { result, input, stateDir, heartbeats } = await run(agent, 'success');
      const calls = readCalls(stateDir);
      expect(calls).toHaveLength(1);
      const call = calls[0]!;

      expect(result.outcome).toBe('success');
      expect(result.summary).toMatch(/feature\.txt/);
      expect(result.error).toBeUndefined();
      // committed.txt (2 lines, committed by the agent), untracked.txt (3 lines), README.md (+1 line)
      expect(result.changeStats).toEqual({ filesChanged: 3, insertions: 6, deletions: 0 });
      expect(result.hostQueue).toBe('claudomator-agents@test-host');

      // The session id is the CLI's, known from its first event (Claude's and Gemini's chosen up front).
      expect(result.sessionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(heartbeats.some((h) => h.sessionId === result.sessionId && h.executionId === input.executionId)).toBe(
        true,
      );
      expect(heartbeats.at(-1)?.bytes).toBeGreaterThan(0);
      if (agent !== 'codex') expect(call.argv).toContain(result.sessionId);

      // The sandbox: a worktree on the task's branch, stdin closed, the question file outside it.
      const sandbox = result.paths.sandboxDir;
      expect(call.cwd).toBe(sandbox);
      expect(call.stdinIsPipe).toBe(false);
      expect(git(sandbox, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe(input.repository?.branch);
      expect(git(remote, 'rev-parse', '--verify', `refs/heads/${input.repository?.branch}`)).toMatch(/^[0-9a-f]{40}$/);
      expect(call.env.CLAUDOMATOR_QUESTION_FILE).toBe(result.paths.questionFile);
      expect(result.paths.questionFile.startsWith(sandbox)).toBe(false);
      // Counting used a scratch index: the agent's untracked file is still untracked.
      expect(git(sandbox, 'status', '--porcelain')).toContain('?? untracked.txt');

      // Logs where the execution row says, written before the agent started.
      const row = await db.current.store.getExecution(input.executionId);
      expect(row).toMatchObject({
        stdoutPath: result.paths.stdoutPath,
        stderrPath: result.paths.stderrPath,
        artifactDir: result.paths.artifactDir,
        sandboxDir: sandbox,
        sessionId: result.sessionId,
      });
      expect(readFileSync(result.paths.stdoutPath, 'utf8')).toContain(result.sessionId);
      expect(markedProcesses(input.executionId)).toEqual([]);
    },
  );

  it('passes the agent its own variables and the passthrough names, and nothing else of the worker', async () => {
    const { result, stateDir, input } = await run('claude', 'success', {
      env: {
        ANTHROPIC_API_KEY: 'sk-ant-test-123456',
        DATABASE_URL: 'postgres://secret@db/claudomator',
        TEMPORAL_API_KEY: 'temporal-secret',
        AWS_SECRET_ACCESS_KEY: 'aws-secret',
      },
    });
    expect(result.outcome).toBe('success');
    const call = readCalls(stateDir)[0]!;
    expect(call.envNames).toEqual(expect.arrayContaining(['ANTHROPIC_API_KEY', 'PATH', 'HOME', 'FAKE_AGENT_SCENARIO']));
    expect(call.envNames).not.toContain('DATABASE_URL');
    expect(call.envNames).not.toContain('TEMPORAL_API_KEY');
    expect(call.envNames).not.toContain('AWS_SECRET_ACCESS_KEY');
    expect(call.env.CLAUDOMATOR_RUN_ID).toBe(`${input.executionId}:1`);
    if (process.getuid?.() === 0) expect(call.env.IS_SANDBOX).toBe('1');
    expect(call.argv.slice(0, 4)).toEqual(['-p', '--output-format', 'stream-json', '--verbose']);
    expect(call.argv).toEqual(expect.arrayContaining(['--permission-mode', 'bypassPermissions', '--add-dir']));
    const prompt = call.argv[call.argv.indexOf('--append-system-prompt') + 1] ?? '';
    expect(prompt).toContain('CLAUDOMATOR_QUESTION_FILE');
    expect(call.argv.at(-2)).toBe('--');
  });

  it('passes model, tools, budget and the system-prompt append to claude', async () => {
    const { stateDir } = await run('claude', 'success', {
      config: { model: 'sonnet', allowedTools: ['Bash', 'Edit'], maxBudgetUsd: 2.5, systemPromptAppend: 'Use tabs.' },
    });
    const argv = readCalls(stateDir)[0]!.argv;
    expect(argv).toEqual(
      expect.arrayContaining(['--model', 'sonnet', '--allowedTools', 'Bash,Edit', '--max-budget-usd', '2.5']),
    );
    expect(argv[argv.indexOf('--append-system-prompt') + 1]).toMatch(/^Use tabs\.\n\n/);
  });
});

describe('runAgent: limits', () => {
  it('claude 429: rate_limited, retryAt from the retry-after the CLI waited (api_retry.retry_delay_ms)', async () => {
    const before = Date.now();
    const { result } = await run('claude', 'rate_limit');
    expect(result.outcome).toBe('rate_limited');
    expect(result.error).toContain('429');
    near(result.retryAt, before + 3_000, 2_500);
  });

  it('gemini RetryableQuotaError: rate_limited after the suggested 34.07 s', async () => {
    const before = Date.now();
    const { result } = await run('gemini', 'rate_limit');
    expect(result.outcome).toBe('rate_limited');
    near(result.retryAt, before + 34_075, 2_500);
  });

  it('codex 429: rate_limited with the default minute', async () => {
    const before = Date.now();
    const { result } = await run('codex', 'rate_limit');
    expect(result.outcome).toBe('rate_limited');
    expect(result.error).toContain('429 Too Many Requests');
    near(result.retryAt, before + 60_000, 2_500);
  });

  it('claude usage limit: quota_exhausted until the rate_limit_event reset time', async () => {
    const before = Date.now();
    const { result } = await run('claude', 'usage_limit');
    expect(result.outcome).toBe('quota_exhausted');
    expect(result.error).toContain("You've hit your session limit");
    near(result.retryAt, before + 7_200_000, 5_000);
  });

  it('gemini daily quota (TerminalQuotaError, no reset time): quota_exhausted for the default 5 hours', async () => {
    const before = Date.now();
    const { result } = await run('gemini', 'usage_limit');
    expect(result.outcome).toBe('quota_exhausted');
    near(result.retryAt, before + 5 * 3_600_000, 5_000);
  });

  it('codex usage limit without a reset time ("Try again later."): quota_exhausted for the default 5 hours', async () => {
    const before = Date.now();
    const { result } = await run('codex', 'usage_limit');
    expect(result.outcome).toBe('quota_exhausted');
    expect(result.error).toContain('You’ve hit your usage limit. Try again later.');
    near(result.retryAt, before + 5 * 3_600_000, 5_000);
  });

  it('claude budget: budget_exceeded as the CLI reports it (error_max_budget_usd), with the cost', async () => {
    const { result } = await run('claude', 'budget', { config: { maxBudgetUsd: 0.5 } });
    expect(result).toMatchObject({ outcome: 'budget_exceeded', costUsd: 0.6 });
    expect(result.error).toContain('Reached maximum budget');
  });

  it('codex over budget: its tokens come only with the end of its one turn, so the budget holds after it: budget_exceeded, with the cost', async () => {
    const { result, input } = await run('codex', 'budget', { config: { maxBudgetUsd: 0.05, model: 'gpt-5.5' } });
    expect(result.outcome).toBe('budget_exceeded');
    expect(result.error).toMatch(/estimated cost \(\$0\.6625\) passed the task budget \(\$0\.05\)/);
    // 410 k input and 15 k output tokens at gpt-5 prices: $0.5125 + $0.15
    expect(result.costUsd).toBeCloseTo(0.6625, 5);
    expect(markedProcesses(input.executionId)).toEqual([]);
  });
});

describe('runAgent: failures', () => {
  it.each(['claude', 'gemini', 'codex'] as const)('%s crash: failed with the end of stderr', async (agent) => {
    const { result } = await run(agent, 'crash');
    expect(result.outcome).toBe('failed');
    expect(result.error).toContain("TypeError: Cannot read properties of undefined (reading 'content')");
    expect(result.sessionId).toBeDefined();
  });

  it.each(['claude', 'gemini', 'codex'] as const)(
    '%s garbage (banners, a cut line, exit 0, no result): failed, not success',
    async (agent) => {
      const { result } = await run(agent, 'garbage');
      expect(result.outcome).toBe('failed');
      expect(result.error).toMatch(/without (a result event|finishing a turn)/);
    },
  );

  it('gemini max session turns (exit 53, FatalTurnLimitedError): failed with the reason', async () => {
    const { result } = await run('gemini', 'max_turns');
    expect(result.outcome).toBe('failed');
    expect(result.error).toContain('maximum session turns');
  });

  it('redacts secret values and NAME=value pairs from errors', async () => {
    const { result } = await run('command', 'success', {
      config: {
        command: 'node -e console.error("token:",process.env.ANTHROPIC_API_KEY,"API_TOKEN=abc123");process.exit(3)',
      },
      env: { ANTHROPIC_API_KEY: 'sk-ant-very-secret-value' },
    });
    expect(result.outcome).toBe('failed');
    expect(result.error).toContain('exit 3');
    expect(result.error).not.toContain('sk-ant-very-secret-value');
    expect(result.error).not.toContain('abc123');
    expect(result.error).toContain('API_TOKEN=***');
  });
});

describe('runAgent: the command agent', () => {
  it('succeeds on exit 0 and counts what the command changed', async () => {
    const { result, input } = await run('command', 'success', {
      config: { command: 'node -e require("fs").writeFileSync("made-by-command.txt","x\\n");console.log("built")' },
    });
    expect(result).toMatchObject({ outcome: 'success', summary: 'built' });
    expect(result.changeStats).toEqual({ filesChanged: 1, insertions: 1, deletions: 0 });
    expect(result.sessionId).toBeUndefined();
    expect(existsSync(path.join(result.paths.sandboxDir, 'made-by-command.txt'))).toBe(true);
    expect(markedProcesses(input.executionId)).toEqual([]);
  });

  it('fails with the exit status and stderr', async () => {
    const { result } = await run('command', 'success', { config: { command: 'ls /no/such/dir' } });
    expect(result.outcome).toBe('failed');
    expect(result.error).toMatch(/^exit 2: ls: cannot access '\/no\/such\/dir'/);
  });
});

describe('runAgent: configuration errors are non-retryable', () => {
  async function failure(promise: Promise<unknown>): Promise<ApplicationFailure> {
    const err = await promise.then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ApplicationFailure);
    return err as ApplicationFailure;
  }

  it('a missing agent binary', async () => {
    const config = {
      ...fakeAgentConfig({ dataDir: path.join(root.dir, 'data'), stateDir: root.dir, scenario: 'success' }),
    };
    config.agentBins = { ...config.agentBins, claude: path.join(root.dir, 'no-such-claude') };
    const input = await newRun(db.current.store, { agent: 'claude' });
    const { runAgent } = createAgentActivities({ store: db.current.store, config });
    const err = await failure(runIn(new MockActivityEnvironment(), runAgent, input));
    expect(err).toMatchObject({ type: FailureType.AgentConfig, nonRetryable: true });
    expect(err.message).toContain('no such executable');
    expect(err.message).toContain('CLAUDOMATOR_CLAUDE_BIN');
  });

  it('an unknown agent, a missing command line, a command that does not exist', async () => {
    const config = fakeAgentConfig({ dataDir: path.join(root.dir, 'data'), stateDir: root.dir, scenario: 'success' });
    const { runAgent } = createAgentActivities({ store: db.current.store, config });
    const unknown = await newRun(db.current.store, { agent: 'claude' });
    const err1 = await failure(
      runIn(new MockActivityEnvironment(), runAgent, { ...unknown, agent: 'gpt' as AgentType }),
    );
    expect(err1).toMatchObject({ type: FailureType.AgentConfig, nonRetryable: true });
    expect(err1.message).toContain('agent "gpt" is unknown');

    const noCommand = await newRun(db.current.store, { agent: 'command' });
    const err2 = await failure(runIn(new MockActivityEnvironment(), runAgent, noCommand));
    expect(err2).toMatchObject({ type: FailureType.AgentConfig, nonRetryable: true });
    expect(err2.message).toContain('config.command is required');

    const missing = await newRun(db.current.store, { agent: 'command', config: { command: 'no-such-tool --flag' } });
    const err3 = await failure(runIn(new MockActivityEnvironment(), runAgent, missing));
    expect(err3).toMatchObject({ type: FailureType.AgentConfig, nonRetryable: true });
    expect(err3.message).toContain('no-such-tool');
  });

  it('an execution row the task workflow did not create', async () => {
    const config = fakeAgentConfig({ dataDir: path.join(root.dir, 'data'), stateDir: root.dir, scenario: 'success' });
    const { runAgent } = createAgentActivities({ store: db.current.store, config });
    const input = await newRun(db.current.store, { agent: 'claude' });
    const err = await failure(
      runIn(new MockActivityEnvironment(), runAgent, { ...input, executionId: 'never-created' }),
    );
    expect(err).toMatchObject({ type: FailureType.NotFound, nonRetryable: true });
    expect(err.message).toContain('execution never-created does not exist');
  });

  it('ids and branches that would leave the data dir, and a repository that is not there', async () => {
    const config = fakeAgentConfig({ dataDir: path.join(root.dir, 'data'), stateDir: root.dir, scenario: 'success' });
    const { runAgent } = createAgentActivities({ store: db.current.store, config });
    const input = await newRun(db.current.store, { agent: 'claude' });
    for (const bad of [
      { ...input, taskId: '../../etc' },
      { ...input, executionId: 'a/../../b' },
      { ...input, repository: { url: remote, branch: '../x' } },
      { ...input, repository: { url: remote, branch: '-rf' } },
      { ...input, repository: { url: path.join(root.dir, 'nowhere.git'), branch: 'main' } },
      { ...input, timeoutMs: 0 },
    ]) {
      const err = await failure(runIn(new MockActivityEnvironment(), runAgent, bad));
      expect(err).toMatchObject({ type: FailureType.InvalidInput, nonRetryable: true });
    }
  });
});
