import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createActivities } from '../../activities/index.js';
import { ensureAgentPool } from '../../infra/agent-pool.js';
import { loadConfig } from '../../infra/config.js';
import { releaseSlotSignal, requestSlotSignal } from '../../workflows/definitions.js';
import type { AgentType, RunReport } from '../../workflows/types.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { startReceiver, type Receiver } from '../helpers/receiver.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import { bundlePoolWorkflows, eventually } from './fixtures/pool-harness.js';
import { grantSinkWorkflow } from './fixtures/pool-requesters.js';

describe('agent pool notifications', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundle;
  let receiver: Receiver;

  beforeAll(async () => {
    [env, bundle, receiver] = await Promise.all([devServerEnv(), bundlePoolWorkflows(), startReceiver()]);
  });
  afterAll(async () => {
    await env?.teardown();
    await receiver?.close();
  });

  it('notifies a drain and a quota pause once each, carried across continue-as-new', async () => {
    const name = uniqueName();
    const poolId = `${name}-pool`;
    const hook = `/${name}/hook`;
    const config = loadConfig({
      CLAUDOMATOR_TASK_QUEUE: name,
      CLAUDOMATOR_AGENTS: 'claude,gemini',
      CLAUDOMATOR_NOTIFY_WEBHOOK_URL: receiver.url(hook),
    });
    const worker = await Worker.create({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: name,
      workflowBundle: bundle,
      activities: createActivities({ store: db.current.store, config }),
    });
    await worker.runUntil(async () => {
      // A tiny history limit: the signals below make the pool continue as new while events wait to be recorded.
      await ensureAgentPool(env.client, {
        workflowId: poolId,
        taskQueue: name,
        input: { agents: ['claude', 'gemini'], continueAsNewAfterEvents: 20 },
      });
      const pool = env.client.workflow.getHandle(poolId);
      const firstRunId = (await pool.describe()).runId;
      const sink = await env.client.workflow.start(grantSinkWorkflow, { taskQueue: name, workflowId: `${name}-sink` });
      const request = (requestId: string, agent: AgentType) =>
        pool.signal(requestSlotSignal, { requestId, workflowId: sink.workflowId, agent });
      const release = (requestId: string, report: RunReport) => pool.signal(releaseSlotSignal, { requestId, report });

      for (const id of ['c1', 'c2']) {
        await request(id, 'claude');
        await release(id, { kind: 'failed', error: `broken ${id}` });
      }
      await request('g1', 'gemini');
      await release('g1', { kind: 'quota_exhausted', until: '2099-01-01T00:00:00.000Z' });

      const posts = await receiver.waitFor(hook, 2, 60_000);
      expect(posts.map((p) => p.body)).toEqual(
        expect.arrayContaining([
          expect.objectContaining({ kind: 'agent_drained', agent: 'claude', reason: 'broken c2' }),
          expect.objectContaining({ kind: 'agent_quota_paused', agent: 'gemini', until: '2099-01-01T00:00:00.000Z' }),
        ]),
      );
      expect((await pool.describe()).runId).not.toBe(firstRunId);

      // Once each: the key is the agent event's id, recorded once in agent_events; a third notice never comes.
      const events = await eventually('the events recorded', async () => {
        const rows = (await db.current.store.listAgentEvents({ limit: 100 })).filter((e) => e.id.startsWith(poolId));
        return rows.filter((e) => e.event === 'drained' || e.event === 'rate_limited').length === 2 && rows;
      });
      const keys = events
        .filter((e) => e.event === 'drained' || e.event === 'rate_limited')
        .map((e) => `agent-${e.agent}.${e.event === 'drained' ? 'agent_drained' : 'agent_quota_paused'}.${e.id}`)
        .sort();
      expect(posts.map((p) => (p.body as { key: string }).key).sort()).toEqual(keys);
      const records = await eventually('the notices recorded sent', async () => {
        const rows = (await db.current.store.listNotifications({ keyPrefix: 'agent-' })).filter((r) =>
          keys.includes(r.key),
        );
        return rows.length === 2 && rows.every((r) => r.status === 'sent') && rows;
      });
      expect(records.map((r) => r.attempts)).toEqual([1, 1]);
      // The events came from the first run, which continued as new before it notified: a later run sent them.
      for (const event of events.filter((e) => e.event === 'drained' || e.event === 'rate_limited')) {
        expect(event.id.startsWith(`${poolId}:${firstRunId}:`)).toBe(true);
      }
      const notifiers = await Promise.all(
        keys.map(
          async (key) => (await env.client.workflow.getHandle(`notify-${key}`).describe()).parentExecution?.runId,
        ),
      );
      expect(notifiers.some((runId) => runId !== firstRunId)).toBe(true);
      // More signals, more continue-as-new: nothing is notified again. Requests and withdrawals go on until the
      // run continues as new, however many events it already had.
      const runBefore = (await pool.describe()).runId;
      let next = 3;
      await eventually('another continue-as-new', async () => {
        const id = `c${next++}`;
        await request(id, 'claude');
        await release(id, { kind: 'neutral' });
        return (await pool.describe()).runId !== runBefore;
      });
      expect(receiver.at(hook)).toHaveLength(2);
      await env.client.workflow.getHandle(poolId).terminate('test over');
      await sink.terminate('test over');
    });
  });
});
