import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAgentPool, getAgentStatuses } from '../../infra/agent-pool.js';
import type { RunReport } from '../../workflows/types.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { timeSkippingEnv, uniqueName } from '../helpers/temporal.js';
import { bundlePoolWorkflows, createPoolWorker, eventually, signalsOf } from './fixtures/pool-harness.js';
import { finishSignal, grantQuery, poolRequesterWorkflow } from './fixtures/pool-requesters.js';

const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

describe('agent pool pauses on durable timers (time-skipping server)', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundle;

  beforeAll(async () => {
    [env, bundle] = await Promise.all([timeSkippingEnv(), bundlePoolWorkflows()]);
  });
  afterAll(async () => {
    await env?.teardown();
  });

  /**
   * A holder ends its run with `report(now)`; a second task waits for the same agent. Returns when the
   * second task was granted (workflow time), when the report's pause ends, and the pool's id.
   */
  async function pauseAndWait(report: (now: number) => RunReport & { until: string }) {
    const name = uniqueName();
    const poolId = `${name}-pool`;
    const worker = await createPoolWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: name,
      bundle,
      store: db.current.store,
    });
    return worker.runUntil(async () => {
      // The test server has no custom search attributes; leak checks every 6 h keep the skipped history short.
      await ensureAgentPool(env.client, {
        workflowId: poolId,
        taskQueue: name,
        input: { agents: ['claude'], leakCheckIntervalMs: 6 * HOUR, searchAttributes: false },
      });
      const start = (id: string, hold: number | 'signal') =>
        env.client.workflow.start(poolRequesterWorkflow, {
          taskQueue: name,
          workflowId: `${name}-${id}`,
          args: [{ poolWorkflowId: poolId, requestId: `${name}-${id}`, agent: 'claude', hold }],
        });
      const holder = await start('holder', 'signal');
      await eventually('the holder granted', async () => (await holder.query(grantQuery)) ?? undefined);
      const waiter = await start('waiter', 0);
      await eventually('the waiter queued', async () => {
        const [claude] = await getAgentStatuses(env.client, { workflowId: poolId });
        return claude?.waiting === 1;
      });

      const pause = report(await env.currentTimeMs());
      await holder.signal(finishSignal, pause);
      await holder.result();
      const [paused] = await getAgentStatuses(env.client, { workflowId: poolId });
      const realStart = Date.now();
      // Awaiting the result lets the server skip time to the pool's timer.
      const { grantedAt, grant } = await waiter.result();
      const realElapsed = Date.now() - realStart;

      const requestsSent = (await signalsOf(env.client, waiter.workflowId)).filter(
        (s) => s.direction === 'sent' && s.name === 'requestSlot',
      );
      const requestsReceived = (await signalsOf(env.client, poolId)).filter(
        (s) => s.direction === 'received' && s.name === 'requestSlot',
      );
      const events = await eventually('the available event recorded', async () => {
        const rows = (await db.current.store.listAgentEvents({ agent: 'claude' })).filter((e) =>
          e.id.startsWith(poolId),
        );
        return rows.some((e) => e.event === 'available') && rows.reverse();
      });
      return {
        grant,
        grantedAt,
        until: Date.parse(pause.until),
        paused,
        realElapsed,
        requestsSent,
        requestsReceived,
        events,
      };
    });
  }

  it('pauses grants on a rate limit until its retry-after, then grants without the request being sent again', async () => {
    const result = await pauseAndWait((now) => ({
      kind: 'rate_limited',
      until: new Date(now + 17 * MINUTE).toISOString(),
    }));

    expect(result.paused).toMatchObject({
      rateLimited: true,
      rateLimitReason: 'transient',
      waiting: 1,
      consecutiveFailures: 0,
    });
    expect(result.grant.agent).toBe('claude');
    expect(result.grantedAt).toBeGreaterThanOrEqual(result.until);
    expect(result.grantedAt).toBeLessThan(result.until + MINUTE);
    // One request from the waiter, one request arriving at the pool for it: nothing was re-sent.
    expect(result.requestsSent).toHaveLength(1);
    expect(
      result.requestsReceived.filter((s) => (s.input as { requestId: string }).requestId.endsWith('-waiter')),
    ).toHaveLength(1);
    expect(result.events.map((e) => ({ event: e.event, until: e.until, reason: e.reason }))).toEqual([
      { event: 'rate_limited', until: new Date(result.until).toISOString(), reason: 'transient' },
      { event: 'available', until: undefined, reason: 'rate limit ended' },
    ]);
  });

  it('ends a 5-hour quota pause on the skipped clock', async () => {
    const result = await pauseAndWait((now) => ({
      kind: 'quota_exhausted',
      until: new Date(now + 5 * HOUR).toISOString(),
    }));

    expect(result.paused).toMatchObject({ rateLimited: true, rateLimitReason: 'quota', waiting: 1 });
    expect(result.grantedAt).toBeGreaterThanOrEqual(result.until);
    expect(result.grantedAt).toBeLessThan(result.until + MINUTE);
    expect(result.realElapsed).toBeLessThan(60_000);
    expect(result.requestsSent).toHaveLength(1);
    expect(result.events.map((e) => [e.event, e.reason])).toEqual([
      ['rate_limited', 'quota'],
      ['available', 'quota reset'],
    ]);
  });
});
