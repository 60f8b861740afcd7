/**
 * A sharded agent pool (CLAUDOMATOR_POOL_SHARDS) on the dev server: tasks of two agent types go to two
 * pool workflows, the operator commands reach the shard of their agent, the global cap is split, and
 * one shard is exactly the unsharded pool.
 */
import { WorkflowNotFoundError } from '@temporalio/client';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import type { Worker, WorkflowBundle } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  AgentPoolRejectedError,
  ensureAgentPools,
  getAgentStatuses,
  getPoolStatus,
  pauseAgent,
  resumeAgent,
  setAgentLimit,
  setMaxConcurrent,
  type PoolTarget,
} from '../../infra/agent-pool.js';
import { loadConfig } from '../../infra/config.js';
import { agentStatusesQuery, poolStatusQuery } from '../../workflows/definitions.js';
import type { AgentType } from '../../workflows/types.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import { bundlePoolWorkflows, createPoolWorker, signalsOf } from './fixtures/pool-harness.js';
import { poolRequesterWorkflow } from './fixtures/pool-requesters.js';

describe('sharded agent pool', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;
  let bundle: WorkflowBundle;

  beforeAll(async () => {
    [env, bundle] = await Promise.all([devServerEnv(), bundlePoolWorkflows()]);
  });
  afterAll(async () => {
    await env?.teardown();
  });

  /** A worker whose activities are configured with `shards` shards of claude and codex (2 slots each, cap 5). */
  async function sharded(
    shards: number,
  ): Promise<{ name: string; poolId: string; worker: Worker; target: PoolTarget }> {
    const name = uniqueName();
    const poolId = `${name}-pool`;
    const agents: AgentType[] = ['claude', 'codex'];
    const worker = await createPoolWorker({
      connection: env.nativeConnection,
      namespace: env.namespace ?? 'default',
      taskQueue: name,
      bundle,
      store: db.current.store,
      agents: agents.join(','),
      env: {
        CLAUDOMATOR_POOL_WORKFLOW_ID: poolId,
        CLAUDOMATOR_POOL_SHARDS: String(shards),
        CLAUDOMATOR_AGENT_SLOTS: 'claude=2,codex=2',
        CLAUDOMATOR_MAX_CONCURRENT: '5',
      },
    });
    return { name, poolId, worker, target: { workflowId: poolId, agents, shards } };
  }

  function requesters(name: string, poolId: string, shards: number, count: number) {
    return Promise.all(
      Array.from({ length: count }, (_, i) =>
        env.client.workflow.start(poolRequesterWorkflow, {
          taskQueue: name,
          workflowId: `${name}-r${i}`,
          args: [
            {
              poolWorkflowId: poolId,
              requestId: `${name}-r${i}`,
              agent: i % 2 === 0 ? 'claude' : 'codex',
              hold: 0,
              sharding: { agents: ['claude', 'codex'], shards },
            },
          ],
        }),
      ),
    );
  }

  const grantsSent = async (poolId: string) =>
    (await signalsOf(env.client, poolId)).filter((s) => s.direction === 'sent' && s.name === 'slotGranted').length;

  it('sends the tasks of two agent types through two shards, each started with its own agents', async () => {
    const { name, poolId, worker } = await sharded(2);
    await worker.runUntil(async () => {
      const handles = await requesters(name, poolId, 2, 10);
      const results = await Promise.all(handles.map((h) => h.result()));
      expect(results.map((r) => r.grant.agent)).toEqual(
        Array.from({ length: 10 }, (_, i) => (i % 2 === 0 ? 'claude' : 'codex')),
      );
      // Each shard was started on demand by the requesters, with only its agent and half the cap.
      const first = await env.client.workflow.getHandle(poolId).query(poolStatusQuery);
      const second = await env.client.workflow.getHandle(`${poolId}-1`).query(poolStatusQuery);
      expect(first).toMatchObject({ maxConcurrent: 3, running: 0, waiting: 0 });
      expect(first.agents.map((a) => [a.agent, a.limit])).toEqual([['claude', 2]]);
      expect(second).toMatchObject({ maxConcurrent: 2, running: 0, waiting: 0 });
      expect(second.agents.map((a) => [a.agent, a.limit])).toEqual([['codex', 2]]);
      expect(await grantsSent(poolId)).toBe(5);
      expect(await grantsSent(`${poolId}-1`)).toBe(5);
    });
  });

  it('takes each operator command to the shard of its agent, merges the reads and splits the cap', async () => {
    const { name, poolId, worker, target } = await sharded(2);
    await worker.runUntil(async () => {
      // Start both shards as a worker does at start-up.
      await ensureAgentPools(
        env.client,
        loadConfig({
          CLAUDOMATOR_TASK_QUEUE: name,
          CLAUDOMATOR_AGENTS: 'claude,codex',
          CLAUDOMATOR_POOL_WORKFLOW_ID: poolId,
          CLAUDOMATOR_POOL_SHARDS: '2',
          CLAUDOMATOR_AGENT_SLOTS: 'claude=2,codex=2',
        }),
      );

      const paused = await pauseAgent(env.client, { agent: 'codex', reason: 'maintenance' }, target);
      expect(paused).toMatchObject({ agent: 'codex', paused: true });
      const codexShard = await env.client.workflow.getHandle(`${poolId}-1`).query(agentStatusesQuery);
      expect(codexShard).toEqual([expect.objectContaining({ agent: 'codex', paused: true })]);

      expect(await setAgentLimit(env.client, { agent: 'claude', limit: 4 }, target)).toMatchObject({ limit: 4 });
      const claudeShard = await env.client.workflow.getHandle(poolId).query(agentStatusesQuery);
      expect(claudeShard).toEqual([expect.objectContaining({ agent: 'claude', limit: 4, paused: false })]);

      const merged = await getAgentStatuses(env.client, target);
      expect(merged.map((s) => [s.agent, s.limit, s.paused])).toEqual([
        ['claude', 4, false],
        ['codex', 2, true],
      ]);
      expect(await resumeAgent(env.client, { agent: 'codex' }, target)).toMatchObject({ paused: false });

      // The cap is split: 7 → 4 + 3, and the whole reads back as 7.
      expect(await setMaxConcurrent(env.client, { maxConcurrent: 7 }, target)).toMatchObject({ maxConcurrent: 7 });
      expect(await env.client.workflow.getHandle(poolId).query(poolStatusQuery)).toMatchObject({ maxConcurrent: 4 });
      expect(await env.client.workflow.getHandle(`${poolId}-1`).query(poolStatusQuery)).toMatchObject({
        maxConcurrent: 3,
      });
      // A cap no shard may take as a whole is refused before any shard changes.
      await expect(setMaxConcurrent(env.client, { maxConcurrent: 2000 }, target)).rejects.toThrow(
        /"maxConcurrent" must be a whole number from 0 to/,
      );
      expect(await getPoolStatus(env.client, target)).toMatchObject({ maxConcurrent: 7, running: 0, waiting: 0 });
      const removed = await setMaxConcurrent(env.client, { maxConcurrent: null }, target);
      expect(removed.maxConcurrent).toBeUndefined();

      // An agent no shard runs: shard 0's validator names it.
      const unknown = setAgentLimit(env.client, { agent: 'gemini', limit: 1 }, target);
      await expect(unknown).rejects.toBeInstanceOf(AgentPoolRejectedError);
      await expect(unknown).rejects.toThrow(/gemini/);
    });
  });

  it('with one shard is the unsharded pool: one workflow, every agent, the whole cap', async () => {
    const { name, poolId, worker, target } = await sharded(1);
    await worker.runUntil(async () => {
      const handles = await requesters(name, poolId, 1, 4);
      await Promise.all(handles.map((h) => h.result()));
      const status = await getPoolStatus(env.client, target);
      expect(status).toMatchObject({ maxConcurrent: 5, running: 0, waiting: 0 });
      expect(status.agents.map((a) => a.agent)).toEqual(['claude', 'codex']);
      expect(await grantsSent(poolId)).toBe(4);
      await expect(env.client.workflow.getHandle(`${poolId}-1`).describe()).rejects.toBeInstanceOf(
        WorkflowNotFoundError,
      );
    });
  });
});
