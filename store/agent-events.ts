/** The `agent_events` table: what the agent pool decided about an agent (rate limited, drained, resumed …). */
import type { AgentEvent } from '../workflows/types.js';
import type { Db } from './db.js';
import { toAgentEvent, type AgentEventRow } from './rows.js';

/** Record an agent event; the same event id twice is stored once. */
export async function recordAgentEvent(db: Db, event: AgentEvent): Promise<void> {
  await db.query(
    `insert into agent_events (id, agent, event, at, until, reason)
     values ($1::text, $2::text, $3::text, $4::timestamptz, $5::timestamptz, $6::text)
     on conflict (id) do nothing`,
    [event.id, event.agent, event.event, event.at, event.until ?? null, event.reason ?? null],
  );
}

/** Newest first. */
export async function listAgentEvents(db: Db, filter: { agent?: string; limit?: number } = {}): Promise<AgentEvent[]> {
  const { rows } = await db.query<AgentEventRow>(
    `select * from agent_events where ($1::text is null or agent = $1::text)
     order by at desc, id desc limit $2::int`,
    [filter.agent ?? null, filter.limit ?? 100],
  );
  return rows.map(toAgentEvent);
}
