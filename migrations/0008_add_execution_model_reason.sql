-- Up Migration
-- Why a run got its model: the classifier's reason, "the task sets it", or why the classifier gave none.
alter table executions add column model_reason text;
