/**
 * Fixtures for agent-runner tests: the fake agent executables, a configuration that points the runner at
 * them, a bare "remote" repository on disk, task/execution rows, and process checks by pid.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { listProcesses } from '../../activities/process-tree.js';
import { loadConfig, type Config } from '../../infra/config.js';
import type { Store } from '../../store/index.js';
import type { MockActivityEnvironment } from '@temporalio/testing';
import type { AgentConfig, AgentRunInput, AgentRunResult, AgentType } from '../../workflows/types.js';

export const FAKE_AGENTS_DIR = fileURLToPath(new URL('../fixtures/fake-agents', import.meta.url));

/** A scratch directory, removed by the returned function. */
export function tempDir(label: string): { dir: string; remove: () => void } {
  const dir = mkdtempSync(path.join(os.tmpdir(), `claudomator-${label}-`));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

export function git(cwd: string, ...args: string[]): string {
  return execFileSync('git', args, {
    cwd,
    encoding: 'utf8',
    env: {
      ...process.env,
      LC_ALL: 'C',
      GIT_AUTHOR_NAME: 't',
      GIT_AUTHOR_EMAIL: 't@t',
      GIT_COMMITTER_NAME: 't',
      GIT_COMMITTER_EMAIL: 't@t',
    },
  }).trim();
}

/** A bare repository at `<root>/remote.git` whose `main` holds README.md (2 lines); returns its path. */
export function makeBareRepo(root: string, extraBranches: string[] = []): string {
  const seed = path.join(root, 'seed');
  mkdirSync(seed, { recursive: true });
  git(seed, 'init', '--quiet', '--initial-branch', 'main');
  execFileSync('bash', ['-c', 'printf "# demo\\nhello\\n" > README.md'], { cwd: seed });
  git(seed, 'add', 'README.md');
  git(seed, 'commit', '--quiet', '-m', 'Initial commit');
  for (const branch of extraBranches) git(seed, 'branch', branch);
  const bare = path.join(root, 'remote.git');
  git(root, 'clone', '--quiet', '--bare', seed, bare);
  rmSync(seed, { recursive: true, force: true });
  return bare;
}

export interface FakeAgentSetup {
  dataDir: string;
  stateDir: string;
  scenario: string;
  /** More variables for the worker's environment (they reach the agent only if the passthrough rules let them). */
  env?: Record<string, string>;
}

/** Worker variables that make the fakes the agent binaries and pass them their scenario and state dir. */
export function fakeAgentEnv(stateDir: string, scenario = 'success'): Record<string, string> {
  return {
    CLAUDOMATOR_CLAUDE_BIN: path.join(FAKE_AGENTS_DIR, 'claude'),
    CLAUDOMATOR_GEMINI_BIN: path.join(FAKE_AGENTS_DIR, 'gemini'),
    CLAUDOMATOR_CODEX_BIN: path.join(FAKE_AGENTS_DIR, 'codex'),
    CLAUDOMATOR_AGENT_ENV_PASSTHROUGH: 'FAKE_AGENT_*',
    FAKE_AGENT_SCENARIO: scenario,
    FAKE_AGENT_STATE_DIR: stateDir,
  };
}

/** A configuration whose agent binaries are the fakes and whose agent environment carries the scenario. */
export function fakeAgentConfig(setup: FakeAgentSetup): Readonly<Config> {
  return loadConfig({
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    CLAUDOMATOR_DATA_DIR: setup.dataDir,
    CLAUDOMATOR_HOST_ID: 'test-host',
    ...fakeAgentEnv(setup.stateDir, setup.scenario),
    ...setup.env,
  });
}

export interface FakeCall {
  cli: string;
  argv: string[];
  cwd: string;
  pid: number;
  stdinIsPipe: boolean;
  envNames: string[];
  env: Record<string, string>;
  scenario: string;
}

/** Every call the fakes recorded, oldest first. */
export function readCalls(stateDir: string): FakeCall[] {
  const file = path.join(stateDir, 'calls.jsonl');
  if (!existsSync(file)) return [];
  return readFileSync(file, 'utf8')
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((l) => JSON.parse(l) as FakeCall);
}

/** The pids a hanging fake started: the CLI and its grandchildren. */
export function readPids(stateDir: string): Array<{ cli: number; children: number[] }> {
  if (!existsSync(stateDir)) return [];
  return readdirSync(stateDir)
    .filter((f) => f.startsWith('pids-'))
    .map((f) => JSON.parse(readFileSync(path.join(stateDir, f), 'utf8')) as { cli: number; children: number[] });
}

/** Whether `pid` is a live process (a zombie is dead: it only waits to be reaped). */
export function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

/** Live processes in process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  return (listProcesses() ?? []).filter((p) => p.state !== 'Z' && p.pgrp === pgid).map((p) => p.pid);
}

/** Live processes of any attempt of the execution (`CLAUDOMATOR_RUN_ID=<executionId>:<attempt>` in their environment). */
export function markedProcesses(executionId: string): number[] {
  return processesWithEnviron(`\0CLAUDOMATOR_RUN_ID=${executionId}:`);
}

/** Live processes whose environment holds `entry` (`NAME=value`, exactly). */
export function processesWith(entry: string): number[] {
  return processesWithEnviron(`\0${entry}\0`);
}

/** Live processes (other than this one) whose NUL-framed environment block contains `needle`. */
function processesWithEnviron(needle: string): number[] {
  return readdirSync('/proc')
    .filter((e) => /^\d+$/.test(e) && Number(e) !== process.pid)
    .filter((e) => {
      try {
        return isAlive(Number(e)) && `\0${readFileSync(`/proc/${e}/environ`, 'latin1')}`.includes(needle);
      } catch {
        return false;
      }
    })
    .map(Number);
}

/** Poll `check` until it returns a value (for waiting on other processes, which emit no events here). */
export async function waitFor<T>(
  what: string,
  check: () => T | undefined | false | Promise<T | undefined | false>,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

let seq = 0;

/** Task and execution rows (the task workflow's part), and the runner's input for them. */
export async function newRun(
  store: Store,
  options: {
    agent: AgentType;
    repository?: AgentRunInput['repository'];
    config?: Partial<AgentConfig>;
    prompt?: string;
    timeoutMs?: number;
    resume?: AgentRunInput['resume'];
    taskId?: string;
  },
): Promise<AgentRunInput> {
  seq += 1;
  const taskId = options.taskId ?? `task-${process.pid}-${Date.now().toString(36)}-${seq}`;
  const agent: AgentConfig = { type: options.agent, ...options.config };
  if (options.taskId === undefined) {
    await store.createTask({
      id: taskId,
      name: `run ${seq}`,
      instructions: options.prompt ?? 'Add a feature file',
      agent,
    });
  }
  const executionId = `${taskId}-exec-${seq}`;
  await store.createExecution({
    id: executionId,
    taskId,
    status: 'RUNNING',
    agent: options.agent,
    startTime: new Date().toISOString(),
    ...(options.resume ? { sessionId: options.resume.sessionId, resumeAnswer: options.resume.answer } : {}),
  });
  return {
    taskId,
    executionId,
    agent: options.agent,
    prompt: options.prompt ?? 'Add a feature file',
    config: agent,
    repository: options.repository,
    timeoutMs: options.timeoutMs ?? 60_000,
    resume: options.resume,
  };
}

/** `runAgent(input)` in the mock activity context `env`. */
export function runIn(
  env: MockActivityEnvironment,
  runAgent: (input: AgentRunInput) => Promise<AgentRunResult>,
  input: AgentRunInput,
): Promise<AgentRunResult> {
  return env.run(runAgent, input);
}
