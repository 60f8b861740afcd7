/**
 * The agent pool from outside its workflow: start it (idempotently), read every agent's status, and
 * steer it with the operator updates (acknowledge a drained agent, change a slot limit or the global
 * cap, pause, resume). Workers start it, activities read it (`ensureAgentPool`, the classifier, the
 * story's wait explanations), and the SDK and CLI (`claudomator agents …`) are built on it.
 *
 * Updates, not signals, because the caller wants the answer: the pool's validators reject an unknown
 * agent or a bad value, and the caller gets the agent's new status or an `AgentPoolRejectedError`
 * naming what was wrong.
 *
 * A sharded pool (CLAUDOMATOR_POOL_SHARDS over 1, workflows/pool-shards.ts) is several pool workflows:
 * with a target that names the agents and the shard count, an agent's command goes to its shard, the
 * status reads ask every shard and merge their answers, and a new global cap is split across them.
 */
import { WorkflowUpdateFailedError, type Client, type WorkflowHandle } from '@temporalio/client';
import type { Config } from './config.js';
import type { agentPoolWorkflow } from '../workflows/agent-pool.js';
import {
  acknowledgeAgentUpdate,
  agentStatusesQuery,
  DEFAULT_POOL_WORKFLOW_ID,
  pauseAgentUpdate,
  poolStatusQuery,
  resumeAgentUpdate,
  setAgentLimitUpdate,
  setMaxConcurrentUpdate,
} from '../workflows/definitions.js';
import { MAX_AGENT_LIMIT } from '../workflows/agent-pool-state.js';
import { capShare, poolShards, shardOfAgent, type PoolLayout, type PoolShard } from '../workflows/pool-shards.js';
import type { AgentPoolInput, AgentStatus, AgentType, PoolStatus } from '../workflows/types.js';

/**
 * Which pool to talk to; the default is `agent-pool` (CLAUDOMATOR_POOL_WORKFLOW_ID). With `shards` over
 * 1 and the configured `agents` (`poolTarget(config)`), the pool's shards.
 */
export interface PoolTarget {
  workflowId?: string;
  agents?: readonly AgentType[];
  shards?: number;
}

/** The target for the configured pool: its workflow id, agents and shard count. */
export function poolTarget(config: Pick<Config, 'poolWorkflowId' | 'agents' | 'poolShards'>): PoolTarget {
  return { workflowId: config.poolWorkflowId, agents: config.agents, shards: config.poolShards };
}

/** The shards of `target`: one (the workflow id itself) unless it names agents and more than one shard. */
export function targetShards(target: PoolTarget = {}): PoolShard[] {
  const layout: PoolLayout = {
    poolWorkflowId: target.workflowId ?? DEFAULT_POOL_WORKFLOW_ID,
    agents: target.agents ?? [],
    shards: target.shards ?? 1,
  };
  if (layout.shards <= 1 || layout.agents.length <= 1) {
    return [{ index: 0, workflowId: layout.poolWorkflowId, agents: [...layout.agents] }];
  }
  return poolShards(layout);
}

/** The pool refused an operator update; `message` says which field was wrong and what it accepts. */
export class AgentPoolRejectedError extends Error {
  override readonly name = 'AgentPoolRejectedError';
}

/**
 * The pool's input from the configuration: CLAUDOMATOR_AGENTS, CLAUDOMATOR_AGENT_SLOTS and
 * CLAUDOMATOR_MAX_CONCURRENT; for the shard with workflow id `shardId` of a sharded pool, its agents
 * and its share of the cap. An id that is no shard of the configured pool gets every agent.
 */
export function agentPoolInput(
  config: Pick<Config, 'agents' | 'agentSlots' | 'maxConcurrent'> &
    Partial<Pick<Config, 'poolWorkflowId' | 'poolShards' | 'searchAttributes'>>,
  shardId?: string,
): AgentPoolInput {
  const shards = targetShards({ workflowId: config.poolWorkflowId, agents: config.agents, shards: config.poolShards });
  const shard = shards.length > 1 ? shards.find((s) => s.workflowId === shardId) : undefined;
  const agents = shard ? shard.agents : [...config.agents];
  const maxConcurrent = shard ? capShare(config.maxConcurrent, shards.length, shard.index) : config.maxConcurrent;
  const limits: Partial<Record<AgentType, number>> = {};
  for (const agent of agents) limits[agent] = config.agentSlots[agent];
  return {
    agents,
    limits,
    ...(maxConcurrent !== undefined ? { maxConcurrent } : {}),
    ...(config.searchAttributes === false ? { searchAttributes: false } : {}),
  };
}

export interface EnsureAgentPoolOptions extends PoolTarget {
  /** The orchestration task queue (CLAUDOMATOR_TASK_QUEUE). */
  taskQueue: string;
  input: AgentPoolInput;
  /**
   * Workers run with Worker Versioning (CLAUDOMATOR_BUILD_ID set): the pool, which never ends, is
   * started AUTO_UPGRADE while tasks and stories take the workers' default, PINNED. (Declaring it
   * in the workflow with setWorkflowOptions would break unversioned workers: the server refuses a
   * versioning behaviour from a worker without deployment options.)
   */
  versioned?: boolean;
}

/**
 * Start the pool unless it runs already (`USE_EXISTING`), and return its handle. A running pool keeps
 * its own agents and limits: change a limit with `setAgentLimit`, not by restarting with new input.
 */
export async function ensureAgentPool(
  client: Client,
  options: EnsureAgentPoolOptions,
): Promise<WorkflowHandle<typeof agentPoolWorkflow>> {
  const limits = options.input.agents.map((agent) => `${agent}×${options.input.limits?.[agent] ?? 1}`);
  const cap = options.input.maxConcurrent === undefined ? '' : `; at most ${options.input.maxConcurrent} at once`;
  return client.workflow.start<typeof agentPoolWorkflow>('agentPoolWorkflow', {
    workflowId: options.workflowId ?? DEFAULT_POOL_WORKFLOW_ID,
    taskQueue: options.taskQueue,
    args: [options.input],
    workflowIdConflictPolicy: 'USE_EXISTING',
    ...(options.versioned ? { versioningOverride: 'AUTO_UPGRADE' as const } : {}),
    staticSummary: `Agent pool: ${limits.join(', ')}${cap}`,
    staticDetails:
      'Grants agent slots to task workflows (FIFO, per-agent limits, an optional global cap), pauses agents on rate limits and quotas, ' +
      'drains an agent after two consecutive failures until an operator acknowledges it.',
  });
}

/** Start every shard of the configured pool unless it runs (one workflow, `agent-pool`, unsharded). */
export async function ensureAgentPools(
  client: Client,
  config: Pick<
    Config,
    'poolWorkflowId' | 'poolShards' | 'agents' | 'agentSlots' | 'maxConcurrent' | 'taskQueue' | 'buildId'
  > &
    Partial<Pick<Config, 'searchAttributes'>>,
): Promise<void> {
  await Promise.all(
    targetShards(poolTarget(config)).map((shard) =>
      ensureAgentPool(client, {
        workflowId: shard.workflowId,
        taskQueue: config.taskQueue,
        input: agentPoolInput(config, shard.workflowId),
        versioned: config.buildId !== undefined,
      }),
    ),
  );
}

/** Every agent's status: slots, holders, waiting, pauses, drain (from every shard, in configuration order). */
export async function getAgentStatuses(client: Client, target: PoolTarget = {}): Promise<AgentStatus[]> {
  const shards = targetShards(target);
  const answers = await Promise.all(
    shards.map((s) => client.workflow.getHandle(s.workflowId).query(agentStatusesQuery)),
  );
  return inAgentOrder(answers.flat(), target);
}

/** The whole pool: the global cap, slots held and requests waiting across agents, and every agent's status. */
export async function getPoolStatus(client: Client, target: PoolTarget = {}): Promise<PoolStatus> {
  const shards = targetShards(target);
  const answers = await Promise.all(shards.map((s) => client.workflow.getHandle(s.workflowId).query(poolStatusQuery)));
  return mergePoolStatuses(answers, target);
}

/**
 * Set (0 stops new grants) or, with null, remove the cap on slots held at once across all agents. A
 * sharded pool gets it split across its shards (`capShare`), so the shards together never exceed it.
 */
export async function setMaxConcurrent(
  client: Client,
  args: { maxConcurrent: number | null },
  target: PoolTarget = {},
): Promise<PoolStatus> {
  const shards = targetShards(target);
  if (shards.length === 1) {
    return runUpdate(client, shards[0]?.workflowId, (handle) =>
      handle.executeUpdate(setMaxConcurrentUpdate, { args: [args] }),
    );
  }
  // Checked here, before any shard changes: a share could be valid where the whole is not.
  const cap = args?.maxConcurrent;
  if (cap !== null && !(Number.isInteger(cap) && cap >= 0 && cap <= MAX_AGENT_LIMIT)) {
    throw new AgentPoolRejectedError(
      `"maxConcurrent" must be a whole number from 0 to ${MAX_AGENT_LIMIT} (0 stops new grants), or null for no global cap, got ${JSON.stringify(cap) ?? 'nothing'}`,
    );
  }
  const answers = await Promise.all(
    shards.map((s) =>
      runUpdate(client, s.workflowId, (handle) =>
        handle.executeUpdate(setMaxConcurrentUpdate, {
          args: [{ maxConcurrent: cap === null ? null : (capShare(cap, shards.length, s.index) as number) }],
        }),
      ),
    ),
  );
  return mergePoolStatuses(answers, target);
}

/** Undrain an agent and reset its failure counter; grants to it resume. */
export async function acknowledgeAgent(
  client: Client,
  args: { agent: string; by?: string },
  target: PoolTarget = {},
): Promise<AgentStatus> {
  return runUpdate(client, agentShard(target, args), (handle) =>
    handle.executeUpdate(acknowledgeAgentUpdate, { args: [args] }),
  );
}

/** Change how many tasks may hold the agent at once (0 stops new grants; holders keep their slots). */
export async function setAgentLimit(
  client: Client,
  args: { agent: string; limit: number },
  target: PoolTarget = {},
): Promise<AgentStatus> {
  return runUpdate(client, agentShard(target, args), (handle) =>
    handle.executeUpdate(setAgentLimitUpdate, { args: [args] }),
  );
}

/** Stop grants to the agent until `resumeAgent`, or until `until` (ISO time) when given. */
export async function pauseAgent(
  client: Client,
  args: { agent: string; until?: string; reason?: string },
  target: PoolTarget = {},
): Promise<AgentStatus> {
  return runUpdate(client, agentShard(target, args), (handle) =>
    handle.executeUpdate(pauseAgentUpdate, { args: [args] }),
  );
}

/** End an operator pause, and any rate-limit or quota pause, of the agent. */
export async function resumeAgent(
  client: Client,
  args: { agent: string },
  target: PoolTarget = {},
): Promise<AgentStatus> {
  return runUpdate(client, agentShard(target, args), (handle) =>
    handle.executeUpdate(resumeAgentUpdate, { args: [args] }),
  );
}

/** The workflow id of the shard that owns `args.agent` (an unknown agent: shard 0, whose validator names it). */
function agentShard(target: PoolTarget, args: { agent?: unknown }): string {
  const shards = targetShards(target);
  if (shards.length === 1) return shards[0]?.workflowId ?? DEFAULT_POOL_WORKFLOW_ID;
  const layout: PoolLayout = {
    poolWorkflowId: target.workflowId ?? DEFAULT_POOL_WORKFLOW_ID,
    agents: target.agents ?? [],
    shards: shards.length,
  };
  return shardOfAgent(layout, typeof args?.agent === 'string' ? args.agent : '').workflowId;
}

function inAgentOrder(statuses: AgentStatus[], target: PoolTarget): AgentStatus[] {
  const order = target.agents ?? [];
  const rank = (agent: AgentType) => (order.includes(agent) ? order.indexOf(agent) : order.length);
  return [...statuses].sort((a, b) => rank(a.agent) - rank(b.agent));
}

/** One status for the shards together: caps, slots held and requests waiting add up; agents in order. */
function mergePoolStatuses(answers: PoolStatus[], target: PoolTarget): PoolStatus {
  if (answers.length === 1 && answers[0]) return answers[0];
  const capped = answers.every((a) => a.maxConcurrent !== undefined);
  return {
    ...(capped ? { maxConcurrent: answers.reduce((n, a) => n + (a.maxConcurrent ?? 0), 0) } : {}),
    running: answers.reduce((n, a) => n + a.running, 0),
    waiting: answers.reduce((n, a) => n + a.waiting, 0),
    agents: inAgentOrder(
      answers.flatMap((a) => a.agents),
      target,
    ),
  };
}

async function runUpdate<T>(
  client: Client,
  workflowId: string | undefined,
  call: (handle: WorkflowHandle) => Promise<T>,
): Promise<T> {
  try {
    return await call(client.workflow.getHandle(workflowId ?? DEFAULT_POOL_WORKFLOW_ID));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new AgentPoolRejectedError(err.cause?.message ?? err.message, { cause: err });
    }
    throw err;
  }
}
