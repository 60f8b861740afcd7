import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../../client/demo.js';
import { storyWorkflowId, taskWorkflowId } from '../../workflows/definitions.js';
import { git, makeBareRepo, tempDir } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordHistory } from '../helpers/histories.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack | undefined;
const scratch = tempDir('story-tests');

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

const FLAKY_DEPLOY = new URL('../fixtures/scripts/flaky-deploy.mjs', import.meta.url).pathname;
const storyHandle = (id: string) => env.client.workflow.getHandle(storyWorkflowId(id));

/** A project on a fresh bare repository, and a story of it on `story/<name>`. */
async function project(s: TestStack, options: { validate?: string; deploy?: string; maxFixAttempts?: number } = {}) {
  const remote = makeBareRepo(path.join(scratch.dir, s.name));
  await s.client.addProject({
    id: s.name,
    remoteUrl: remote,
    ...(options.deploy ? { deployCommand: options.deploy } : {}),
    ...(options.validate ? { validation: { command: options.validate } } : {}),
  });
  await s.client.createStory({
    id: s.name,
    project: s.name,
    branch: `story/${s.name.slice(0, 40)}`,
    ...(options.maxFixAttempts !== undefined ? { maxFixAttempts: options.maxFixAttempts } : {}),
  });
  return remote;
}

const commandTask = (s: TestStack, id: string, command: string, extra: Record<string, unknown> = {}) => ({
  id: `${s.name}-${id}`,
  name: id,
  instructions: `Run ${command}`,
  agent: { type: 'command' as const, command },
  story: s.name,
  ...extra,
});

describe('storyWorkflow', () => {
  it('takes the demo story from submission to REVIEW_READY, merged into main, deployed and validated', async () => {
    stack = await startTestStack(env, db.current.store);
    const lines: string[] = [];
    const result = await runDemo(stack.client, { log: (l) => lines.push(l), timeoutMs: 120_000 });
    expect(result.story.status).toBe('REVIEW_READY');
    expect(result.tasks.filter((t) => t.kind !== 'validation').map((t) => t.state)).toEqual(['READY', 'READY']);
    expect(result.tasks.find((t) => t.kind === 'validation')?.state).toBe('READY');
    // The merge is in the remote's main: the story's merge commit, with both tasks' work in the tree.
    expect(result.mainLog[0]).toMatch(/Merge story demo-/);
    expect(git(result.repository, 'show', 'main:app.js')).toContain('Hello, ${name}!');
    expect(git(result.repository, 'show', 'main:CHANGELOG.md')).toContain('Hello, world!');
    // The tasks ran as the story's children (the Web UI shows them under it).
    const child = await env.client.workflow.getHandle(taskWorkflowId(result.tasks[0]!.id)).describe();
    expect(child.parentExecution?.workflowId).toBe(storyWorkflowId(result.story.id));
    await recordHistory(storyHandle(result.story.id), 'story-review-ready');
  });

  it('turns a failed validation into a fix task and reaches REVIEW_READY after revalidating', async () => {
    // The validation wants committed.txt, which only the fix task's agent (fake claude: success) writes.
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    await project(s, { validate: 'test -f committed.txt' });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, { timeoutMs: 120_000 });
    expect(story).toMatchObject({ status: 'REVIEW_READY', detail: 'validated (run 2)' });
    const tasks = await s.client.listTasks({ storyId: s.name });
    expect(tasks.map((t) => [t.kind, t.state])).toEqual([
      ['task', 'READY'],
      ['validation', 'FAILED'],
      ['fix', 'READY'],
      ['validation', 'READY'],
    ]);
    expect(tasks[2]!.instructions).toContain("The story's validation failed");
    await recordHistory(storyHandle(s.name), 'story-fix-loop');
  });

  it('stops at NEEDS_FIX when the merge conflicts, naming the files', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const remote = await project(s);
    // The story branch exists already; main then moves on with a conflicting README.
    const branch = `story/${s.name.slice(0, 40)}`;
    git(remote, 'branch', branch, 'main');
    const work = path.join(scratch.dir, `${s.name}-work`);
    git(scratch.dir, 'clone', '--quiet', remote, work);
    git(work, 'config', 'user.email', 't@t');
    git(work, 'config', 'user.name', 't');
    git(work, 'checkout', '--quiet', 'main');
    writeFileSync(path.join(work, 'README.md'), '# demo\nchanged on main\n');
    git(work, 'commit', '--quiet', '-am', 'main changes README');
    git(work, 'push', '--quiet', 'origin', 'main');

    await s.client.submitTasks([
      // parseCommandString splits on spaces: the script spells its spaces \x20.
      commandTask(
        s,
        'edit',
        `node -e require('fs').writeFileSync('README.md','#\\x20demo\\nchanged\\x20on\\x20the\\x20story\\n')`,
      ),
    ]);
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, { timeoutMs: 120_000 });
    expect(story.status).toBe('NEEDS_FIX');
    expect(story.detail).toMatch(/merge conflict: .*conflicts in README\.md/);
    expect(git(remote, 'show', 'main:README.md')).toContain('changed on main');
  });

  it('retries a failing deploy with backoff: two failures, then DEPLOYING succeeds', async () => {
    stack = await startTestStack(env, db.current.store, { env: { CLAUDOMATOR_DEPLOY_RETRY_INTERVAL: '200ms' } });
    const s = stack;
    const counter = path.join(scratch.dir, `${s.name}-deploys`);
    await project(s, { deploy: `node ${FLAKY_DEPLOY} ${counter} 2` });
    await s.client.submitTasks([commandTask(s, 'work', 'touch work.txt')]);
    const statuses: string[] = [];
    await s.client.startStory(s.name);
    const story = await s.client.waitForStory(s.name, {
      timeoutMs: 120_000,
      onChange: (st) => statuses.push(st),
    });
    expect(story.status).toBe('REVIEW_READY');
    expect(statuses).toContain('DEPLOYING');
    expect(readFileSync(counter, 'utf8')).toBe('3');
    await recordHistory(storyHandle(s.name), 'story-deploy-retried');
  });

  it('starts tasks added while it runs, and cancelling it cancels its running tasks', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    await project(s);
    await s.client.submitTasks([
      { id: `${s.name}-hang`, name: 'hang', instructions: 'Hang [scenario:hang]', story: s.name },
    ]);
    await s.client.startStory(s.name);
    await s.client.waitForTask(`${s.name}-hang`, { until: ['RUNNING'], timeoutMs: 60_000 });
    // Added after the start: the running story picks it up.
    await s.client.submitTasks([commandTask(s, 'late', 'touch late.txt')]);
    expect((await s.client.waitForTask(`${s.name}-late`, { timeoutMs: 60_000 })).state).toBe('READY');

    await s.client.cancelStory(s.name);
    const story = await s.client.waitForStory(s.name, { until: ['FAILED'], timeoutMs: 60_000 });
    expect(story.detail).toBe('cancelled');
    expect((await s.client.waitForTask(`${s.name}-hang`, { timeoutMs: 60_000 })).state).toBe('CANCELLED');
  });
});
