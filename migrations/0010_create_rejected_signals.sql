-- Up Migration
-- Signals a workflow refused (an `answer` to a task that is not blocked, an empty answer, an
-- `acknowledgeAgent` for an agent the pool does not run, a malformed input). A signal returns nothing
-- to its sender, so the refusal is kept here and shown in the workflow's current details.
-- `task_id` is set for a task workflow's signals; the agent pool's have none.
create table rejected_signals (
  id           text primary key,
  workflow_id  text not null,
  task_id      text references tasks (id) on delete cascade,
  signal       text not null,
  input        jsonb,
  reason       text not null,
  at           timestamptz not null
);

create index rejected_signals_workflow_idx on rejected_signals (workflow_id, at, id);
create index rejected_signals_task_idx on rejected_signals (task_id, at, id) where task_id is not null;
