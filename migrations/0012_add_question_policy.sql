-- Up Migration
-- Questions with deadlines (workflows/question-policy.ts): a project's question policy, a task's own (which
-- replaces it), the open question's timers as the task workflow last recorded them (deadline, next reminder,
-- escalation), and a third kind of interaction: the default answer given when nobody answered by the deadline.
alter table projects add column question_policy jsonb;
alter table tasks add column question_policy jsonb;
alter table tasks add column question_timers jsonb;

alter table task_interactions drop constraint task_interactions_kind_check;
alter table task_interactions add constraint task_interactions_kind_check
  check (kind in ('question', 'answer', 'default_answer'));
