import os from 'node:os';
import { activityInfo } from '@temporalio/activity';
import type { Store } from '../store/index.js';
import type { HealthReport } from '../workflows/types.js';

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createHealthActivities(deps: { store: Store }) {
  return {
    /** Answer with this worker's identity and whether its database responds. */
    async checkHealth(echo: string): Promise<HealthReport> {
      let database = 'ok';
      try {
        await deps.store.pool.query('select 1');
      } catch (err) {
        database = err instanceof Error ? err.message : String(err);
      }
      return { echo, host: os.hostname(), pid: process.pid, taskQueue: activityInfo().taskQueue, database };
    },
  };
}
