/**
 * healthCheckWorkflow: one activity round trip through a worker, which checks its database.
 * `claudomator doctor` and the smoke test use it to prove that server, worker and Postgres talk.
 */
import { proxyActivities } from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { HealthReport } from './types.js';

const { checkHealth } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { maximumAttempts: 3 },
  summary: 'check worker and database',
});

export async function healthCheckWorkflow(echo: string): Promise<HealthReport> {
  return checkHealth(echo);
}
