/**
 * The activity option profiles the task and story workflows share, in one place: Postgres
 * bookkeeping (local activities), git work on the orchestration worker, the optional model
 * classifier, and the agent-host activities (an agent run, publishing its work), whose queue and
 * timeouts come from the deployment's settings.
 */
import { ActivityCancellationType, type ActivityOptions, type LocalActivityOptions } from '@temporalio/workflow';
import { FailureType } from './failures.js';
import type { TaskSettings } from './types.js';

/** Postgres writes: short, idempotent, on the orchestration worker; a refused write is final. */
export const BOOKKEEPING: LocalActivityOptions = {
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: [FailureType.IllegalTransition, FailureType.NotFound, FailureType.Conflict],
  },
};

/** Git work on the orchestration worker (a fresh clone each time); a conflict or a missing repository is final. */
export const GIT: ActivityOptions = {
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '5 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [FailureType.MergeConflict, FailureType.NotFound],
  },
};

/** The classifier is optional: one quick attempt, and a failure only means the agent's default model. */
export const CLASSIFIER: LocalActivityOptions = {
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
};

/** An agent run: on the shared agent queue, or (a resume) on the queue of the host that holds the sandbox. */
export function agentRunOptions(
  settings: TaskSettings,
  run: { timeoutMs: number; hostQueue: string | undefined; summary: string },
): ActivityOptions {
  return {
    taskQueue: run.hostQueue ?? settings.agentTaskQueue,
    // The runner enforces the task's timeout itself (and reports timed_out); this is only the backstop.
    startToCloseTimeout: run.timeoutMs + 5 * 60_000,
    heartbeatTimeout: settings.agentHeartbeatTimeoutMs,
    ...(run.hostQueue ? { scheduleToStartTimeout: settings.hostScheduleTimeoutMs } : {}),
    // Wait until the agent's process group is really gone before the workflow moves on.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    summary: run.summary,
    retry: {
      initialInterval: '5 seconds',
      maximumInterval: '1 minute',
      maximumAttempts: 3,
      nonRetryableErrorTypes: [FailureType.AgentConfig],
    },
  };
}

/** Committing and pushing a run's work, on the host that holds its sandbox. */
export function publishOptions(settings: TaskSettings, hostQueue: string | undefined, branch: string): ActivityOptions {
  return {
    taskQueue: hostQueue ?? settings.agentTaskQueue,
    startToCloseTimeout: '10 minutes',
    scheduleToStartTimeout: settings.hostScheduleTimeoutMs,
    retry: { initialInterval: '5 seconds', maximumAttempts: 3 },
    summary: `publish ${branch}`,
  };
}
