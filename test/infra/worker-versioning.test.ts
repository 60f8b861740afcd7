import proto from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { loadConfig, type Config } from '../../infra/config.js';
import { createWorkers } from '../../worker/factory.js';
import { healthCheckWorkflow } from '../../workflows/health.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

const { VersioningBehavior } = proto.temporal.api.enums.v1;

describe('Worker Versioning (CLAUDOMATOR_BUILD_ID set)', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;

  beforeAll(async () => {
    env = await devServerEnv();
  });
  afterAll(async () => {
    await env?.teardown();
  });

  it('a worker joins its deployment version, and the workflows it runs are pinned to it', async () => {
    const queue = uniqueName();
    const deploymentName = `claudomator-${queue}`;
    const config: Readonly<Config> = Object.freeze({
      // Clear payloads for env.client, whatever key a local `claudomator up` left in ~/.claudomator.
      ...loadConfig({ CLAUDOMATOR_ENCRYPTION: 'off' }),
      taskQueue: queue,
      agentTaskQueue: `${queue}-agents`,
      hostId: 'versioned-host',
      deploymentName,
      buildId: 'build-1',
    });
    const [orchestration] = await createWorkers({
      role: 'orchestration',
      config,
      connection: env.nativeConnection,
      store: db.current.store,
      workflowBundle: { codePath: inject('workflowBundlePath') },
    });

    const report = await orchestration!.worker.runUntil(async () => {
      // The version exists once the worker has polled; until then the server rejects making it current.
      for (let attempt = 0; ; attempt++) {
        try {
          await env.client.workflowService.setWorkerDeploymentCurrentVersion({
            namespace: env.namespace ?? 'default',
            deploymentName,
            buildId: 'build-1',
          });
          break;
        } catch (err) {
          if (attempt > 50) throw err;
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      }
      const handle = await env.client.workflow.start(healthCheckWorkflow, {
        taskQueue: queue,
        workflowId: `${queue}-health`,
        args: ['versioned'],
      });
      await handle.result();
      return (await handle.describe()).raw.workflowExecutionInfo?.versioningInfo;
    });

    expect(report?.behavior).toBe(VersioningBehavior.VERSIONING_BEHAVIOR_PINNED);
    expect(report?.deploymentVersion).toMatchObject({ deploymentName, buildId: 'build-1' });
  });
});
