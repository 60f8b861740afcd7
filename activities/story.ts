/**
 * What a story workflow asks about the tasks it waits on, for its details: why a task waits QUEUED.
 * Reads the task from Postgres and the agents from the pool (by query, with the worker's own client).
 */
import { Context } from '@temporalio/activity';
import { getAgentStatuses, poolTarget } from '../infra/agent-pool.js';
import type { Config } from '../infra/config.js';
import type { Store } from '../store/index.js';
import type { AgentStatus } from '../workflows/types.js';
import { withStoreFailures } from './store-failures.js';

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createStoryActivities({
  store,
  config,
}: {
  store: Store;
  config?: Pick<Config, 'poolWorkflowId' | 'agents' | 'poolShards'>;
}) {
  return withStoreFailures({
    /**
     * Why `taskId` waits QUEUED when no agent it may run on can take it (drained, paused, rate limited),
     * with the command that frees it; undefined when it is not QUEUED or an agent is merely busy.
     */
    async explainTaskWait(input: { taskId: string; poolWorkflowId: string }): Promise<string | undefined> {
      const task = await store.getTask(input.taskId);
      if (task.state !== 'QUEUED') return undefined;
      // The configured pool's every shard; another pool id (a test's) is one workflow.
      const target =
        config && input.poolWorkflowId === config.poolWorkflowId
          ? poolTarget(config)
          : { workflowId: input.poolWorkflowId };
      const statuses = await getAgentStatuses(Context.current().client, target);
      const wanted = task.agent.type;
      const candidates = statuses.filter((s) => (wanted === 'any' ? s.agent !== 'command' : s.agent === wanted));
      const blocked = candidates.map(whyBlocked);
      if (candidates.length === 0 || blocked.some((why) => why === undefined)) return undefined;
      return `${task.id} waits QUEUED: ${blocked.join('; ')}`;
    },
  });
}

/** Why an agent takes no task now, and what frees it; undefined when it can (it may only be busy). */
function whyBlocked(status: AgentStatus): string | undefined {
  const { agent } = status;
  if (status.drained) {
    return `${agent} is drained after repeated failures (${status.drainReason ?? 'no reason given'}); \`claudomator agents ack ${agent}\` lets it take tasks again`;
  }
  if (status.paused) {
    return `${agent} is paused${status.pausedUntil ? ` until ${status.pausedUntil}` : ''}; \`claudomator agents resume ${agent}\` resumes it`;
  }
  if (status.rateLimited) {
    return `${agent} is ${status.rateLimitReason === 'quota' ? 'out of quota' : 'rate limited'} until ${status.rateLimitedUntil ?? 'later'}`;
  }
  return undefined;
}
