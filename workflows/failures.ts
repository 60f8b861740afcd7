/**
 * Failure types shared by activities (which throw them) and workflows (which branch on them).
 *
 * Each is the `type` of an `ApplicationFailure`; retry policies name the non-retryable ones by
 * constant. The SDK would otherwise infer a type from `constructor.name`, which minification or a
 * rename silently changes.
 */
export const FailureType = {
  /** The task's own budget ran out. */
  BudgetExceeded: 'BudgetExceeded',
  /** The agent ran and failed (a crash, an API error, garbage output). */
  AgentFailed: 'AgentFailed',
  /** The agent's configuration cannot work (unknown agent, missing binary, bad command line): retrying will not help. */
  AgentConfig: 'AgentConfig',
  /** A dependency ended in a failure state; the dependent fails with its id and state. */
  DependencyFailed: 'DependencyFailed',
  /** Input that does not match its schema (a task spec, a signal payload). */
  InvalidInput: 'InvalidInput',
  /** An illegal state transition (the store refuses it). */
  IllegalTransition: 'IllegalTransition',
  /** A row the caller named does not exist. */
  NotFound: 'NotFound',
  /** A write that conflicts with what is stored (e.g. a different task under an existing id). */
  Conflict: 'Conflict',
  /** A git merge stopped on conflicts; details carry the files. */
  MergeConflict: 'MergeConflict',
  /** A deploy or validation command exited non-zero. */
  CommandFailed: 'CommandFailed',
  /** A deploy or validation command cannot start (no such executable, not executable): fix the project's command. */
  CommandConfig: 'CommandConfig',
  /** A notification receiver refused the notice (HTTP 4xx other than 429): sending it again would not help. */
  NotificationRejected: 'NotificationRejected',
  /** A question's deadline passed unanswered and its policy fails or cancels the task. */
  QuestionExpired: 'QuestionExpired',
} as const;
export type FailureType = (typeof FailureType)[keyof typeof FailureType];
