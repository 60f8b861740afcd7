/**
 * `claudomator agents` when no orchestration worker polls: a query needs a worker to run it, and an
 * orchestration role scaled to zero (KEDA, a serverless worker) has none until its next backlog. So
 * the view asks the pool workflow first, with a deadline, and otherwise answers from the record the
 * pool keeps in Postgres — its agent events (rate limits, pauses, drains, acknowledgements) — plus the
 * executions and tasks there: who runs, who waits. The answer says which it is.
 */
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../infra/config.js';
import type { Store } from '../store/index.js';
import { taskWorkflowId } from '../workflows/definitions.js';
import type { AgentEvent, AgentStatus, AgentType } from '../workflows/types.js';
import { getAgentStatuses, poolTarget } from '../infra/agent-pool.js';

export interface AgentOverview {
  /** `pool`: the pool workflow answered (live); `record`: no worker did, so Postgres answered. */
  source: 'pool' | 'record';
  statuses: AgentStatus[];
  /** Why the record answered, and what it cannot know. */
  note?: string;
}

/** How long the pool gets to answer before the record does. */
export const POOL_QUERY_TIMEOUT_MS = 5_000;

export async function agentOverview(
  temporal: Client,
  store: Store,
  config: Pick<Config, 'agents' | 'agentSlots' | 'poolWorkflowId' | 'poolShards'>,
  options: { queryTimeoutMs?: number; now?: number } = {},
): Promise<AgentOverview> {
  const timeoutMs = options.queryTimeoutMs ?? POOL_QUERY_TIMEOUT_MS;
  let why: string;
  try {
    const statuses = await temporal.withDeadline(Date.now() + timeoutMs, () =>
      getAgentStatuses(temporal, poolTarget(config)),
    );
    return { source: 'pool', statuses };
  } catch (err) {
    why =
      err instanceof WorkflowNotFoundError
        ? `the agent pool (${config.poolWorkflowId}) is not running`
        : `no orchestration worker answered within ${timeoutMs} ms (${err instanceof Error ? err.message.split('\n')[0] : String(err)})`;
  }
  return {
    source: 'record',
    statuses: await agentStatusesFromRecord(store, config, options.now ?? Date.now()),
    note:
      `From Postgres: ${why}. Limits are the configured ones (a change made with \`agents limit\` lives in the pool), ` +
      'and a worker is needed to change anything.',
  };
}

/** Each configured agent's status as the record in Postgres shows it. */
export async function agentStatusesFromRecord(
  store: Store,
  config: Pick<Config, 'agents' | 'agentSlots'>,
  now: number,
): Promise<AgentStatus[]> {
  const [events, running, waiting, recent] = await Promise.all([
    store.listAgentEvents({ limit: 1000 }),
    store.pool.query<{ agent: string; task_id: string }>(
      `select agent, task_id from executions where status = 'RUNNING' and agent is not null order by start_time`,
    ),
    store.pool.query<{ agent: string; waiting: string }>(
      `select agent->>'type' as agent, count(*) as waiting from tasks where state = 'QUEUED' group by 1`,
    ),
    store.pool.query<{ agent: string; status: string; start_time: Date }>(
      `select agent, status, start_time from executions
       where agent is not null and status <> 'RUNNING' order by start_time desc limit 1000`,
    ),
  ]);
  return config.agents.map((agent: AgentType): AgentStatus => {
    const mine = events.filter((e) => e.agent === agent);
    const latest = (...kinds: AgentEvent['event'][]) => mine.find((e) => kinds.includes(e.event));
    const limit = latest('rate_limited', 'available');
    const pause = latest('paused', 'resumed');
    const drain = latest('drained', 'acknowledged');
    const rateLimited = limit?.event === 'rate_limited' && (limit.until === undefined || Date.parse(limit.until) > now);
    const paused = pause?.event === 'paused' && (pause.until === undefined || Date.parse(pause.until) > now);
    const drained = drain?.event === 'drained';
    const acknowledgedAt = drain?.event === 'acknowledged' ? Date.parse(drain.at) : 0;
    let consecutiveFailures = 0;
    for (const run of recent.rows.filter((r) => r.agent === agent && r.start_time.getTime() > acknowledgedAt)) {
      if (run.status !== 'FAILED' && run.status !== 'TIMED_OUT') break;
      consecutiveFailures++;
    }
    const holders = running.rows.filter((r) => r.agent === agent).map((r) => taskWorkflowId(r.task_id));
    return {
      agent,
      limit: config.agentSlots[agent],
      activeTasks: holders.length,
      waiting: Number(waiting.rows.find((r) => r.agent === agent)?.waiting ?? 0),
      holders,
      rateLimited,
      ...(rateLimited && limit?.until ? { rateLimitedUntil: limit.until } : {}),
      ...(rateLimited && (limit?.reason === 'quota' || limit?.reason === 'transient')
        ? { rateLimitReason: limit.reason }
        : {}),
      paused,
      ...(paused && pause?.until ? { pausedUntil: pause.until } : {}),
      drained,
      ...(drained && drain?.reason ? { drainReason: drain.reason } : {}),
      consecutiveFailures,
    };
  });
}
