-- Up Migration
-- `task list` reads tasks oldest first (created_at, id) up to its limit. Without an index in that order it
-- sorts the whole table (about 60 ms at 10,000 tasks, growing with the table); with it, it reads just the
-- first rows, also when the filter is a common state such as COMPLETED (bench/list-queries.ts).
create index tasks_created_idx on tasks (created_at, id);
