-- Up Migration
-- What happened to each agent type: rate limits, drains, acknowledgements, manual pauses.
create table agent_events (
  id      text primary key,
  agent   text not null,
  event   text not null check (event in ('rate_limited', 'available', 'drained', 'acknowledged', 'paused', 'resumed')),
  at      timestamptz not null default now(),
  until   timestamptz,
  reason  text
);

create index agent_events_agent_idx on agent_events (agent, at desc);
