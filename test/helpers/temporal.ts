/**
 * Temporal fixtures for integration tests: a client on the run's dev server, a per-test task queue,
 * workers on the prebuilt bundle, and the Java time-skipping server for timer-heavy tests.
 */
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker, type WorkerOptions } from '@temporalio/worker';
import { expect, inject } from 'vitest';

/** An environment on the dev server that global setup started (shared by every test file). */
export async function devServerEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createFromExistingServer({
    address: inject('temporalAddress'),
    namespace: inject('temporalNamespace'),
  });
}

/** The Java time-skipping server: timers fire as soon as everything waits on them. One per file. */
export async function timeSkippingEnv(): Promise<TestWorkflowEnvironment> {
  return TestWorkflowEnvironment.createTimeSkipping({
    server: { executable: { type: 'existing-path', path: inject('temporalTestServerPath') } },
  });
}

/** A task queue (and workflow-id prefix) unique to the current test, readable in the Web UI. */
export function uniqueName(label = expect.getState().currentTestName ?? 'test'): string {
  const slug = label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-|-$/g, '')
    .slice(0, 60);
  return `${slug}-${Math.random().toString(36).slice(2, 8)}`;
}

/** A worker for `taskQueue` running the run's prebuilt workflow bundle. */
export async function createTestWorker(
  env: TestWorkflowEnvironment,
  options: Omit<WorkerOptions, 'connection' | 'namespace' | 'workflowBundle' | 'workflowsPath'> & { taskQueue: string },
): Promise<Worker> {
  return Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    workflowBundle: { codePath: inject('workflowBundlePath') },
    ...options,
  });
}
