/**
 * runAgent over a run's life: questions and resumes, cancellation and timeouts that must leave no process
 * behind (checked by pid, process group and the execution marker), crash-safe retries that resume the
 * session from the last heartbeat, progress heartbeats, and sandboxes cloned from a URL.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  answerPrompt,
  createAgentActivities,
  INTERRUPTED_PROMPT,
  lostSessionPrompt,
} from '../../activities/run-agent.js';
import type { AgentRunInput, AgentRunProgress } from '../../workflows/types.js';
import {
  fakeAgentConfig,
  git,
  groupMembers,
  isAlive,
  makeBareRepo,
  markedProcesses,
  newRun,
  readCalls,
  readPids,
  runIn,
  tempDir,
  waitFor,
} from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';

const db = useTestDatabase();
let root: { dir: string; remove: () => void };
let remote: string;
let n = 0;

beforeAll(() => {
  root = tempDir('run-agent-life');
  remote = makeBareRepo(root.dir, ['existing']);
});
afterAll(() => root.remove());

function setup(scenario: string, killGraceMs = 1_000) {
  n += 1;
  const stateDir = path.join(root.dir, `state-${n}`);
  const config = fakeAgentConfig({ dataDir: path.join(root.dir, 'data'), stateDir, scenario });
  const activities = createAgentActivities({ store: db.current.store, config, killGraceMs, heartbeatIntervalMs: 100 });
  return { stateDir, config, runAgent: activities.runAgent };
}

function branch(label: string): string {
  n += 1;
  return `task/${label}-${n}`;
}

/** Everything a run started is gone: the CLI, its grandchildren (in its group, in new sessions, orphaned). */
function expectNothingLeft(stateDir: string, executionId: string): void {
  const pids = readPids(stateDir);
  expect(pids.length).toBeGreaterThan(0);
  for (const p of pids) {
    expect(p.children).toHaveLength(3);
    for (const pid of [p.cli, ...p.children]) expect({ pid, alive: isAlive(pid) }).toEqual({ pid, alive: false });
    expect(groupMembers(p.cli)).toEqual([]);
  }
  expect(markedProcesses(executionId)).toEqual([]);
}

describe('questions and resumes', () => {
  it.each(['claude', 'gemini', 'codex'] as const)(
    '%s: the question file becomes a question; the answer resumes the same session in the same sandbox',
    async (agent) => {
      const { stateDir, runAgent } = setup('question');
      const input = await newRun(db.current.store, { agent, repository: { url: remote, branch: branch(agent) } });
      const asked = await runIn(new MockActivityEnvironment(), runAgent, input);
      expect(asked).toMatchObject({
        outcome: 'question',
        question: { text: 'Which database should I use?', options: ['postgres', 'sqlite'] },
      });
      expect(asked.sessionId).toBeDefined();
      expect(asked.error).toBeUndefined();

      const resume = await newRun(db.current.store, {
        agent,
        taskId: input.taskId,
        repository: input.repository,
        resume: { sessionId: asked.sessionId ?? '', answer: 'sqlite, please' },
      });
      const answered = await runIn(new MockActivityEnvironment(), runAgent, resume);
      expect(answered).toMatchObject({ outcome: 'success', sessionId: asked.sessionId });
      expect(answered.paths.sandboxDir).toBe(asked.paths.sandboxDir);
      expect(answered.paths.artifactDir).not.toBe(asked.paths.artifactDir);
      expect(readFileSync(path.join(answered.paths.sandboxDir, 'answer.txt'), 'utf8')).toContain('sqlite, please');

      const calls = readCalls(stateDir);
      expect(calls).toHaveLength(2);
      expect(calls[1]!.cwd).toBe(calls[0]!.cwd);
      const resumeFlag = { claude: '--resume', gemini: '-r', codex: 'resume' }[agent];
      expect(calls[1]!.argv).toContain(resumeFlag);
      expect(calls[1]!.argv).toContain(asked.sessionId);
    },
  );

  it('an answer to a session the CLI no longer has: a fresh run in the same sandbox, told the answer', async () => {
    const { stateDir, runAgent } = setup('success');
    const lost = '0f0f0f0f-0000-4000-8000-000000000002';
    const input = await newRun(db.current.store, {
      agent: 'claude',
      repository: { url: remote, branch: branch('lost-answer') },
      resume: { sessionId: lost, answer: 'sqlite, please' },
    });
    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    expect(result.outcome).toBe('success');
    expect(result.sessionId).toMatch(/^[0-9a-f-]{36}$/);
    expect(result.sessionId).not.toBe(lost);
    const calls = readCalls(stateDir);
    expect(calls.map((c) => c.argv.includes('--resume'))).toEqual([true, false]);
    expect(calls[1]!.cwd).toBe(calls[0]!.cwd);
    expect(calls[1]!.argv).toContain(result.sessionId);
    expect(calls[1]!.argv.at(-1)).toBe(lostSessionPrompt(input.prompt, answerPrompt('sqlite, please')));
  });
});

describe('cancellation, timeouts and kills', () => {
  it('cancelling a hanging agent kills it and its grandchildren (own group, new sessions, orphans), then rethrows', async () => {
    const { stateDir, runAgent } = setup('hang');
    const input = await newRun(db.current.store, {
      agent: 'claude',
      repository: { url: remote, branch: branch('hang') },
    });
    const env = new MockActivityEnvironment();
    const heartbeats: AgentRunProgress[] = [];
    env.on('heartbeat', (d: AgentRunProgress) => heartbeats.push(d));
    const running = runIn(env, runAgent, input);
    const pids = await waitFor('the fake to start its grandchildren', () => readPids(stateDir)[0]);
    for (const pid of [pids.cli, ...pids.children]) expect(isAlive(pid)).toBe(true);
    await waitFor('a heartbeat with the session id', () => heartbeats.some((h) => h.sessionId && h.lastEvent));

    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    expectNothingLeft(stateDir, input.executionId);
  });

  it('an agent that ignores SIGTERM is killed with SIGKILL after the grace period', async () => {
    const { stateDir, runAgent } = setup('stubborn', 500);
    const input = await newRun(db.current.store, {
      agent: 'gemini',
      repository: { url: remote, branch: branch('stubborn') },
    });
    const env = new MockActivityEnvironment();
    const running = runIn(env, runAgent, input);
    await waitFor('the fake to start its grandchildren', () => readPids(stateDir).length > 0);
    const started = Date.now();
    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    expect(Date.now() - started).toBeGreaterThanOrEqual(450);
    expectNothingLeft(stateDir, input.executionId);
  });

  it('a run over its time limit ends timed_out with its processes killed', async () => {
    const { stateDir, runAgent } = setup('hang');
    const input = await newRun(db.current.store, {
      agent: 'codex',
      repository: { url: remote, branch: branch('timeout') },
      timeoutMs: 1_500,
    });
    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    expect(result.outcome).toBe('timed_out');
    expect(result.error).toContain('time limit of 1500ms');
    expect(result.sessionId).toBeDefined();
    expectNothingLeft(stateDir, input.executionId);
  });

  it('heartbeats progress while the agent streams: growing bytes, the last event, the session id', async () => {
    const { runAgent } = setup('slow');
    const input = await newRun(db.current.store, {
      agent: 'claude',
      repository: { url: remote, branch: branch('slow') },
    });
    const env = new MockActivityEnvironment();
    const heartbeats: AgentRunProgress[] = [];
    env.on('heartbeat', (d: AgentRunProgress) => heartbeats.push(d));
    const result = await runIn(env, runAgent, input);
    expect(result.outcome).toBe('success');
    const progress = heartbeats.filter((h) => h.lastEvent === 'progress');
    expect(progress.length).toBeGreaterThanOrEqual(3);
    const bytes = heartbeats.map((h) => h.bytes);
    expect(bytes).toEqual([...bytes].sort((a, b) => a - b));
    expect(new Set(bytes).size).toBeGreaterThan(3);
    // The first heartbeat comes before the sandbox is ready; from the spawn on, each carries the session.
    expect(heartbeats.every((h) => h.paths.stdoutPath === result.paths.stdoutPath)).toBe(true);
    const started = heartbeats.findIndex((h) => h.sessionId !== undefined);
    expect(started).toBeGreaterThan(0);
    expect(heartbeats.slice(started).every((h) => h.sessionId === result.sessionId)).toBe(true);
  });
});

describe('crash-safe retries', () => {
  it('attempt 2 kills what attempt 1 left running and resumes its session in the same sandbox', async () => {
    const { stateDir, runAgent } = setup('interrupt');
    const input = await newRun(db.current.store, {
      agent: 'claude',
      repository: { url: remote, branch: branch('crash') },
    });
    const first = new MockActivityEnvironment();
    const heartbeats: AgentRunProgress[] = [];
    first.on('heartbeat', (d: AgentRunProgress) => heartbeats.push(d));
    // Attempt 1's worker "dies": nobody waits for it, and its agent keeps running.
    const orphaned = runIn(first, runAgent, input).catch((err: unknown) => err);
    const last = await waitFor('a heartbeat with output', () => heartbeats.find((h) => h.sessionId && h.bytes > 0));
    const firstCli = readCalls(stateDir)[0]!.pid;
    expect(isAlive(firstCli)).toBe(true);

    const second = new MockActivityEnvironment({ attempt: 2, heartbeatDetails: last });
    const secondBeats: AgentRunProgress[] = [];
    second.on('heartbeat', (d: AgentRunProgress) => secondBeats.push(d));
    const result = await runIn(second, runAgent, input);
    // From its first heartbeat on (before its own process starts), attempt 2 carries attempt 1's session.
    expect(secondBeats[0]).toMatchObject({ sessionId: last.sessionId, bytes: last.bytes, baseSha: last.baseSha });
    expect(result).toMatchObject({ outcome: 'success', sessionId: last.sessionId });
    expect(isAlive(firstCli)).toBe(false);
    await orphaned;

    const calls = readCalls(stateDir);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', last.sessionId]));
    expect(calls[1]!.argv.at(-1)).toBe(INTERRUPTED_PROMPT);
    expect(calls[1]!.cwd).toBe(calls[0]!.cwd);
    // Both attempts' work counts against the same base.
    expect(existsSync(path.join(result.paths.sandboxDir, 'partial.txt'))).toBe(true);
    expect(result.changeStats).toEqual({ filesChanged: 2, insertions: 2, deletions: 0 });
    expect(markedProcesses(input.executionId)).toEqual([]);
  });

  it('when the CLI no longer knows the interrupted session, it starts a fresh run told of the lost one', async () => {
    const { stateDir, runAgent } = setup('success');
    const input = await newRun(db.current.store, {
      agent: 'claude',
      repository: { url: remote, branch: branch('lost') },
    });
    const lost = '0f0f0f0f-0000-4000-8000-000000000000';
    const details: Partial<AgentRunProgress> = { executionId: input.executionId, sessionId: lost, bytes: 100 };
    const result = await runIn(new MockActivityEnvironment({ attempt: 3, heartbeatDetails: details }), runAgent, input);
    expect(result.outcome).toBe('success');
    expect(result.sessionId).not.toBe(lost);
    const calls = readCalls(stateDir);
    expect(calls.map((c) => c.argv.includes('--resume'))).toEqual([true, false]);
    expect(calls[1]!.argv.at(-1)).toBe(lostSessionPrompt(input.prompt, INTERRUPTED_PROMPT));
    expect(calls[1]!.argv.at(-1)).toMatch(
      /^Add a feature file\n\nEarlier work on this task ran in a session that is no longer available/,
    );
  });

  it('ignores heartbeat details of another execution', async () => {
    const { stateDir, runAgent } = setup('success');
    const input = await newRun(db.current.store, {
      agent: 'claude',
      repository: { url: remote, branch: branch('other') },
    });
    const details = { executionId: 'someone-else', sessionId: '0f0f0f0f-0000-4000-8000-000000000001', bytes: 100 };
    const result = await runIn(new MockActivityEnvironment({ attempt: 2, heartbeatDetails: details }), runAgent, input);
    expect(result.outcome).toBe('success');
    expect(readCalls(stateDir)[0]!.argv).not.toContain('--resume');
  });
});

describe('sandboxes', () => {
  it('clones a URL, tracks a branch the remote has, and reuses the sandbox for the next run of the task', async () => {
    const { runAgent } = setup('success');
    const url = `file://${remote}`;
    const input = await newRun(db.current.store, { agent: 'gemini', repository: { url, branch: 'existing' } });
    const first = await runIn(new MockActivityEnvironment(), runAgent, input);
    expect(first.outcome).toBe('success');
    const dir = first.paths.sandboxDir;
    expect(existsSync(path.join(dir, '.git'))).toBe(true);
    expect(readFileSync(path.join(dir, '.git', 'HEAD'), 'utf8')).toContain('refs/heads/existing');
    expect(git(dir, 'rev-parse', '--abbrev-ref', '--symbolic-full-name', '@{upstream}')).toBe('origin/existing');
    expect(git(dir, 'remote', 'get-url', 'origin')).toBe(url);

    const again: AgentRunInput = await newRun(db.current.store, {
      agent: 'command',
      taskId: input.taskId,
      repository: input.repository,
      config: { command: 'git status --porcelain' },
    });
    const second = await runIn(new MockActivityEnvironment(), runAgent, again);
    expect(second.paths.sandboxDir).toBe(dir);
    // The first run's uncommitted work is still there.
    expect(second.summary).toContain('untracked.txt');
  });

  it('creates a missing branch from the base branch given, and a task without a repository gets an empty one', async () => {
    const { runAgent } = setup('success');
    const fromExisting = await newRun(db.current.store, {
      agent: 'command',
      repository: { url: remote, branch: branch('based'), baseBranch: 'existing' },
      config: { command: 'git log --format=%s' },
    });
    const based = await runIn(new MockActivityEnvironment(), runAgent, fromExisting);
    expect(based).toMatchObject({ outcome: 'success', summary: 'Initial commit' });

    const bare = await newRun(db.current.store, { agent: 'claude' });
    const empty = await runIn(new MockActivityEnvironment(), runAgent, bare);
    expect(empty.outcome).toBe('success');
    // committed.txt and untracked.txt (no README in an empty repository)
    expect(empty.changeStats).toEqual({ filesChanged: 2, insertions: 5, deletions: 0 });
    expect(git(empty.paths.sandboxDir, 'rev-parse', '--abbrev-ref', 'HEAD')).toBe('main');
  });
});
