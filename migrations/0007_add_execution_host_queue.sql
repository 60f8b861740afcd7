-- Up Migration
-- The task queue of the agent host that ran the execution (`<agent queue>@<host>`): its sandbox and
-- the agent's session files live there, so a resume of its session (`task retry --message`) goes there.
alter table executions add column host_queue text;
