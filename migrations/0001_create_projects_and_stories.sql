-- Up Migration
-- Projects are git repositories claudomator works on; stories group tasks of one project on one branch.
create table projects (
  id              text primary key,
  remote_url      text not null,
  default_branch  text not null default 'main',
  deploy_command  text,
  validation      jsonb,
  created_at      timestamptz not null default now(),
  updated_at      timestamptz not null default now()
);

create table stories (
  id                text primary key,
  project_id        text not null references projects (id),
  name              text not null,
  branch            text not null,
  status            text not null default 'PENDING' check (
    status in ('PENDING', 'IN_PROGRESS', 'SHIPPABLE', 'DEPLOYING', 'VALIDATING', 'REVIEW_READY', 'NEEDS_FIX', 'FAILED')
  ),
  max_fix_attempts  integer not null default 2 check (max_fix_attempts >= 0),
  detail            text,
  created_at        timestamptz not null default now(),
  updated_at        timestamptz not null default now()
);

create index stories_project_idx on stories (project_id);
create index stories_status_idx on stories (status);
