/**
 * Notifications, workflow side: `notify(event)` tells people that a task is blocked on a question, a
 * story reached NEEDS_FIX or REVIEW_READY, or the pool drained an agent or paused it for its quota.
 *
 * `notify` starts `notificationWorkflow` as an abandoned child and returns once it has started: the
 * caller never waits for a receiver, however long it fails, and the notice outlives the caller's run
 * (a task that settles, a pool that continues as new). The child sends to each configured receiver
 * with an activity of its own, retried by Temporal; both are in history, so a worker restart resumes
 * them. The child's id is derived from the event (`notify-<key>`) and is never reused, so the same
 * event signalled twice starts one child; the activity's `notifications` row (checked before sending,
 * marked sent after) stops a retried activity or a later run from sending again.
 */
import { WorkflowExecutionAlreadyStartedError, WorkflowIdReusePolicy } from '@temporalio/common';
import {
  ActivityFailure,
  isCancellation,
  log,
  ParentClosePolicy,
  proxyActivities,
  startChild,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import { assertNever, toError } from './assert.js';
import { storyWorkflowId, taskWorkflowId } from './definitions.js';
import { FailureType } from './failures.js';
import {
  NOTIFICATION_TARGETS,
  type NotificationEvent,
  type NotificationInput,
  type NotificationOutcome,
} from './types.js';

export type {
  AgentNotification,
  NotificationChannel,
  NotificationEvent,
  StoryNotification,
  TaskQuestionNotification,
} from './types.js';

/**
 * One receiver's notice: retried with backoff for up to a day (a receiver that is down comes back);
 * a 4xx other than 429 is a refusal that retrying cannot change.
 */
const delivery = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '24 hours',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '10 minutes',
    nonRetryableErrorTypes: [FailureType.NotificationRejected],
  },
});

/** The workflow id of an event's notification workflow. */
export const notificationWorkflowId = (key: string): string => `notify-${key}`;

/**
 * Tell the configured receivers about `event`, without waiting for them: returns once the
 * notification workflow started (or was found started: the same event notifies once).
 */
export async function notify(event: NotificationEvent): Promise<void> {
  const input = notificationInput(event, workflowInfo());
  try {
    await startChild(notificationWorkflow, {
      workflowId: notificationWorkflowId(input.key),
      args: [input],
      parentClosePolicy: ParentClosePolicy.ABANDON,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      staticSummary: `notify: ${event.kind}`,
    });
  } catch (err) {
    if (err instanceof WorkflowExecutionAlreadyStartedError) return;
    if (isCancellation(err)) throw err;
    // A notice is never worth failing the caller for.
    log.warn('Notification not started', { key: input.key, error: toError(err).message });
  }
}

/** Send one event to every receiver, each on its own; a receiver that fails for good does not stop the others. */
export async function notificationWorkflow(input: NotificationInput): Promise<NotificationOutcome[]> {
  return Promise.all(
    NOTIFICATION_TARGETS.map((target) =>
      delivery.sendNotification
        .executeWithOptions({ summary: `${target}: ${input.event.kind}` }, [{ ...input, target }])
        .catch((err: unknown): NotificationOutcome => {
          if (isCancellation(err)) throw err;
          const error = toError(err instanceof ActivityFailure && err.cause ? err.cause : err).message;
          log.warn('Notification not delivered', { key: input.key, target, error });
          return { target, status: 'failed', error };
        }),
    ),
  );
}

/** The event's dedupe key and the workflow its Web UI link shows; `caller` is the workflow that calls `notify`. */
export function notificationInput(
  event: NotificationEvent,
  caller: { workflowId: string; runId: string },
): NotificationInput {
  switch (event.kind) {
    case 'task_question': {
      const reminder = event.reminder === undefined ? '' : `.reminder-${event.reminder}`;
      return {
        event,
        key: `task-${event.taskId}.question.${event.executionId}.${event.channel}${reminder}`,
        workflowId: taskWorkflowId(event.taskId),
      };
    }
    case 'story_needs_fix':
    case 'story_review_ready':
      return {
        event,
        // A story reaches each of these once per run; `story start` runs it again, with a new run id.
        key: `story-${event.storyId}.${event.kind}.${caller.runId}`,
        workflowId: storyWorkflowId(event.storyId),
      };
    case 'agent_drained':
    case 'agent_quota_paused':
      return { event, key: `agent-${event.agent}.${event.kind}.${event.eventId}`, workflowId: caller.workflowId };
    default:
      return assertNever(event);
  }
}
