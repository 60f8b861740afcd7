-- Up Migration
-- Tasks and the dependency edges between them. Each task is mirrored from its taskWorkflow.
create table tasks (
  id               text primary key,
  name             text not null,
  instructions     text not null,
  agent            jsonb not null default '{"type":"claude"}',
  timeout_ms       bigint check (timeout_ms > 0),
  parent_task_id   text references tasks (id),
  story_id         text references stories (id),
  project_id       text references projects (id),
  repository_url   text,
  branch           text,
  state            text not null default 'PENDING' check (
    state in ('PENDING', 'QUEUED', 'RUNNING', 'BLOCKED', 'READY', 'COMPLETED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'BUDGET_EXCEEDED')
  ),
  question         jsonb,
  summary          text,
  error            text,
  idempotency_key  text unique,
  created_at       timestamptz not null default now(),
  updated_at       timestamptz not null default now()
);

create index tasks_state_idx on tasks (state, created_at);
create index tasks_parent_idx on tasks (parent_task_id) where parent_task_id is not null;
create index tasks_story_idx on tasks (story_id, created_at) where story_id is not null;
create index tasks_project_idx on tasks (project_id) where project_id is not null;

create table task_dependencies (
  task_id     text not null references tasks (id) on delete cascade,
  depends_on  text not null references tasks (id),
  primary key (task_id, depends_on),
  check (task_id <> depends_on)
);

-- ListDependents: who waits for this task.
create index task_dependencies_depends_on_idx on task_dependencies (depends_on);
