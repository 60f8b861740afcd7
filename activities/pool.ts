/**
 * The agent pool's side effects: record agent events in Postgres, ask Temporal which holders and
 * waiters closed (the leak check), and start the pool for a task workflow that found it missing.
 *
 * The Temporal client comes from the activity context (the worker's own connection), so these
 * activities need no client of their own.
 */
import { Context } from '@temporalio/activity';
import type { Client } from '@temporalio/client';
import { WorkflowNotFoundError } from '@temporalio/common';
import { agentPoolInput, ensureAgentPool } from '../infra/agent-pool.js';
import type { Config } from '../infra/config.js';
import type { Store } from '../store/index.js';
import type { AgentEvent, WorkflowRef } from '../workflows/types.js';
import { withStoreFailures } from './store-failures.js';

/** How many workflows the leak check describes at once. */
const DESCRIBE_CONCURRENCY = 16;

const CLOSED_STATUSES = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TERMINATED', 'TIMED_OUT']);

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createPoolActivities(deps: { store: Store; config: Readonly<Config> }) {
  return withStoreFailures({
    /** Idempotent: the pool derives the id from its run and a counter, so a retry or a resend writes nothing new. */
    async recordAgentEvent(event: AgentEvent): Promise<void> {
      await deps.store.recordAgentEvent(event);
    },

    /** The runs among `refs` that closed (or never existed): their slots are to be reclaimed. */
    async findClosedWorkflows(refs: WorkflowRef[]): Promise<WorkflowRef[]> {
      const client = Context.current().client;
      const closed: boolean[] = [];
      for (let i = 0; i < refs.length; i += DESCRIBE_CONCURRENCY) {
        const chunk = refs.slice(i, i + DESCRIBE_CONCURRENCY);
        closed.push(...(await Promise.all(chunk.map((ref) => isClosed(client, ref)))));
      }
      return refs.filter((_, i) => closed[i]);
    },

    /** Start the pool with the worker's configuration unless it runs (a task workflow found it missing). */
    async ensureAgentPool(poolWorkflowId: string): Promise<void> {
      await ensureAgentPool(Context.current().client, {
        workflowId: poolWorkflowId,
        taskQueue: deps.config.taskQueue,
        input: agentPoolInput(deps.config, poolWorkflowId),
        versioned: deps.config.buildId !== undefined,
      });
    },
  });
}

export type PoolActivities = ReturnType<typeof createPoolActivities>;

async function isClosed(client: Client, ref: WorkflowRef): Promise<boolean> {
  try {
    const run = await client.workflow.getHandle(ref.workflowId, ref.runId).describe();
    if (run.status.name === 'CONTINUED_AS_NEW') {
      // The requester continued as new while holding: its chain lives on if the latest run does.
      const latest = await client.workflow.getHandle(ref.workflowId).describe();
      return CLOSED_STATUSES.has(latest.status.name) || latest.status.name === 'CONTINUED_AS_NEW';
    }
    return CLOSED_STATUSES.has(run.status.name);
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return true;
    throw err;
  }
}
