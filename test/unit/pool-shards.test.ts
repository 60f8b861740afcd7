import { describe, expect, it } from 'vitest';
import { agentPoolInput, targetShards } from '../../infra/agent-pool.js';
import { loadConfig } from '../../infra/config.js';
import { capShare, poolShards, shardOfAgent, shardOfRequest } from '../../workflows/pool-shards.js';

describe('pool shards', () => {
  const layout = { poolWorkflowId: 'agent-pool', agents: ['claude', 'gemini', 'codex', 'command'] as const, shards: 2 };

  it('deals the agents round-robin, shard 0 keeping the pool id', () => {
    expect(poolShards(layout)).toEqual([
      { index: 0, workflowId: 'agent-pool', agents: ['claude', 'codex'] },
      { index: 1, workflowId: 'agent-pool-1', agents: ['gemini', 'command'] },
    ]);
    expect(shardOfAgent(layout, 'command').workflowId).toBe('agent-pool-1');
    expect(shardOfAgent(layout, 'nonsense').workflowId).toBe('agent-pool');
  });

  it('spreads "any" by request id, the same way every time, never to a shard with only command', () => {
    const onlyCommand = { poolWorkflowId: 'p', agents: ['claude', 'command'] as const, shards: 2 };
    const picks = new Set(Array.from({ length: 20 }, (_, i) => shardOfRequest(onlyCommand, 'any', `r${i}`).index));
    expect([...picks]).toEqual([0]);
    const spread = new Set(Array.from({ length: 20 }, (_, i) => shardOfRequest(layout, 'any', `r${i}`).index));
    expect([...spread].sort()).toEqual([0, 1]);
    expect(shardOfRequest(layout, 'any', 'r7')).toEqual(shardOfRequest(layout, 'any', 'r7'));
  });

  it('splits the cap so the shards never hold more than it', () => {
    expect([0, 1, 2].map((i) => capShare(8, 3, i))).toEqual([3, 3, 2]);
    expect([0, 1].map((i) => capShare(1, 2, i))).toEqual([1, 0]);
    expect(capShare(undefined, 2, 0)).toBeUndefined();
  });

  it('with one shard gives the unsharded input and target', () => {
    const config = loadConfig({ CLAUDOMATOR_AGENTS: 'claude,codex', CLAUDOMATOR_MAX_CONCURRENT: '5' });
    expect(config.poolShards).toBe(1);
    expect(agentPoolInput(config)).toEqual({
      agents: ['claude', 'codex'],
      limits: { claude: 1, codex: 1 },
      maxConcurrent: 5,
    });
    expect(agentPoolInput(config, 'agent-pool')).toEqual(agentPoolInput(config));
    expect(targetShards({ workflowId: 'agent-pool', agents: config.agents, shards: 1 })).toEqual([
      { index: 0, workflowId: 'agent-pool', agents: ['claude', 'codex'] },
    ]);
  });

  it('gives each shard its agents and share of the cap', () => {
    const config = loadConfig({
      CLAUDOMATOR_AGENTS: 'claude,codex',
      CLAUDOMATOR_POOL_SHARDS: '2',
      CLAUDOMATOR_AGENT_SLOTS: 'claude=3,codex=2',
      CLAUDOMATOR_MAX_CONCURRENT: '5',
    });
    expect(agentPoolInput(config, 'agent-pool-1')).toEqual({
      agents: ['codex'],
      limits: { codex: 2 },
      maxConcurrent: 2,
    });
    expect(agentPoolInput(config, 'agent-pool')).toEqual({
      agents: ['claude'],
      limits: { claude: 3 },
      maxConcurrent: 3,
    });
  });

  it('refuses more shards than agents, naming the variable and the range', () => {
    expect(() => loadConfig({ CLAUDOMATOR_AGENTS: 'claude,codex', CLAUDOMATOR_POOL_SHARDS: '3' })).toThrow(
      /CLAUDOMATOR_POOL_SHARDS[\s\S]*a whole number from 1 to 2/,
    );
  });
});
