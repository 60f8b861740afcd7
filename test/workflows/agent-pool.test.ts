import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { WorkflowFailedError } from '@temporalio/client';
import { ApplicationFailure } from '@temporalio/common';
import type { WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acknowledgeAgent,
  AgentPoolRejectedError,
  ensureAgentPool,
  getAgentStatuses,
  pauseAgent,
  resumeAgent,
  setAgentLimit,
} from '../../infra/agent-pool.js';
import {
  DrainedAgentsKey,
  PausedAgentsKey,
  releaseSlotSignal,
  requestSlotSignal,
} from '../../workflows/definitions.js';
import { FailureType } from '../../workflows/failures.js';
import type { AgentPoolInput, AgentStatus, AgentType, RunReport } from '../../workflows/types.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordHistory } from '../helpers/histories.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import { bundlePoolWorkflows, createPoolWorker, eventually, signalsOf } from './fixtures/pool-harness.js';
import {
  finishSignal,
  grantQuery,
  grantSinkWorkflow,
  poolRequesterWorkflow,
  receivedQuery,
  type RequesterInput,
} from './fixtures/pool-requesters.js';

describe('agent pool on the dev server', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundle;

  beforeAll(async () => {
    [env, bundle] = await Promise.all([devServerEnv(), bundlePoolWorkflows()]);
  });
  afterAll(async () => {
    await env?.teardown();
  });

  /** A worker for this test's queue, running `fn`, and the ids and helpers the test needs. */
  async function withPool<T>(
    fn: (t: {
      name: string;
      poolId: string;
      startPool: (input: Omit<AgentPoolInput, 'state'>) => Promise<void>;
      startRequester: (
        id: string,
        input: Omit<RequesterInput, 'poolWorkflowId' | 'requestId'>,
      ) => ReturnType<typeof startRequester>;
      statusOf: (agent: AgentType) => Promise<AgentStatus>;
    }) => Promise<T>,
  ): Promise<T> {
    const name = uniqueName();
    const poolId = `${name}-pool`;
    const worker = await createPoolWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: name,
      bundle,
      store: db.current.store,
    });
    function startRequester(id: string, input: Omit<RequesterInput, 'poolWorkflowId' | 'requestId'>) {
      return env.client.workflow.start(poolRequesterWorkflow, {
        taskQueue: name,
        workflowId: `${name}-${id}`,
        args: [{ poolWorkflowId: poolId, requestId: `${name}-${id}`, ...input }],
      });
    }
    return worker.runUntil(
      fn({
        name,
        poolId,
        startPool: async (input) => {
          await ensureAgentPool(env.client, { workflowId: poolId, taskQueue: name, input });
        },
        startRequester,
        statusOf: async (agent) => {
          const status = (await getAgentStatuses(env.client, { workflowId: poolId })).find((s) => s.agent === agent);
          if (!status) throw new Error(`no status for ${agent}`);
          return status;
        },
      }),
    );
  }

  const grantOf = (handle: { query: (q: typeof grantQuery) => Promise<unknown> }) => () =>
    handle.query(grantQuery).then((g) => (g === null ? undefined : g));

  it('holds a limit of 1 under 20 concurrent requesters, the first of which starts the pool', async () => {
    await withPool(async ({ poolId, startRequester, statusOf }) => {
      const handles = await Promise.all(
        // Each holds its slot from the grant to its release (a workflow task apart); timers on the dev server take ~1 s.
        Array.from({ length: 20 }, (_, i) => startRequester(`r${i}`, { agent: 'claude', hold: 0 })),
      );
      const results = await Promise.all(handles.map((h) => h.result()));

      expect(results.map((r) => r.grant.agent)).toEqual(Array(20).fill('claude'));
      const byGrant = [...results].sort((a, b) => a.grantedAt - b.grantedAt);
      for (let i = 1; i < byGrant.length; i++) {
        expect(byGrant[i]?.grantedAt).toBeGreaterThanOrEqual(byGrant[i - 1]?.releasedAt as number);
      }
      // From the pool's own history: never more than one grant outstanding.
      let outstanding = 0;
      let most = 0;
      let grants = 0;
      for (const s of await signalsOf(env.client, poolId)) {
        if (s.direction === 'sent' && s.name === 'slotGranted') {
          grants++;
          most = Math.max(most, ++outstanding);
        }
        if (s.direction === 'received' && s.name === 'releaseSlot') outstanding--;
      }
      expect(grants).toBe(20);
      expect(most).toBe(1);
      expect(await statusOf('claude')).toMatchObject({ limit: 1, activeTasks: 0, waiting: 0, holders: [] });
    });
  });

  it('grants in FIFO order', async () => {
    await withPool(async ({ name, poolId, startPool }) => {
      await startPool({ agents: ['claude'] });
      const sink = await env.client.workflow.start(grantSinkWorkflow, { taskQueue: name, workflowId: `${name}-sink` });
      const pool = env.client.workflow.getHandle(poolId);
      const ids = Array.from({ length: 10 }, (_, i) => `q${i}`);
      for (const requestId of ids) {
        await pool.signal(requestSlotSignal, { requestId, workflowId: sink.workflowId, agent: 'claude' });
      }
      for (const requestId of ids.slice(0, -1)) {
        await pool.signal(releaseSlotSignal, { requestId, report: { kind: 'success' } });
      }
      const received = await eventually('10 grants', async () => {
        const r = await sink.query(receivedQuery);
        return r.grants.length === 10 && r;
      });
      expect(received.grants.map((g) => g.requestId)).toEqual(ids);
      // The pool decided in that order too (its own history), not only delivered in it.
      const decided = (await signalsOf(env.client, poolId)).filter(
        (s) => s.direction === 'sent' && s.name === 'slotGranted',
      );
      expect(decided.map((s) => (s.input as { requestId: string }).requestId)).toEqual(ids);
    });
  });

  it('gives "any" the least-busy agent that is neither rate-limited nor drained', async () => {
    await withPool(async ({ name, poolId, startPool }) => {
      await startPool({ agents: ['claude', 'codex', 'gemini'], limits: { claude: 2 } });
      const sink = await env.client.workflow.start(grantSinkWorkflow, { taskQueue: name, workflowId: `${name}-sink` });
      const pool = env.client.workflow.getHandle(poolId);
      const request = (requestId: string, agent: string) =>
        pool.signal(requestSlotSignal, { requestId, workflowId: sink.workflowId, agent: agent as AgentType });
      const release = (requestId: string, report: RunReport) => pool.signal(releaseSlotSignal, { requestId, report });

      await request('c1', 'claude');
      await request('x1', 'codex');
      await release('x1', { kind: 'rate_limited', until: new Date(Date.now() + 3600_000).toISOString() });
      // codex has no task but is rate-limited (and would win the tie on name): gemini.
      await request('a1', 'any');
      // gemini is full, claude has 1 of 2: claude.
      await request('a2', 'any');
      // Everything is busy or paused: a3 waits, and takes the first agent that frees up.
      await request('a3', 'any');
      await release('a1', { kind: 'success' });

      const received = await eventually('5 grants', async () => {
        const r = await sink.query(receivedQuery);
        return r.grants.length === 5 && r;
      });
      expect(received.grants.map((g) => `${g.requestId}:${g.agent}`)).toEqual([
        'c1:claude',
        'x1:codex',
        'a1:gemini',
        'a2:claude',
        'a3:gemini',
      ]);
    });
  });

  it('drains an agent after two failed runs, stops its grants, and resumes them when acknowledged', async () => {
    await withPool(async ({ poolId, startPool, startRequester, statusOf }) => {
      await startPool({ agents: ['claude'] });
      for (const [id, error] of [
        ['f1', 'first failure'],
        ['f2', 'second failure: exit code 1'],
      ] as const) {
        const failing = await startRequester(id, { agent: 'claude', hold: 'signal' });
        await eventually(`${id} granted`, grantOf(failing));
        await failing.signal(finishSignal, { kind: 'failed', error });
        await failing.result();
      }
      const waiting = await startRequester('w', { agent: 'claude', hold: 'signal' });
      const drained = await eventually('the drain', async () => {
        const s = await statusOf('claude');
        return s.drained && s.waiting === 1 && s;
      });
      expect(drained).toMatchObject({
        consecutiveFailures: 2,
        drainReason: 'second failure: exit code 1',
        activeTasks: 0,
      });
      expect(await waiting.query(grantQuery)).toBeNull();

      const pool = env.client.workflow.getHandle(poolId);
      const details = await eventually('details naming the drain', async () => {
        const meta = await pool.query<{ currentDetails: string }>('__temporal_workflow_metadata');
        return meta.currentDetails.includes('is drained') && meta.currentDetails;
      });
      expect(details).toContain('second failure: exit code 1');
      expect(details).toContain('claudomator agents ack claude');
      expect((await pool.describe()).typedSearchAttributes.get(DrainedAgentsKey)).toEqual(['claude']);
      const events = await eventually('the drained event in Postgres', async () => {
        const rows = (await db.current.store.listAgentEvents({ agent: 'claude' })).filter((e) =>
          e.id.startsWith(poolId),
        );
        return rows.some((e) => e.event === 'drained') && rows;
      });
      expect(events.find((e) => e.event === 'drained')).toMatchObject({ reason: 'second failure: exit code 1' });

      expect(
        await acknowledgeAgent(env.client, { agent: 'claude', by: 'tester' }, { workflowId: poolId }),
      ).toMatchObject({
        drained: false,
        consecutiveFailures: 0,
        activeTasks: 1,
      });
      expect(await eventually('the waiting task granted', grantOf(waiting))).toEqual({
        requestId: waiting.workflowId,
        agent: 'claude',
      });
      await waiting.signal(finishSignal, { kind: 'success' });
      await waiting.result();
      await eventually('the acknowledged event in Postgres', async () => {
        const rows = await db.current.store.listAgentEvents({ agent: 'claude' });
        return rows.some((e) => e.id.startsWith(poolId) && e.event === 'acknowledged' && e.reason === 'by tester');
      });
      // An empty list removes the attribute.
      expect((await pool.describe()).typedSearchAttributes.get(DrainedAgentsKey) ?? []).toEqual([]);
      await recordHistory(pool, 'pool-drain-acknowledge');
    });
  });

  it('reclaims the slot of a terminated holder and drops a terminated waiter', async () => {
    await withPool(async ({ poolId, startPool, startRequester, statusOf }) => {
      await startPool({ agents: ['claude'], leakCheckIntervalMs: 1000 });
      const holder = await startRequester('holder', { agent: 'claude', hold: 'signal' });
      await eventually('the holder granted', grantOf(holder));
      const next = await startRequester('next', { agent: 'claude', hold: 'signal' });
      const gone = await startRequester('gone', { agent: 'claude', hold: 'signal' });
      await eventually('two waiting', async () => (await statusOf('claude')).waiting === 2);

      await gone.terminate('the operator gave up on it');
      await eventually('the terminated waiter dropped', async () => (await statusOf('claude')).waiting === 1);
      await holder.terminate('killed from the UI');
      expect(await eventually('the next waiter granted', grantOf(next))).toMatchObject({ agent: 'claude' });
      expect(await statusOf('claude')).toMatchObject({ activeTasks: 1, waiting: 0, holders: [next.workflowId] });
      await next.signal(finishSignal, { kind: 'success' });
      await next.result();
      await recordHistory(env.client.workflow.getHandle(poolId), 'pool-leaks-reclaimed');
    });
  });

  it('withdraws the request of a cancelled waiter at once', async () => {
    await withPool(async ({ poolId, startPool, startRequester, statusOf }) => {
      await startPool({ agents: ['claude'], leakCheckIntervalMs: 600_000 });
      const holder = await startRequester('holder', { agent: 'claude', hold: 'signal' });
      await eventually('the holder granted', grantOf(holder));
      const waiter = await startRequester('waiter', { agent: 'claude', hold: 'signal' });
      await eventually('one waiting', async () => (await statusOf('claude')).waiting === 1);
      await waiter.cancel();
      await eventually('the request withdrawn', async () => (await statusOf('claude')).waiting === 0);
      const releases = (await signalsOf(env.client, poolId)).filter(
        (s) => s.direction === 'received' && s.name === 'releaseSlot',
      );
      expect(releases.map((s) => s.input)).toEqual([{ requestId: waiter.workflowId, report: { kind: 'neutral' } }]);
      await holder.signal(finishSignal, { kind: 'success' });
      await holder.result();
    });
  });

  it('denies a request for an agent it does not run, failing the requester with a clear reason', async () => {
    await withPool(async ({ startPool, startRequester, statusOf }) => {
      await startPool({ agents: ['claude'] });
      const requester = await startRequester('codex', { agent: 'codex', hold: 0 });
      const failure = await requester.result().then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(failure).toBeInstanceOf(WorkflowFailedError);
      const cause = (failure as WorkflowFailedError).cause;
      expect(cause).toBeInstanceOf(ApplicationFailure);
      expect(cause).toMatchObject({
        type: FailureType.AgentConfig,
        message: 'The agent pool refused the slot: unknown agent "codex": this pool runs claude (or "any")',
      });
      // The pool is not wedged.
      const ok = await startRequester('ok', { agent: 'claude', hold: 0 });
      expect((await ok.result()).grant.agent).toBe('claude');
      expect(await statusOf('claude')).toMatchObject({ activeTasks: 0, waiting: 0 });
    });
  });

  it('rejects bad operator input with a clear message and changes nothing', async () => {
    await withPool(async ({ poolId, startPool, statusOf }) => {
      await startPool({ agents: ['claude', 'gemini'] });
      const target = { workflowId: poolId };
      const before = await getAgentStatuses(env.client, target);
      const rejected = async (call: Promise<unknown>, message: string) => {
        const err = await call.then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(AgentPoolRejectedError);
        expect((err as Error).message).toContain(message);
      };
      await rejected(
        acknowledgeAgent(env.client, { agent: 'claud' }, target),
        '"agent" must be one of the agents this pool runs (claude, gemini), got "claud"',
      );
      await rejected(
        setAgentLimit(env.client, { agent: 'claude', limit: -1 }, target),
        '"limit" must be a whole number from 0 to 1000',
      );
      await rejected(setAgentLimit(env.client, { agent: 'claude', limit: 2.5 }, target), 'got 2.5');
      await rejected(
        pauseAgent(env.client, { agent: 'gemini', until: 'next tuesday' }, target),
        '"until" must be an ISO-8601 time in the future',
      );
      await rejected(
        pauseAgent(env.client, { agent: 'gemini', until: new Date(Date.now() - 60_000).toISOString() }, target),
        '"until" must be an ISO-8601 time in the future',
      );
      await rejected(resumeAgent(env.client, { agent: 'any' }, target), '"agent" must be one of');
      expect(await getAgentStatuses(env.client, target)).toEqual(before);

      // Good input goes through and answers with the new status.
      expect(await setAgentLimit(env.client, { agent: 'claude', limit: 3 }, target)).toMatchObject({
        agent: 'claude',
        limit: 3,
      });
      expect(await pauseAgent(env.client, { agent: 'gemini', reason: 'maintenance' }, target)).toMatchObject({
        paused: true,
      });
      expect(
        (await env.client.workflow.getHandle(poolId).describe()).typedSearchAttributes.get(PausedAgentsKey),
      ).toEqual(['gemini']);
      expect(await resumeAgent(env.client, { agent: 'gemini' }, target)).toMatchObject({ paused: false });
      expect(await statusOf('claude')).toMatchObject({ limit: 3 });
    });
  });

  it('keeps holders, waiters, pauses and drains across continue-as-new', async () => {
    await withPool(async ({ name, poolId, startPool }) => {
      await startPool({ agents: ['claude', 'codex', 'command', 'gemini'], continueAsNewAfterEvents: 300 });
      const sink = await env.client.workflow.start(grantSinkWorkflow, { taskQueue: name, workflowId: `${name}-sink` });
      const pool = env.client.workflow.getHandle(poolId);
      const firstRunId = (await pool.describe()).runId;
      const request = (requestId: string, agent: string) =>
        pool.signal(requestSlotSignal, { requestId, workflowId: sink.workflowId, agent: agent as AgentType });
      const release = (requestId: string, report: RunReport) => pool.signal(releaseSlotSignal, { requestId, report });

      // codex drained; gemini out of quota for 5 hours; command paused by an operator for an hour.
      for (const id of ['x1', 'x2']) {
        await request(id, 'codex');
        await release(id, { kind: 'failed', error: `broken ${id}` });
      }
      await request('g1', 'gemini');
      await release('g1', { kind: 'quota_exhausted', until: new Date(Date.now() + 5 * 3600_000).toISOString() });
      await pauseAgent(
        env.client,
        { agent: 'command', until: new Date(Date.now() + 3600_000).toISOString() },
        { workflowId: poolId },
      );
      // claude: one holder, then two waiting for it and one for any agent.
      for (const [id, agent] of [
        ['h1', 'claude'],
        ['w1', 'claude'],
        ['w2', 'any'],
        ['w3', 'claude'],
      ] as const) {
        await request(id, agent);
      }
      const before = await eventually('the state built', async () => {
        const statuses = await getAgentStatuses(env.client, { workflowId: poolId });
        return statuses.find((s) => s.agent === 'claude')?.waiting === 2 && statuses;
      });
      expect((await pool.describe()).runId).toBe(firstRunId);

      // Repeats of a waiting request change nothing but grow the history past the threshold.
      const runId = await eventually(
        'a continue-as-new',
        async () => {
          await request('w1', 'claude');
          const current = (await pool.describe()).runId;
          return current !== firstRunId && current;
        },
        { timeoutMs: 60_000, intervalMs: 20 },
      );
      expect((await env.client.workflow.getHandle(poolId, firstRunId).describe()).status.name).toBe('CONTINUED_AS_NEW');
      expect(await getAgentStatuses(env.client, { workflowId: poolId })).toEqual(before);
      const after = await pool.describe();
      expect(after.runId).toBe(runId);
      expect(after.typedSearchAttributes.get(DrainedAgentsKey)).toEqual(['codex']);
      expect(after.typedSearchAttributes.get(PausedAgentsKey)).toEqual(['command', 'gemini']);

      // The carried state goes on working: the FIFO, then the drain's acknowledgement.
      await release('h1', { kind: 'success' });
      await acknowledgeAgent(env.client, { agent: 'codex' }, { workflowId: poolId });
      const received = await eventually('the carried waiters granted', async () => {
        const r = await sink.query(receivedQuery);
        return r.grants.some((g) => g.requestId === 'w2') && r;
      });
      expect(received.grants.slice(-2).map((g) => `${g.requestId}:${g.agent}`)).toEqual(['w1:claude', 'w2:codex']);
      const events = await eventually('the events recorded once', async () => {
        const rows = (await db.current.store.listAgentEvents({ limit: 1000 })).filter((e) => e.id.startsWith(poolId));
        return rows.some((e) => e.event === 'acknowledged') && rows;
      });
      expect(events.filter((e) => e.event === 'drained')).toHaveLength(1);
      expect(events.filter((e) => e.event === 'rate_limited')).toHaveLength(1);
    });
  });
});
