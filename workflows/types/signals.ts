/** A signal a workflow refused: a signal has no reply, so the refusal is recorded (Postgres) and shown (current details). */
export interface RejectedSignal {
  /** `<workflow id>/<run id>/rejected-<n>`: fixed by the workflow, so a retried write stores it once. */
  id: string;
  workflowId: string;
  /** The task, for a task workflow's signal; absent for the agent pool's. */
  taskId?: string;
  /** The signal's name, e.g. `answer` or `acknowledgeAgent`. */
  signal: string;
  /** The signal's input as it arrived (null when there was none). */
  input: unknown;
  /** Why it was refused: the same message the matching update's validator gives. */
  reason: string;
  at: string;
}
