/**
 * The claudomator SDK: a typed façade over Temporal (to start and steer workflows) and Postgres (to
 * list and show what they did). The CLI is built on it and on nothing else.
 */
import type { Client } from '@temporalio/client';
import type { Config } from '../infra/config.js';
import { resolveDatabaseUrl, openStore } from '../infra/postgres.js';
import { connectClient } from '../infra/temporal.js';
import type { Store } from '../store/index.js';
import type { healthCheckWorkflow } from '../workflows/health.js';
import type { HealthReport } from '../workflows/types.js';

export class ClaudomatorClient {
  constructor(
    readonly temporal: Client,
    readonly store: Store,
    readonly config: Readonly<Config>,
  ) {}

  /** Connect to Temporal and to the (created and migrated) database the configuration names. */
  static async connect(config: Readonly<Config>): Promise<ClaudomatorClient> {
    const store = await openStore(resolveDatabaseUrl(config));
    try {
      return new ClaudomatorClient(await connectClient(config), store, config);
    } catch (err) {
      await store.close();
      throw err;
    }
  }

  /** Prove that a worker polls the orchestration queue and reaches its database. */
  async health(timeoutMs = 10_000): Promise<HealthReport> {
    return this.temporal.workflow.execute<typeof healthCheckWorkflow>('healthCheckWorkflow', {
      taskQueue: this.config.taskQueue,
      workflowId: `health-${Date.now().toString(36)}`,
      args: ['ping'],
      workflowExecutionTimeout: timeoutMs,
    });
  }

  async close(): Promise<void> {
    await Promise.all([this.temporal.connection.close(), this.store.close()]);
  }
}
