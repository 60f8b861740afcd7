-- Up Migration
-- One row per agent run of a task. Ids are derived from the task workflow's identity, so a retried
-- activity finds its own row instead of adding another.
create table executions (
  id             text primary key,
  task_id        text not null references tasks (id) on delete cascade,
  status         text not null check (
    status in ('RUNNING', 'SUCCEEDED', 'QUESTION', 'RATE_LIMITED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'BUDGET_EXCEEDED')
  ),
  agent          text,
  model          text,
  start_time     timestamptz not null default now(),
  end_time       timestamptz,
  stdout_path    text,
  stderr_path    text,
  artifact_dir   text,
  sandbox_dir    text,
  session_id     text,
  resume_answer  text,
  error          text,
  files_changed  integer,
  insertions     integer,
  deletions      integer,
  cost_usd       double precision,
  summary        text
);

create index executions_task_idx on executions (task_id, start_time, id);
