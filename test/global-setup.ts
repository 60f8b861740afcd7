/**
 * Once per integration run: start one Temporal dev server (claudomator's search attributes
 * registered), migrate a fresh Postgres template database, bundle the workflows, and hand all three
 * to every test file. Everything is torn down (and the databases dropped) at the end.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestProject } from 'vitest/node';
import { findBinary, MissingBinaryError } from '../infra/binaries.js';
import { startDevServer, type DevServer } from '../infra/dev-server.js';
import { buildWorkflowBundle } from '../worker/bundle.js';
import { createTemplateDatabase, dropTestDatabases, testServerUrl } from './helpers/db.js';

declare module 'vitest' {
  export interface ProvidedContext {
    temporalAddress: string;
    temporalNamespace: string;
    workflowBundlePath: string;
    templateDatabase: string;
    testDatabasePrefix: string;
    postgresServerUrl: string;
    temporalCliPath: string;
    temporalTestServerPath: string;
  }
}

let server: DevServer | undefined;
let tmpDir: string | undefined;
let prefix: string | undefined;

export async function setup(project: TestProject): Promise<void> {
  const cli = findBinary('temporal', process.env.TEMPORAL_CLI_PATH);
  if (!cli) throw new MissingBinaryError('temporal', 'TEMPORAL_CLI_PATH');
  const testServer = findBinary('temporal-test-server', process.env.TEMPORAL_TEST_SERVER_PATH);
  if (!testServer) throw new MissingBinaryError('temporal-test-server', 'TEMPORAL_TEST_SERVER_PATH');

  tmpDir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-test-'));
  prefix = `claudomator_test_${process.pid}_${Date.now().toString(36)}`;
  const [devServer, bundlePath, template] = await Promise.all([
    startDevServer({ binary: cli, dbFilename: path.join(tmpDir, 'temporal.db') }),
    buildWorkflowBundle(path.join(tmpDir, 'workflow-bundle.js')),
    createTemplateDatabase(prefix),
  ]);
  server = devServer;

  project.provide('temporalAddress', devServer.address);
  project.provide('temporalNamespace', devServer.namespace);
  project.provide('workflowBundlePath', bundlePath);
  project.provide('templateDatabase', template);
  project.provide('testDatabasePrefix', prefix);
  project.provide('postgresServerUrl', testServerUrl());
  project.provide('temporalCliPath', cli);
  project.provide('temporalTestServerPath', testServer);
}

export async function teardown(): Promise<void> {
  await server?.stop();
  if (prefix) await dropTestDatabases(prefix);
  if (tmpDir) await rm(tmpDir, { recursive: true, force: true });
}
