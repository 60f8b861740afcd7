-- Up Migration
-- What a task is for: ordinary work, a story's validation run, or a fix after a failed validation.
-- Validation tasks check the merged default branch and publish nothing.
alter table tasks add column kind text not null default 'task' check (kind in ('task', 'validation', 'fix'));
