import { statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { describe, expect, inject, it } from 'vitest';
import { ClaudomatorClient } from '../../client/index.js';
import { claudomatorDataConverter } from '../../infra/codec.js';
import { loadConfig } from '../../infra/config.js';
import { freePort } from '../../infra/dev-server.js';
import { portAnswers } from '../../infra/net.js';
import { startStack } from '../../worker/stack.js';
import { healthCheckWorkflow } from '../../workflows/health.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { uniqueName } from '../helpers/temporal.js';
import { cliEnv, startCli, waitForOutput } from './cli-process.js';

describe('claudomator up', () => {
  const db = useTestDatabase();

  it('starts a dev server with Web UI and search attributes, a worker, and stops it all on Ctrl-C', async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    const queue = uniqueName('up');
    const env = await cliEnv({
      databaseUrl: db.current.url,
      queue,
      extra: { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_NAMESPACE: 'default' },
    });
    const up = startCli(['up', '--ui-port', String(uiPort)], env);
    try {
      await waitForOutput(up, /Press Ctrl-C to stop/);

      expect((await fetch(`http://127.0.0.1:${uiPort}/`)).status).toBe(200);
      // Payloads are encrypted with a key made on first run (owner-only), and the UI decrypts them through
      // the codec server `up` started and told the dev server about.
      const keyFile = path.join(env.CLAUDOMATOR_DATA_DIR!, 'encryption-keys');
      expect(statSync(keyFile).mode & 0o777).toBe(0o600);
      const settings = (await (await fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`)).json()) as {
        Codec?: { Endpoint?: string };
      };
      const codecEndpoint = settings.Codec?.Endpoint ?? '';
      expect(codecEndpoint).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect((await fetch(codecEndpoint)).status).toBe(200);
      const connection = await Connection.connect({ address: `127.0.0.1:${port}` });
      try {
        const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace: 'default' });
        expect(Object.keys(customAttributes ?? {})).toContain('TaskState');
        const client = new Client({
          connection,
          namespace: 'default',
          dataConverter: claudomatorDataConverter(loadConfig(env)),
        });
        const report = await client.workflow.execute(healthCheckWorkflow, {
          taskQueue: queue,
          workflowId: `${queue}-health`,
          args: ['up'],
        });
        expect(report).toMatchObject({ pid: up.pid, database: 'ok' });
      } finally {
        await connection.close();
      }

      up.kill('SIGINT');
      const result = await up;
      expect(result.exitCode, result.all).toBe(0);
      expect(result.stdout).toContain(`Web UI    http://localhost:${uiPort}`);
      expect(result.stdout).toMatch(
        new RegExp(`payloads  encrypted \\(key local-[0-9a-f]{8}\\); the UI decrypts through ${codecEndpoint}`),
      );
      expect(result.stderr).toMatch(/stopped\s*$/);
      // The dev server it started is gone with it.
      expect(await portAnswers('127.0.0.1', port)).toBe(false);
    } finally {
      up.kill('SIGKILL');
    }
  });

  it('is usable from code: reuses a server that answers, and hands out the config clients need', async () => {
    const queue = uniqueName('stack');
    const dataDir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-stack-'));
    const config = loadConfig({
      CLAUDOMATOR_DATA_DIR: dataDir,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: inject('temporalNamespace'),
      DATABASE_URL: db.current.url,
      CLAUDOMATOR_TASK_QUEUE: queue,
      CLAUDOMATOR_AGENT_TASK_QUEUE: `${queue}-agents`,
      CLAUDOMATOR_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
      CLAUDOMATOR_SHUTDOWN_GRACE: '5s',
    });
    const stack = await startStack(config);
    try {
      expect(stack.temporal).toMatchObject({ origin: 'existing', address: inject('temporalAddress') });
      expect(stack.worker.workers.map((w) => w.taskQueue)).toEqual([
        queue,
        `${queue}-agents`,
        expect.stringMatching(/@/),
      ]);
      const client = await ClaudomatorClient.connect(stack.config);
      try {
        expect(await client.health()).toMatchObject({ taskQueue: queue, pid: process.pid, database: 'ok' });
      } finally {
        await client.close();
      }
    } finally {
      await stack.stop();
    }
    await stack.done;
    expect(stack.worker.workers.map((w) => w.worker.getState())).toEqual(['STOPPED', 'STOPPED', 'STOPPED']);
    await rm(dataDir, { recursive: true, force: true });
  });
});
