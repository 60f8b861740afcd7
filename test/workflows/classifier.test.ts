/**
 * The model classifier in a real task: the orchestration worker asks a local stand-in of the Messages
 * API, the agent runs with the model it picked, and Postgres, the SDK, `task show` and the Web UI's
 * current details carry the model and the reason; a failing classifier leaves the agent's default.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { printTask } from '../../client/cli/tasks.js';
import { taskStatusQuery, taskWorkflowId } from '../../workflows/definitions.js';
import { readCalls, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { MessagesApiServer, requestText } from '../helpers/messages-api.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack | undefined;
let api: MessagesApiServer | undefined;

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
  await api?.close();
  api = undefined;
});
afterAll(async () => {
  await env?.teardown();
});

async function modelColumns(taskId: string) {
  const { rows } = await db.current.store.pool.query<{ model: string | null; model_reason: string | null }>(
    'select model, model_reason from executions where task_id = $1 order by start_time',
    [taskId],
  );
  return rows;
}

/** The argument after `--model` in the task's agent calls (undefined: the CLI's default model). */
function modelsUsed(s: TestStack, taskId: string): Array<string | undefined> {
  return readCalls(s.stateDir)
    .filter((c) => c.env.CLAUDOMATOR_TASK_ID === taskId)
    .map((c) => {
      const at = c.argv.indexOf('--model');
      return at < 0 ? undefined : c.argv[at + 1];
    });
}

describe('the model classifier in a task', () => {
  it("runs the agent with the model it picks and records why; when it fails, the agent's default and why", async () => {
    api = await MessagesApiServer.start([
      { text: '{"model": "haiku", "reason": "a one-line typo fix"}' },
      { status: 500, error: { type: 'api_error', message: 'Internal server error' } },
    ]);
    stack = await startTestStack(env, db.current.store, {
      env: {
        CLAUDOMATOR_CLASSIFIER_MODEL: 'claude-haiku-4-5',
        CLAUDOMATOR_CLASSIFIER_BASE_URL: api.url,
        CLAUDOMATOR_CLASSIFIER_API_KEY: 'test-classifier-key',
        FAKE_AGENT_SLOW_LINES: '40',
      },
    });
    const submit = async (suffix: string, scenario: string, model?: string) =>
      (
        await stack!.client.submitTasks({
          id: `${stack!.name}-${suffix}`,
          name: `Fix the typo ${suffix}`,
          instructions: `teh → the [scenario:${scenario}]`,
          agent: { type: 'claude', ...(model ? { model } : {}) },
        })
      )[0]!;

    // 1. A good answer: the run uses it, and the Web UI says which model and why while it runs.
    const picked = await submit('picked', 'slow');
    const handle = env.client.workflow.getHandle(taskWorkflowId(picked.id));
    const details = await waitFor('the running task details', async () => {
      const meta = await handle
        .query<{ currentDetails: string }>('__temporal_workflow_metadata')
        .catch(() => undefined);
      return meta?.currentDetails.includes('RUNNING') && meta.currentDetails;
    });
    expect(details).toContain('Model: haiku (a one-line typo fix)');
    expect(await handle.query(taskStatusQuery)).toMatchObject({ model: 'haiku', modelReason: 'a one-line typo fix' });
    expect((await stack.client.waitForTask(picked.id, { timeoutMs: 60_000 })).state).toBe('READY');
    expect(modelsUsed(stack, picked.id)).toEqual(['haiku']);
    expect(await modelColumns(picked.id)).toEqual([{ model: 'haiku', model_reason: 'a one-line typo fix' }]);
    // The classifier saw the task and the pool's state (the task itself holds the claude slot then).
    const asked = requestText(api.requests[0]!);
    expect(asked).toContain(`Task name: Fix the typo picked`);
    expect(asked).toContain('- claude: 1/1 slots in use, 0 waiting');
    expect(api.requests[0]!.body.model).toBe('claude-haiku-4-5');

    // `task show` prints it with the execution.
    const details1 = await stack.client.getTask(picked.id);
    expect(details1.executions[0]).toMatchObject({ model: 'haiku', modelReason: 'a one-line typo fix' });
    const printed: string[] = [];
    const log = vi.spyOn(console, 'log').mockImplementation((line: string) => void printed.push(line));
    try {
      printTask(details1, stack.client.taskUrl(picked.id));
    } finally {
      log.mockRestore();
    }
    expect(printed).toContainEqual(expect.stringMatching(/^ {6}model +haiku \(a one-line typo fix\)$/));

    // 2. The classifier fails (HTTP 500): the agent's default model, and the reason says so.
    const fallback = await submit('fallback', 'success');
    expect((await stack.client.waitForTask(fallback.id, { timeoutMs: 60_000 })).state).toBe('READY');
    expect(modelsUsed(stack, fallback.id)).toEqual([undefined]);
    const [row] = await modelColumns(fallback.id);
    expect(row!.model).toBeNull();
    expect(row!.model_reason).toMatch(
      /^classifier failed: HTTP 500 from http:\/\/127\.0\.0\.1:\d+: .*Internal server error/,
    );

    // 3. A task that names its model is not classified.
    const named = await submit('named', 'success', 'opus');
    expect((await stack.client.waitForTask(named.id, { timeoutMs: 60_000 })).state).toBe('READY');
    expect(modelsUsed(stack, named.id)).toEqual(['opus']);
    expect(await modelColumns(named.id)).toEqual([{ model: 'opus', model_reason: 'the task sets it' }]);
    expect(api.requests).toHaveLength(2);
    api.assertDone();
  });
});
