/**
 * The story workflow's unhappy paths on the real stack (Temporal dev server, Postgres, git, processes,
 * fake agent CLIs): fix attempts that run out, a restart after NEEDS_FIX, deploys that fail for good or
 * cannot start, validation commands that cannot start, shell lines, a cancelled deploy's processes,
 * validation by an agent (passing and failing), and a validation waiting on a drained agent.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { storyWorkflowId } from '../../workflows/definitions.js';
import type { AgentType } from '../../workflows/types.js';
import { git, groupMembers, isAlive, makeBareRepo, readCalls, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordHistory } from '../helpers/histories.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack | undefined;
const scratch = tempDir('story-failures');

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});
afterAll(async () => {
  await env?.teardown();
  scratch.remove();
});

const storyHandle = (id: string) => env.client.workflow.getHandle(storyWorkflowId(id));
const FLAKY_DEPLOY = new URL('../fixtures/scripts/flaky-deploy.mjs', import.meta.url).pathname;
const branchOf = (s: TestStack) => `story/${s.name.slice(0, 40)}`;

interface ProjectOptions {
  validate?: string;
  validateInstructions?: string;
  validateAgent?: AgentType | 'any';
  deploy?: string;
  maxFixAttempts?: number;
}

/** A project on a fresh bare repository, and a story of it on `story/<name>`; returns the remote. */
async function project(s: TestStack, options: ProjectOptions = {}): Promise<string> {
  const remote = makeBareRepo(path.join(scratch.dir, s.name));
  const validation = {
    ...(options.validate ? { command: options.validate } : {}),
    ...(options.validateInstructions ? { instructions: options.validateInstructions } : {}),
    ...(options.validateAgent ? { agent: options.validateAgent } : {}),
  };
  await s.client.addProject({
    id: s.name,
    remoteUrl: remote,
    ...(options.deploy ? { deployCommand: options.deploy } : {}),
    ...(Object.keys(validation).length > 0 ? { validation } : {}),
  });
  await s.client.createStory({
    id: s.name,
    project: s.name,
    branch: branchOf(s),
    ...(options.maxFixAttempts !== undefined ? { maxFixAttempts: options.maxFixAttempts } : {}),
  });
  return remote;
}

const commandTask = (s: TestStack, id: string, command: string) => ({
  id: `${s.name}-${id}`,
  name: id,
  instructions: `Run ${command}`,
  agent: { type: 'command' as const, command },
  story: s.name,
});

/** The story's tasks as `[id without the story prefix, kind, state]`, in creation order. */
async function storyTasks(s: TestStack): Promise<Array<[string, string, string]>> {
  const tasks = await s.client.listTasks({ storyId: s.name });
  return tasks.map((t) => [t.id.slice(s.name.length + 1), t.kind, t.state]);
}

async function agentStatus(s: TestStack, agent: AgentType) {
  const status = (await s.client.agentStatuses()).find((a) => a.agent === agent);
  if (!status) throw new Error(`the pool has no ${agent}`);
  return status;
}

/** Commit `file` on `branch` of `remote`, as a human fixing the story would. */
function pushFile(remote: string, branch: string, file: string, content: string): void {
  const work = path.join(scratch.dir, `work-${Math.random().toString(36).slice(2, 8)}`);
  git(scratch.dir, 'clone', '--quiet', '--branch', branch, remote, work);
  writeFileSync(path.join(work, file), content);
  git(work, 'add', file);
  git(work, 'commit', '--quiet', '-m', `Add ${file}`);
  git(work, 'push', '--quiet', 'origin', branch);
}

describe('storyWorkflow failure paths', () => {
  it('runs out of fix attempts and stops at NEEDS_FIX, its command validation agent undrained', async () => {
    // The validation wants fixed.txt; the fix tasks' agent (fake claude) writes other files.
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    await project(s, { validate: 'test -f fixed.txt', maxFixAttempts: 2 });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    const statuses: string[] = [];
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, {
      timeoutMs: 120_000,
      onChange: (st) => statuses.push(st),
    });
    expect(story.status).toBe('NEEDS_FIX');
    expect(story.detail).toMatch(/^validation failed after 2 fix attempt\(s\): exit 1/);
    expect(await storyTasks(s)).toEqual([
      ['work', 'task', 'READY'],
      ['validate-1', 'validation', 'FAILED'],
      ['fix-1', 'fix', 'READY'],
      ['validate-2', 'validation', 'FAILED'],
      ['fix-2', 'fix', 'READY'],
      ['validate-3', 'validation', 'FAILED'],
    ]);
    // The fix loop runs IN_PROGRESS: NEEDS_FIX is only where the story stops for a human.
    expect(statuses.filter((st) => st === 'NEEDS_FIX')).toEqual(['NEEDS_FIX']);
    // Three failed validation runs say the story's code is wrong, not that the command agent is broken.
    expect(await agentStatus(s, 'command')).toMatchObject({ drained: false, consecutiveFailures: 0 });
  });

  it('restarted after NEEDS_FIX, runs a fresh validation task and reaches REVIEW_READY once the code is fixed', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const remote = await project(s, { validate: 'test -f fixed.txt', maxFixAttempts: 1 });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    await s.client.startStory(s.name);
    // While the last validation run (on main) goes on, a human fixes the code on the story branch...
    await waitFor(
      'the last validation run',
      async () => /^validation run 2/.test((await s.client.getStory(s.name)).detail ?? ''),
      120_000,
    );
    pushFile(remote, branchOf(s), 'fixed.txt', 'fixed by hand\n');
    expect((await s.client.waitForStory(s.name, { timeoutMs: 120_000 })).status).toBe('NEEDS_FIX');

    // ...and starts the story again at once (its last run may still be closing).
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, { timeoutMs: 120_000 });
    expect(story).toMatchObject({ status: 'REVIEW_READY', detail: 'validated (run 3)' });
    expect(await storyTasks(s)).toEqual([
      ['work', 'task', 'READY'],
      ['validate-1', 'validation', 'FAILED'],
      ['fix-1', 'fix', 'READY'],
      ['validate-2', 'validation', 'FAILED'],
      ['validate-3', 'validation', 'READY'],
    ]);
    expect(git(remote, 'show', 'main:fixed.txt')).toBe('fixed by hand');
    await recordHistory(storyHandle(s.name), 'story-restarted-after-needs-fix');
  });

  it('stops at NEEDS_FIX, not in a retry loop, when a validation task id is taken by another task', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    await project(s, { validate: 'true' });
    // Outside the story, so the story numbers its first validation run 1 and meets this task.
    await s.client.submitTasks([
      {
        id: `${s.name}-validate-1`,
        name: 'squatter',
        instructions: 'Run true',
        agent: { type: 'command', command: 'true' },
      },
    ]);
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, { timeoutMs: 60_000 });
    expect(story.status).toBe('NEEDS_FIX');
    expect(story.detail).toMatch(
      new RegExp(`^cannot create the validation task: A different task with id "${s.name}-validate-1" already exists`),
    );
    expect(story.detail).toContain(`claudomator story start ${s.name}`);
  });

  it('stops at NEEDS_FIX with the error when the deploy fails on every retry', async () => {
    stack = await startTestStack(env, db.current.store, { env: { CLAUDOMATOR_DEPLOY_RETRY_INTERVAL: '100ms' } });
    const s = stack;
    const counter = path.join(scratch.dir, `${s.name}-deploys`);
    await project(s, { deploy: `node ${FLAKY_DEPLOY} ${counter} 99`, validate: 'true' });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, { timeoutMs: 120_000 });
    expect(story.status).toBe('NEEDS_FIX');
    expect(story.detail).toMatch(
      /^deploy failed: Deploy command `node .*` exited 1: deploy attempt 5: the target is not reachable$/,
    );
    expect(readFileSync(counter, 'utf8')).toBe('5');
    // Nothing was validated.
    expect(await storyTasks(s)).toEqual([['work', 'task', 'READY']]);
  });

  it('stops at NEEDS_FIX at once, without retrying, when the deploy command cannot start', async () => {
    stack = await startTestStack(env, db.current.store, { env: { CLAUDOMATOR_DEPLOY_RETRY_INTERVAL: '100ms' } });
    const s = stack;
    const counter = path.join(scratch.dir, `${s.name}-deploys`);
    await project(s, { deploy: `echo run >> ${counter} && claudomator-no-such-deployer --now`, validate: 'true' });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, { timeoutMs: 60_000 });
    expect(story.status).toBe('NEEDS_FIX');
    expect(story.detail).toMatch(
      /^Deploy command `.*` cannot start \(command not found, exit 127\): .*claudomator-no-such-deployer/,
    );
    expect(story.detail).toContain(`claudomator project add ${s.name} --repo `);
    expect(story.detail).toContain('--deploy-cmd "<command>"');
    expect(readFileSync(counter, 'utf8')).toBe('run\n');
    expect(await storyTasks(s)).toEqual([['work', 'task', 'READY']]);
    await recordHistory(storyHandle(s.name), 'story-deploy-cannot-start');
  });

  it('stops at NEEDS_FIX at once, spending no fix attempt, when the validation command cannot start', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    await project(s, { validate: 'claudomator-no-such-validator --all', maxFixAttempts: 2 });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, { timeoutMs: 60_000 });
    expect(story.status).toBe('NEEDS_FIX');
    expect(story.detail).toMatch(
      /^validation command `claudomator-no-such-validator --all` cannot start: exit 127: .*claudomator-no-such-validator/,
    );
    expect(story.detail).toContain('--validate "<command>"');
    expect(await storyTasks(s)).toEqual([
      ['work', 'task', 'READY'],
      ['validate-1', 'validation', 'FAILED'],
    ]);
    expect((await s.client.storyProgress(s.name))?.fixAttempts ?? 0).toBe(0);
  });

  it('runs deploy and validation commands through the shell: `&&`, `$(…)` and redirections work', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const out = path.join(scratch.dir, `${s.name}-deployed`);
    const remote = await project(s, {
      deploy: `git rev-parse HEAD > ${out} && echo "deployed $(cat work.txt)" >> ${out}`,
      validate: 'test -f work.txt && test "$(cat work.txt)" = hello',
    });
    await s.client.submitTasks([commandTask(s, 'work', 'node -e require("fs").writeFileSync("work.txt","hello")')]);
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, { timeoutMs: 120_000 });
    expect(story.status).toBe('REVIEW_READY');
    expect(readFileSync(out, 'utf8')).toBe(`${git(remote, 'rev-parse', 'main')}\ndeployed hello\n`);
  });

  it('kills the whole process group of a running deploy when the story is cancelled', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const pids = path.join(scratch.dir, `${s.name}-pids`);
    // The shell, a child in its group, and one that left the group (setsid): all must go.
    await project(s, {
      deploy: `echo $$ > ${pids}; sleep 1000 & echo $! >> ${pids}; setsid sleep 1001 & echo $! >> ${pids}; wait`,
      validate: 'true',
    });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    await s.client.startStory(s.name);
    const [shell, ...children] = await waitFor(
      'the deploy to start its processes',
      () => {
        try {
          const lines = readFileSync(pids, 'utf8').trim().split('\n').map(Number);
          return lines.length === 3 && lines;
        } catch {
          return undefined;
        }
      },
      60_000,
    );
    for (const pid of [shell!, ...children]) expect(isAlive(pid)).toBe(true);

    await s.client.cancelStory(s.name);
    const story = await s.client.waitForStory(s.name, { until: ['FAILED'], timeoutMs: 60_000 });
    expect(story.detail).toBe('cancelled');
    // The story records FAILED only once the deploy activity confirmed its processes are gone.
    for (const pid of [shell!, ...children]) expect(isAlive(pid)).toBe(false);
    expect(groupMembers(shell!)).toEqual([]);
    await recordHistory(storyHandle(s.name), 'story-deploy-cancelled');
  });

  it('is validated by an agent when the project gives instructions, and reaches REVIEW_READY', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    await project(s, { validateInstructions: 'Check that the README still greets the reader.' });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, { timeoutMs: 120_000 });
    expect(story).toMatchObject({ status: 'REVIEW_READY', detail: 'validated (run 1)' });
    const { task: validation } = await s.client.getTask(`${s.name}-validate-1`);
    expect(validation).toMatchObject({ kind: 'validation', state: 'READY', agent: { type: 'claude' } });
    const call = readCalls(s.stateDir).find((c) => c.env.CLAUDOMATOR_TASK_ID === `${s.name}-validate-1`);
    expect(call?.cli).toBe('claude');
    expect(call?.argv.join(' ')).toContain('Check that the README still greets the reader.');
  });

  it('runs the fix loop when an agent validation fails, ends NEEDS_FIX, and leaves the agent undrained', async () => {
    // Every validation run of gemini crashes; its fix tasks (gemini too) succeed.
    stack = await startTestStack(env, db.current.store, { env: { FAKE_AGENT_TASK_SCENARIOS: '-validate-=crash' } });
    const s = stack;
    await project(s, {
      validateInstructions: 'Check that the README still greets the reader.',
      validateAgent: 'gemini',
      maxFixAttempts: 1,
    });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, { timeoutMs: 120_000 });
    expect(story.status).toBe('NEEDS_FIX');
    expect(story.detail).toMatch(/^validation failed after 1 fix attempt\(s\): /);
    expect(await storyTasks(s)).toEqual([
      ['work', 'task', 'READY'],
      ['validate-1', 'validation', 'FAILED'],
      ['fix-1', 'fix', 'READY'],
      ['validate-2', 'validation', 'FAILED'],
    ]);
    const { task: fix } = await s.client.getTask(`${s.name}-fix-1`);
    expect(fix.agent.type).toBe('gemini');
    expect(fix.instructions).toContain('Validation instructions: Check that the README still greets the reader.');
    const geminiCalls = readCalls(s.stateDir).filter((c) => c.cli === 'gemini');
    expect(geminiCalls.map((c) => c.env.CLAUDOMATOR_TASK_ID?.slice(s.name.length + 1))).toEqual([
      'validate-1',
      'fix-1',
      'validate-2',
    ]);
    // Two failed validation runs (the last one after a fix run): none counts against gemini.
    expect(await agentStatus(s, 'gemini')).toMatchObject({ drained: false, consecutiveFailures: 0 });
    await recordHistory(storyHandle(s.name), 'story-agent-validation-needs-fix');
  });

  it('says in its details why its validation waits QUEUED on a drained agent, and goes on once acknowledged', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    // Two crashing codex tasks outside the story drain codex.
    await s.client.submitTasks(
      [1, 2].map((n) => ({
        id: `${s.name}-crash-${n}`,
        name: `crash ${n}`,
        instructions: 'Crash [scenario:crash]',
        agent: { type: 'codex' as const },
      })),
    );
    for (const n of [1, 2]) {
      expect((await s.client.waitForTask(`${s.name}-crash-${n}`, { timeoutMs: 60_000 })).state).toBe('FAILED');
    }
    await waitFor('codex to be drained', async () => (await agentStatus(s, 'codex')).drained, 30_000);

    await project(s, { validateInstructions: 'Check the app.', validateAgent: 'codex' });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    await s.client.startStory(s.name);
    const waiting = await waitFor(
      'the story to say why its validation waits',
      async () => {
        const st = await s.client.getStory(s.name);
        return st.status === 'VALIDATING' && /waits QUEUED/.test(st.detail ?? '') && st;
      },
      60_000,
    );
    expect(waiting.detail).toMatch(
      new RegExp(
        `${s.name}-validate-1 waits QUEUED: codex is drained after repeated failures .*\`claudomator agents ack codex\``,
      ),
    );
    expect((await storyHandle(s.name).describe()).status.name).toBe('RUNNING');

    await s.client.acknowledgeAgent('codex');
    const story = await s.client.waitForStory(s.name, { timeoutMs: 120_000 });
    expect(story).toMatchObject({ status: 'REVIEW_READY', detail: 'validated (run 1)' });
    await recordHistory(storyHandle(s.name), 'story-validation-waits-on-drained-agent');
  });
});
