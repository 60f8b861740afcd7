import { MockActivityEnvironment, type TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPoolActivities } from '../../activities/pool.js';
import { loadConfig } from '../../infra/config.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import { bundlePoolWorkflows, createPoolWorker, eventually } from '../workflows/fixtures/pool-harness.js';
import { continueOnceWorkflow, grantSinkWorkflow, stopSignal } from '../workflows/fixtures/pool-requesters.js';

describe('agent pool activities', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundle;

  beforeAll(async () => {
    [env, bundle] = await Promise.all([devServerEnv(), bundlePoolWorkflows()]);
  });
  afterAll(async () => {
    await env?.teardown();
  });

  const activities = () => createPoolActivities({ store: db.current.store, config: loadConfig({}) });

  it('records an agent event once however often it is retried', async () => {
    const pool = activities();
    const event = {
      id: `${uniqueName()}:run-1:0`,
      agent: 'claude',
      event: 'rate_limited' as const,
      at: '2030-01-01T00:00:00.000Z',
      until: '2030-01-01T00:17:00.000Z',
      reason: 'transient',
    };
    const mock = new MockActivityEnvironment();
    await mock.run((e: typeof event) => pool.recordAgentEvent(e), event);
    await mock.run((e: typeof event) => pool.recordAgentEvent(e), event);
    const rows = (await db.current.store.listAgentEvents({ agent: 'claude' })).filter((e) => e.id === event.id);
    expect(rows).toEqual([event]);
  });

  it('finds the runs that closed: terminated, never existed, replaced by a new run; not one that continued as new', async () => {
    const name = uniqueName();
    const worker = await createPoolWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: name,
      bundle,
      store: db.current.store,
    });
    await worker.runUntil(async () => {
      const start = (id: string) =>
        env.client.workflow.start(grantSinkWorkflow, { taskQueue: name, workflowId: `${name}-${id}` });
      const running = await start('running');
      const terminated = await start('terminated');
      await terminated.terminate('gone');
      const replaced = await start('replaced');
      const oldRun = replaced.firstExecutionRunId;
      await replaced.terminate('restarted');
      const restarted = await start('replaced');
      const continued = await env.client.workflow.start(continueOnceWorkflow, {
        taskQueue: name,
        workflowId: `${name}-continued`,
        args: [0],
      });
      await eventually('the continue-as-new', async () => {
        const d = await env.client.workflow.getHandle(continued.workflowId, continued.firstExecutionRunId).describe();
        return d.status.name === 'CONTINUED_AS_NEW';
      });

      const refs = [
        { workflowId: running.workflowId, runId: running.firstExecutionRunId },
        { workflowId: terminated.workflowId },
        { workflowId: `${name}-never-started` },
        { workflowId: replaced.workflowId, runId: oldRun },
        { workflowId: restarted.workflowId, runId: restarted.firstExecutionRunId },
        { workflowId: continued.workflowId, runId: continued.firstExecutionRunId },
      ];
      const mock = new MockActivityEnvironment(undefined, { client: env.client });
      const pool = activities();
      const closed = await mock.run((r: typeof refs) => pool.findClosedWorkflows(r), refs);
      expect(closed).toEqual([refs[1], refs[2], refs[3]]);

      await Promise.all([running, restarted, continued].map((h) => h.signal(stopSignal)));
    });
  });
});
