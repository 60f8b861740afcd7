/**
 * A claudomator stack for one test: the production worker factory (role `all`: orchestration and
 * agent-host workers on queues of the test's own), fake agent CLIs, a per-test agent pool, a data dir,
 * and the SDK client on top — everything real but the model behind the agents.
 */
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { inject } from 'vitest';
import { ClaudomatorClient } from '../../client/index.js';
import type { Config } from '../../infra/config.js';
import type { Store } from '../../store/index.js';
import { createWorkers, type CreatedWorker } from '../../worker/factory.js';
import { fakeAgentConfig, tempDir } from './fake-agent.js';
import { uniqueName } from './temporal.js';

export interface TestStack {
  name: string;
  client: ClaudomatorClient;
  config: Readonly<Config>;
  dataDir: string;
  /** Where the fake agents record their calls. */
  stateDir: string;
  workers: CreatedWorker[];
  /** Stop the workers (gracefully), remove the data dir. */
  stop(): Promise<void>;
}

export async function startTestStack(
  env: TestWorkflowEnvironment,
  store: Store,
  options: { scenario?: string; env?: Record<string, string>; label?: string } = {},
): Promise<TestStack> {
  const name = uniqueName(options.label);
  const scratch = tempDir('stack');
  const stateDir = path.join(scratch.dir, 'fake-agent-state');
  const config = fakeAgentConfig({
    dataDir: path.join(scratch.dir, 'data'),
    stateDir,
    scenario: options.scenario ?? 'success',
    env: {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      CLAUDOMATOR_TASK_QUEUE: name,
      CLAUDOMATOR_AGENT_TASK_QUEUE: `${name}-agents`,
      CLAUDOMATOR_POOL_WORKFLOW_ID: `${name}-pool`,
      CLAUDOMATOR_AGENT_HEARTBEAT_TIMEOUT: '10s',
      CLAUDOMATOR_SHUTDOWN_GRACE: '2s',
      ...options.env,
    },
  });
  const workers = await createWorkers({
    role: 'all',
    config,
    connection: env.nativeConnection,
    store,
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  const runs = workers.map(({ worker }) => worker.run());
  const client = new ClaudomatorClient(env.client, store, config);
  return {
    name,
    client,
    config,
    dataDir: config.dataDir,
    stateDir,
    workers,
    async stop() {
      for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(runs);
      scratch.remove();
    },
  };
}
