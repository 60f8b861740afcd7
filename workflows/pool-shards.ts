/**
 * How the agent pool is split into shards (CLAUDOMATOR_POOL_SHARDS): pure functions, safe in workflow
 * code and outside it, so the requesters (pool-client.ts), the operator commands (infra/agent-pool.ts)
 * and the `ensureAgentPool` activity agree on which pool workflow owns what.
 *
 * - Shards split by agent type: the configured agents, in order, go round-robin to the shards (agent i
 *   to shard i mod N). Every slot of one agent lives in one shard, so per-agent limits, drains and
 *   pauses stay exact. There can be no more shards than agents.
 * - Shard 0 is the pool workflow id itself (`agent-pool`); shard k > 0 is `<id>-<k>`. With one shard
 *   (the default) there is only `agent-pool`, with every agent: the layout of an unsharded pool.
 * - A request for `any` agent goes to one shard picked by a hash of its request id, among the shards
 *   holding an agent `any` can get (not `command`); that shard gives it the least busy of its own agents.
 * - The global cap (CLAUDOMATOR_MAX_CONCURRENT, `agents cap`) is split across the shards: shard k gets
 *   floor(cap / N), plus one for the first cap mod N shards. The shards together never hold more than
 *   the cap, but one shard cannot lend its unused share to another.
 */
import type { AgentChoice, AgentType } from './types.js';

export interface PoolLayout {
  /** The pool's workflow id (CLAUDOMATOR_POOL_WORKFLOW_ID): shard 0's id and the prefix of the others. */
  poolWorkflowId: string;
  /** The configured agents, in configuration order. */
  agents: readonly AgentType[];
  /** How many pool workflows (CLAUDOMATOR_POOL_SHARDS), 1 to `agents.length`. */
  shards: number;
}

export interface PoolShard {
  index: number;
  workflowId: string;
  agents: AgentType[];
}

export function shardWorkflowId(layout: Pick<PoolLayout, 'poolWorkflowId'>, index: number): string {
  return index === 0 ? layout.poolWorkflowId : `${layout.poolWorkflowId}-${index}`;
}

/** Every shard with its agents, shard 0 first. */
export function poolShards(layout: PoolLayout): PoolShard[] {
  const count = Math.max(1, Math.min(layout.shards, layout.agents.length));
  return Array.from({ length: count }, (_, index) => ({
    index,
    workflowId: shardWorkflowId(layout, index),
    agents: layout.agents.filter((_, i) => i % count === index),
  }));
}

/**
 * The shard that owns `agent`; an agent the configuration does not list goes to shard 0, whose pool
 * denies or rejects it with its usual message.
 */
export function shardOfAgent(layout: PoolLayout, agent: string): PoolShard {
  const shards = poolShards(layout);
  return shards.find((s) => s.agents.includes(agent as AgentType)) ?? (shards[0] as PoolShard);
}

/** The shard a request goes to: its agent's, or for `any` one picked by a hash of the request id. */
export function shardOfRequest(layout: PoolLayout, choice: AgentChoice, requestId: string): PoolShard {
  if (choice !== 'any') return shardOfAgent(layout, choice);
  const shards = poolShards(layout);
  const candidates = shards.filter((s) => s.agents.some((a) => a !== 'command'));
  const from = candidates.length > 0 ? candidates : shards;
  return from[hash(requestId) % from.length] as PoolShard;
}

/** Shard `index`'s share of the global cap `cap` (undefined: no cap). */
export function capShare(cap: number | undefined, shards: number, index: number): number | undefined {
  if (cap === undefined) return undefined;
  return Math.floor(cap / shards) + (index < cap % shards ? 1 : 0);
}

/** FNV-1a, 32 bits: stable across runs and processes. */
function hash(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
