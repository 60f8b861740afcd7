/**
 * The agent pool from outside its workflow: start it (idempotently), read every agent's status, and
 * steer it with the operator updates (acknowledge a drained agent, change a slot limit or the global
 * cap, pause, resume). Workers start it, activities read it (`ensureAgentPool`, the classifier, the
 * story's wait explanations), and the SDK and CLI (`claudomator agents …`) are built on it.
 *
 * Updates, not signals, because the caller wants the answer: the pool's validators reject an unknown
 * agent or a bad value, and the caller gets the agent's new status or an `AgentPoolRejectedError`
 * naming what was wrong.
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
import type { AgentPoolInput, AgentStatus, AgentType, PoolStatus } from '../workflows/types.js';

/** Which pool to talk to; the default is `agent-pool` (CLAUDOMATOR_POOL_WORKFLOW_ID). */
export interface PoolTarget {
  workflowId?: string;
}

/** The pool refused an operator update; `message` says which field was wrong and what it accepts. */
export class AgentPoolRejectedError extends Error {
  override readonly name = 'AgentPoolRejectedError';
}

/** The pool's input from the configuration: CLAUDOMATOR_AGENTS, CLAUDOMATOR_AGENT_SLOTS and CLAUDOMATOR_MAX_CONCURRENT. */
export function agentPoolInput(config: Pick<Config, 'agents' | 'agentSlots' | 'maxConcurrent'>): AgentPoolInput {
  const limits: Partial<Record<AgentType, number>> = {};
  for (const agent of config.agents) limits[agent] = config.agentSlots[agent];
  return {
    agents: [...config.agents],
    limits,
    ...(config.maxConcurrent !== undefined ? { maxConcurrent: config.maxConcurrent } : {}),
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

/** Every agent's status: slots, holders, waiting, pauses, drain. */
export async function getAgentStatuses(client: Client, target: PoolTarget = {}): Promise<AgentStatus[]> {
  return client.workflow.getHandle(target.workflowId ?? DEFAULT_POOL_WORKFLOW_ID).query(agentStatusesQuery);
}

/** The whole pool: the global cap, slots held and requests waiting across agents, and every agent's status. */
export async function getPoolStatus(client: Client, target: PoolTarget = {}): Promise<PoolStatus> {
  return client.workflow.getHandle(target.workflowId ?? DEFAULT_POOL_WORKFLOW_ID).query(poolStatusQuery);
}

/** Set (0 stops new grants) or, with null, remove the cap on slots held at once across all agents. */
export async function setMaxConcurrent(
  client: Client,
  args: { maxConcurrent: number | null },
  target: PoolTarget = {},
): Promise<PoolStatus> {
  return runUpdate(client, target, (handle) => handle.executeUpdate(setMaxConcurrentUpdate, { args: [args] }));
}

/** Undrain an agent and reset its failure counter; grants to it resume. */
export async function acknowledgeAgent(
  client: Client,
  args: { agent: string; by?: string },
  target: PoolTarget = {},
): Promise<AgentStatus> {
  return runUpdate(client, target, (handle) => handle.executeUpdate(acknowledgeAgentUpdate, { args: [args] }));
}

/** Change how many tasks may hold the agent at once (0 stops new grants; holders keep their slots). */
export async function setAgentLimit(
  client: Client,
  args: { agent: string; limit: number },
  target: PoolTarget = {},
): Promise<AgentStatus> {
  return runUpdate(client, target, (handle) => handle.executeUpdate(setAgentLimitUpdate, { args: [args] }));
}

/** Stop grants to the agent until `resumeAgent`, or until `until` (ISO time) when given. */
export async function pauseAgent(
  client: Client,
  args: { agent: string; until?: string; reason?: string },
  target: PoolTarget = {},
): Promise<AgentStatus> {
  return runUpdate(client, target, (handle) => handle.executeUpdate(pauseAgentUpdate, { args: [args] }));
}

/** End an operator pause, and any rate-limit or quota pause, of the agent. */
export async function resumeAgent(
  client: Client,
  args: { agent: string },
  target: PoolTarget = {},
): Promise<AgentStatus> {
  return runUpdate(client, target, (handle) => handle.executeUpdate(resumeAgentUpdate, { args: [args] }));
}

async function runUpdate<T>(
  client: Client,
  target: PoolTarget,
  call: (handle: WorkflowHandle) => Promise<T>,
): Promise<T> {
  try {
    return await call(client.workflow.getHandle(target.workflowId ?? DEFAULT_POOL_WORKFLOW_ID));
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new AgentPoolRejectedError(err.cause?.message ?? err.message, { cause: err });
    }
    throw err;
  }
}
