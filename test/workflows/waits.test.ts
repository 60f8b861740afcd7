/**
 * The SDK waits on the workflows, not on Postgres: `waitForTask` and `waitForStory` read the record
 * once per change the workflow reports (the awaitTaskChange / awaitStoryChange updates), however long
 * the run takes; a task without a running workflow is the one case read again on a timer.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { TimeoutError } from '../../client/index.js';
import { awaitTaskChangeUpdate, taskWorkflowId } from '../../workflows/definitions.js';
import { makeBareRepo, tempDir } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack | undefined;
const scratch = tempDir('wait-tests');

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  vi.restoreAllMocks();
  await stack?.stop();
  stack = undefined;
});
afterAll(async () => {
  await env?.teardown();
  scratch.remove();
});

describe('waiting on a task or story', () => {
  it('reads the task once per state change while a 3 s run goes on, and reports every state', async () => {
    // 30 lines, 100 ms apart: a run of about 3 s, which a 250 ms poll would have read a dozen times.
    stack = await startTestStack(env, db.current.store, {
      env: { FAKE_AGENT_SLOW_LINES: '30', FAKE_AGENT_SLOW_MS: '100' },
    });
    const [task] = await stack.client.submitTasks({
      id: `${stack.name}-slow`,
      name: 'slow',
      instructions: 'Take your time [scenario:slow]',
    });
    const reads = vi.spyOn(db.current.store, 'getTask');
    const states: string[] = [];
    const done = await stack.client.waitForTask(task!.id, { timeoutMs: 60_000, onChange: (s) => states.push(s) });

    expect(done.state).toBe('READY');
    expect(states.at(-1)).toBe('READY');
    expect(states).toContain('RUNNING');
    // One read to start, one per change the workflow reported (PENDING/QUEUED/RUNNING/READY at most).
    expect(reads.mock.calls.filter(([id]) => id === task!.id).length).toBeLessThanOrEqual(6);
  });

  it('awaitTaskChange returns at once for a state the waiter has not seen, and times out on one it has', async () => {
    stack = await startTestStack(env, db.current.store);
    const [task] = await stack.client.submitTasks({
      id: `${stack.name}-settled`,
      name: 'settled soon',
      instructions: 'Do it [scenario:question]',
    });
    const blocked = await stack.client.waitForTask(task!.id, { timeoutMs: 60_000 });
    expect(blocked.state).toBe('BLOCKED');
    const handle = env.client.workflow.getHandle(taskWorkflowId(task!.id));

    const fresh = await handle.executeUpdate(awaitTaskChangeUpdate, { args: [{ from: 'RUNNING', timeoutMs: 5_000 }] });
    expect(fresh).toEqual({ state: 'BLOCKED', key: 'BLOCKED?', changed: true });
    const started = Date.now();
    const same = await handle.executeUpdate(awaitTaskChangeUpdate, { args: [{ from: 'BLOCKED?', timeoutMs: 500 }] });
    expect(same).toEqual({ state: 'BLOCKED', key: 'BLOCKED?', changed: false });
    expect(Date.now() - started).toBeGreaterThanOrEqual(400);
    await expect(
      handle.executeUpdate(awaitTaskChangeUpdate, { args: [{ from: 'BLOCKED?', timeoutMs: 0 }] }),
    ).rejects.toThrow(/Update failed|timeoutMs/);
  });

  it('gives up with a TimeoutError on a task that ended in a state not waited for', async () => {
    stack = await startTestStack(env, db.current.store);
    const [task] = await stack.client.submitTasks({
      id: `${stack.name}-failed`,
      name: 'fails',
      instructions: 'Do it [scenario:crash]',
    });
    expect((await stack.client.waitForTask(task!.id, { timeoutMs: 60_000 })).state).toBe('FAILED');
    await expect(stack.client.waitForTask(task!.id, { until: ['READY'], timeoutMs: 1_500 })).rejects.toThrow(
      TimeoutError,
    );
  });

  it('follows a story from before its start to REVIEW_READY, its tasks waited for before their workflows exist', async () => {
    stack = await startTestStack(env, db.current.store);
    const s = stack;
    const remote = makeBareRepo(`${scratch.dir}/${s.name}`);
    await s.client.addProject({ id: s.name, remoteUrl: remote });
    await s.client.createStory({ id: s.name, project: s.name, branch: `story/${s.name.slice(0, 40)}` });
    const [task] = await s.client.submitTasks({
      id: `${s.name}-work`,
      name: 'work',
      instructions: 'touch work.txt',
      agent: { type: 'command', command: 'touch work.txt' },
      story: s.name,
    });
    // Waiting on the task before the story starts its workflow: the one case the SDK reads again on a timer.
    const taskDone = s.client.waitForTask(task!.id, { timeoutMs: 60_000 });
    const statuses: string[] = [];
    const storyDone = s.client.waitForStory(s.name, { timeoutMs: 90_000, onChange: (st) => statuses.push(st) });
    await new Promise((resolve) => setTimeout(resolve, 1_500));
    await s.client.startStory(s.name);
    expect((await taskDone).state).toBe('READY');
    expect((await storyDone).status).toBe('REVIEW_READY');
    expect(statuses[0]).toBe('PENDING');
    expect(statuses).toContain('IN_PROGRESS');
    expect(statuses.at(-1)).toBe('REVIEW_READY');
  });
});
