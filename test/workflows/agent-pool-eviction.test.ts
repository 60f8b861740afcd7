/**
 * The agent pool under heavy cache eviction: a worker that caches only a few workflows evicts the
 * pool and its requesters between almost every workflow task, while the pool continues as new often.
 * Nothing the pool or a requester scheduled may run once its run is evicted or closed: such code
 * would call the workflow API with no workflow current and crash the worker (an unhandled rejection
 * no run owns).
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type proto from '@temporalio/proto';
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ensureAgentPool } from '../../infra/agent-pool.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordHistory } from '../helpers/histories.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import { bundlePoolWorkflows, createPoolWorker } from './fixtures/pool-harness.js';
import { poolRequesterWorkflow } from './fixtures/pool-requesters.js';

type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

describe('agent pool under cache eviction', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundle;

  beforeAll(async () => {
    [env, bundle] = await Promise.all([devServerEnv(), bundlePoolWorkflows()]);
  });
  afterAll(async () => {
    await env?.teardown();
  });

  /** Every run's events of the pool, following continue-as-new from its first run. */
  async function poolRuns(poolId: string, firstRunId: string) {
    const runs: HistoryEvent[][] = [];
    for (let runId: string | undefined = firstRunId; runId;) {
      const events: HistoryEvent[] = (await env.client.workflow.getHandle(poolId, runId).fetchHistory()).events ?? [];
      runs.push(events);
      runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
    }
    return runs;
  }

  it('keeps the worker up and delivers every grant with a cache of 2 workflows', async () => {
    const name = uniqueName();
    const poolId = `${name}-pool`;
    const requesters = 40;
    const worker = await createPoolWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: name,
      bundle,
      store: db.current.store,
      maxCachedWorkflows: 2,
    });
    let firstRunId = '';
    const results = await worker.runUntil(async () => {
      const pool = await ensureAgentPool(env.client, {
        workflowId: poolId,
        taskQueue: name,
        input: { agents: ['claude', 'codex'], limits: { claude: 3, codex: 3 }, continueAsNewAfterEvents: 60 },
      });
      firstRunId = (await pool.describe()).runId;
      const handles = await Promise.all(
        Array.from({ length: requesters }, (_, i) =>
          env.client.workflow.start(poolRequesterWorkflow, {
            taskQueue: name,
            workflowId: `${name}-r${i}`,
            args: [
              {
                poolWorkflowId: poolId,
                requestId: `${name}-r${i}`,
                agent: i % 2 === 0 ? 'claude' : 'codex',
                hold: 0,
              },
            ],
          }),
        ),
      );
      return Promise.all(handles.map((h) => h.result()));
    });
    // runUntil rethrows a worker failure (an unhandled rejection no run owns is one): it stopped cleanly.
    expect(worker.getState()).toBe('STOPPED');
    expect(results.map((r) => r.grant.agent).sort()).toEqual([
      ...Array<string>(requesters / 2).fill('claude'),
      ...Array<string>(requesters / 2).fill('codex'),
    ]);
    // The pool went through several runs, each waiting for its sends before continuing as new.
    const description = await env.client.workflow.getHandle(poolId).describe();
    expect(description.runId).not.toBe(firstRunId);
    const runs = await poolRuns(poolId, firstRunId);
    // The first run: it waited for its sends, then continued as new (the pool-drain-sends patch).
    await recordHistory(env.client.workflow.getHandle(poolId), 'pool-drain-sends-before-continue-as-new', firstRunId);
    expect(runs.length).toBeGreaterThan(2);
    for (const events of runs.slice(0, -1)) {
      const sent = events.filter((e) => e.signalExternalWorkflowExecutionInitiatedEventAttributes).length;
      const answered = events.filter(
        (e) =>
          e.externalWorkflowExecutionSignaledEventAttributes || e.signalExternalWorkflowExecutionFailedEventAttributes,
      ).length;
      expect(answered).toBe(sent);
    }
  });
});
