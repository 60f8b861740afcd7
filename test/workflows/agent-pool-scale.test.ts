/**
 * The agent pool with thousands of waiting requests on the dev server: it continues as new carrying
 * them in the compact snapshot (patch `pool-compact-snapshot`), and the next run grants them in order.
 * Also: a run started from a snapshot in the full shape (what a run from before the patch carries)
 * takes it, and continues as new with the compact one.
 */
import { randomUUID } from 'node:crypto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type proto from '@temporalio/proto';
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAgentPool, getPoolStatus } from '../../infra/agent-pool.js';
import { AgentPool } from '../../workflows/agent-pool-state.js';
import { releaseSlotSignal, requestSlotSignal } from '../../workflows/definitions.js';
import { isCompactSnapshot, type CompactPoolSnapshot } from '../../workflows/pool-snapshot.js';
import type { AgentPoolInput, AgentPoolSnapshot, SlotRequest } from '../../workflows/types.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordHistory } from '../helpers/histories.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import { bundlePoolWorkflows, createPoolWorker, eventually } from './fixtures/pool-harness.js';
import { grantSinkWorkflow, receivedQuery } from './fixtures/pool-requesters.js';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

describe('agent pool at scale', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundle;

  beforeAll(async () => {
    [env, bundle] = await Promise.all([devServerEnv(), bundlePoolWorkflows()]);
  });
  afterAll(async () => {
    await env?.teardown();
  });

  async function withPool<T>(fn: (t: { name: string; poolId: string }) => Promise<T>): Promise<T> {
    const name = uniqueName();
    const worker = await createPoolWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: name,
      bundle,
      store: db.current.store,
    });
    return worker.runUntil(fn({ name, poolId: `${name}-pool` }));
  }

  /** Each run of the pool from `firstRunId` on: its input's carried state and size, and how it ended. */
  async function runsFrom(poolId: string, firstRunId: string) {
    const runs: Array<{ runId: string; state?: AgentPoolSnapshot | CompactPoolSnapshot; inputBytes: number }> = [];
    for (let runId: string | undefined = firstRunId; runId;) {
      const events: HistoryEvent[] = (await env.client.workflow.getHandle(poolId, runId).fetchHistory()).events ?? [];
      const data = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0]?.data ?? new Uint8Array();
      const input = JSON.parse(Buffer.from(data).toString('utf8')) as AgentPoolInput;
      runs.push({ runId, ...(input.state ? { state: input.state } : {}), inputBytes: data.length });
      runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    return runs;
  }

  it('continues as new with 6,000 requests waiting and grants them in order afterwards', async () => {
    await withPool(async ({ name, poolId }) => {
      const count = 6000;
      const pool = await ensureAgentPool(env.client, {
        workflowId: poolId,
        taskQueue: name,
        input: { agents: ['claude'], limits: { claude: 1 }, continueAsNewAfterEvents: 2500 },
      });
      const firstRunId = (await pool.describe()).runId;
      // The sink stands in for a task: a task's workflow id and task-shaped request ids (`<workflowId>/<runId>/<n>`,
      // as task.ts makes them), so the carried requests are the size of real ones.
      const taskId = randomUUID();
      const sink = await env.client.workflow.start(grantSinkWorkflow, {
        taskQueue: name,
        workflowId: `task-${taskId}`,
      });
      const sinkRunId = (await sink.describe()).runId;
      const requestId = (i: number) => `${sink.workflowId}/${sinkRunId}/${i}`;
      const request = (i: number): SlotRequest => ({
        requestId: requestId(i),
        workflowId: sink.workflowId,
        runId: sinkRunId,
        agent: 'claude',
        taskId,
      });
      // In order for the first one (the holder) and the next few, so the FIFO's head is known; the rest in
      // parallel batches. Each signal is one small RPC: the dev server takes a few hundred a second.
      for (let i = 0; i < 10; i++) await pool.signal(requestSlotSignal, request(i));
      for (let from = 10; from < count; from += 100) {
        await Promise.all(
          Array.from({ length: Math.min(100, count - from) }, (_, k) =>
            pool.signal(requestSlotSignal, request(from + k)),
          ),
        );
      }
      await eventually(
        'every request in the pool',
        async () => {
          const status = await getPoolStatus(env.client, { workflowId: poolId });
          return status.running + status.waiting === count && status;
        },
        { timeoutMs: 60_000, intervalMs: 500 },
      );

      const runs = await runsFrom(poolId, firstRunId);
      expect(runs.length).toBeGreaterThan(1);
      const carried = runs.flatMap((r) => (r.state && isCompactSnapshot(r.state) ? [{ ...r, state: r.state }] : []));
      expect(carried).toHaveLength(runs.length - 1);
      // The largest carried state: thousands of waiters, at about 110 bytes each with the whole input counted
      // (a task's request id, 80 characters here, is most of it; the full shape took about 310).
      const largest = carried.reduce((a, b) => (b.state.w.length > a.state.w.length ? b : a));
      expect(largest.state.w.length).toBeGreaterThan(2000);
      expect(largest.inputBytes / largest.state.w.length).toBeLessThan(115);

      // Grants go on in FIFO order in the latest run: each release grants the next request.
      for (let i = 0; i < 5; i++)
        await pool.signal(releaseSlotSignal, { requestId: requestId(i), report: { kind: 'success' } });
      const received = await eventually('five more grants', async () => {
        const r = await sink.query(receivedQuery);
        return r.grants.length === 6 && r;
      });
      expect(received.grants.map((g) => g.requestId)).toEqual([0, 1, 2, 3, 4, 5].map(requestId));
      expect(received.denials).toEqual([]);
      expect(await getPoolStatus(env.client, { workflowId: poolId })).toMatchObject({
        running: 1,
        waiting: count - 6,
      });
    });
  }, 120_000);

  it('takes a snapshot in the full shape, continues as new with the compact one, and grants in order', async () => {
    await withPool(async ({ name, poolId }) => {
      const sink = await env.client.workflow.start(grantSinkWorkflow, { taskQueue: name, workflowId: `${name}-sink` });
      // The state a run from before the patch carries: one holder and three waiters, in the full shape.
      const before = new AgentPool({ agents: ['claude'], clock: () => Date.now(), eventIdPrefix: 'old-run' });
      for (const id of ['h', 'w1', 'w2', 'w3']) {
        before.request({ requestId: `${name}-${id}`, workflowId: sink.workflowId, agent: 'claude' });
      }
      for (const { id } of before.takeMessages()) before.delivered(id);
      const state = before.snapshot();
      const pool = await ensureAgentPool(env.client, {
        workflowId: poolId,
        taskQueue: name,
        input: { agents: ['claude'], continueAsNewAfterEvents: 40, state },
      });
      const firstRunId = (await pool.describe()).runId;

      // Repeats of a waiting request change nothing but grow the history past the threshold.
      await eventually(
        'a continue-as-new',
        async () => {
          await pool.signal(requestSlotSignal, {
            requestId: `${name}-w1`,
            workflowId: sink.workflowId,
            agent: 'claude',
          });
          return (await pool.describe()).runId !== firstRunId;
        },
        { timeoutMs: 60_000, intervalMs: 20 },
      );
      const [first, second] = await runsFrom(poolId, firstRunId);
      expect(first?.state && isCompactSnapshot(first.state)).toBe(false);
      expect(second?.state && isCompactSnapshot(second.state) && second.state.w.map((w) => w[0])).toEqual(
        ['w1', 'w2', 'w3'].map((id) => `${name}-${id}`),
      );

      for (const id of ['h', 'w1']) {
        await pool.signal(releaseSlotSignal, { requestId: `${name}-${id}`, report: { kind: 'success' } });
      }
      const received = await eventually('two grants', async () => {
        const r = await sink.query(receivedQuery);
        return r.grants.length === 2 && r;
      });
      expect(received.grants.map((g) => g.requestId)).toEqual([`${name}-w1`, `${name}-w2`]);
      // The run that took the full shape and continued as new with the compact one.
      await recordHistory(pool, 'pool-compact-snapshot', firstRunId);
    });
  });
});
