-- Up Migration
-- Notifications (activities/notify.ts): one row per event and receiver, so an event is sent to a receiver at most once
-- however often its activity is retried or the event recurs; and each project's own receivers (projects.notify).
create table notifications (
  key         text not null,
  target      text not null check (target in ('webhook', 'slack')),
  kind        text not null,
  status      text not null check (status in ('sending', 'sent', 'failed', 'rejected')),
  attempts    integer not null default 0,
  last_error  text,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now(),
  sent_at     timestamptz,
  primary key (key, target)
);

alter table projects add column notify jsonb;
