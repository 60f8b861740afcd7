-- Up Migration
-- The question/answer history of a task, in order.
create table task_interactions (
  id            text primary key,
  task_id       text not null references tasks (id) on delete cascade,
  kind          text not null check (kind in ('question', 'answer')),
  text          text not null,
  options       jsonb,
  execution_id  text references executions (id),
  at            timestamptz not null default now()
);

create index task_interactions_task_idx on task_interactions (task_id, at, id);
