/**
 * Runs that do not succeed keep a summary, the agent's last message, in Postgres: a FAILED and a CANCELLED
 * task on the real stack (dev server, workers, fake Claude replaying the real CLI's recorded lines), as
 * `claudomator task show` prints them.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { printTask } from '../../client/cli/tasks.js';
import { readPids, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack | undefined;

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});
afterAll(async () => {
  await env?.teardown();
});

/** What `claudomator task show <id>` prints. */
async function shown(s: TestStack, taskId: string): Promise<string> {
  const details = await s.client.getTask(taskId);
  const log = vi.spyOn(console, 'log').mockImplementation(() => undefined);
  try {
    printTask(details, 'http://ui.invalid');
    return log.mock.calls.map((c) => c.join(' ')).join('\n');
  } finally {
    log.mockRestore();
  }
}

describe('the summary of a run that did not succeed', () => {
  it('FAILED: the execution and the task keep the last message before the crash; task show prints it', async () => {
    stack = await startTestStack(env, db.current.store);
    const [task] = await stack.client.submitTasks({
      id: `${stack.name}-crash`,
      name: 'crashing task',
      instructions: 'Fix the test [scenario:crash]',
    });
    const done = await stack.client.waitForTask(task!.id, { timeoutMs: 60_000 });
    expect(done.state).toBe('FAILED');

    const [execution] = await db.current.store.listExecutions(task!.id);
    expect(execution).toMatchObject({ status: 'FAILED', summary: 'Looking at the failing test.' });
    expect(execution!.error).toContain('TypeError');
    expect((await db.current.store.getTask(task!.id)).summary).toBe('Looking at the failing test.');

    const printed = await shown(stack, task!.id);
    expect(printed).toMatch(/^ {2}summary\s+Looking at the failing test\.$/m);
    expect(printed).toMatch(/^ {6}summary\s+Looking at the failing test\.$/m);
  });

  it('CANCELLED: the runner records the last message before it confirms the cancellation', async () => {
    stack = await startTestStack(env, db.current.store);
    const [task] = await stack.client.submitTasks({
      id: `${stack.name}-hang`,
      name: 'hanging task',
      instructions: 'Check the page [scenario:hang]',
    });
    await stack.client.waitForTask(task!.id, { until: ['RUNNING'], timeoutMs: 30_000 });
    await waitFor('the hanging agent', () => readPids(stack!.stateDir).length > 0);
    await stack.client.cancelTask(task!.id);
    expect((await stack.client.waitForTask(task!.id, { timeoutMs: 30_000 })).state).toBe('CANCELLED');

    const [execution] = await db.current.store.listExecutions(task!.id);
    expect(execution).toMatchObject({ status: 'CANCELLED', summary: 'Starting the dev server to check the page.' });
    expect(await shown(stack, task!.id)).toMatch(/^ {6}summary\s+Starting the dev server to check the page\.$/m);
  });
});
