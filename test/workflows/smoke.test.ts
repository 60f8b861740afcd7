import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { loadConfig } from '../../infra/config.js';
import { healthCheckWorkflow } from '../../workflows/health.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { createTestWorker, devServerEnv, uniqueName } from '../helpers/temporal.js';

describe('smoke: a workflow and an activity round trip on the real dev server', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await devServerEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('runs healthCheckWorkflow through a worker that reaches Postgres', async () => {
    const taskQueue = uniqueName();
    const worker = await createTestWorker(env, {
      taskQueue,
      activities: createActivities({ store: db.current.store, config: loadConfig({}) }),
    });
    const report = await worker.runUntil(
      env.client.workflow.execute(healthCheckWorkflow, { taskQueue, workflowId: taskQueue, args: ['hello'] }),
    );
    expect(report).toMatchObject({ echo: 'hello', pid: process.pid, taskQueue, database: 'ok' });

    const history = await env.client.workflow.getHandle(taskQueue).fetchHistory();
    const types = (history.events ?? []).map((e) => e.eventType);
    // 10 = ACTIVITY_TASK_COMPLETED: the activity really ran through the server, not in-process.
    expect(types).toContain(10);
  });
});
