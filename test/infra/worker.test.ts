import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from '../../infra/dev-server.js';
import { hostTaskQueue } from '../../workflows/definitions.js';
import { healthCheckWorkflow } from '../../workflows/health.js';
import { cliEnv, runCli, startCli, waitForOutput, type CliEnv, type CliProcess } from '../e2e/cli-process.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';

const { TaskQueueType } = proto.temporal.api.enums.v1;
const GRACE_MS = 20_000;

/**
 * `claudomator worker` as real subprocesses, one per role, on the run's dev server and this file's
 * database: they answer work on their queues, report health and metrics, and stop on SIGTERM.
 */
describe('claudomator worker --role orchestration|agents', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;
  let queue: string;
  let base: CliEnv;
  let orchestration: CliProcess;
  let agents: CliProcess;
  let healthPort: number;
  let metricsPort: number;

  beforeAll(async () => {
    env = await devServerEnv();
    queue = uniqueName('worker roles');
    base = await cliEnv({
      databaseUrl: db.current.url,
      queue,
      extra: { CLAUDOMATOR_SHUTDOWN_GRACE: `${GRACE_MS}ms` },
    });
    healthPort = await freePort();
    metricsPort = await freePort();
    orchestration = startCli(['worker', '--role', 'orchestration'], {
      ...base,
      CLAUDOMATOR_HEALTH_PORT: String(healthPort),
      CLAUDOMATOR_METRICS_PORT: String(metricsPort),
    });
    agents = startCli(['worker', '--role', 'agents'], base);
    await Promise.all([waitForOutput(orchestration, /Worker started/), waitForOutput(agents, /Worker started/)]);
  });

  afterAll(async () => {
    // Only after a failed test are they still running; killing an exited process is a no-op.
    orchestration?.kill('SIGKILL');
    agents?.kill('SIGKILL');
    await env?.teardown();
  });

  it('orchestration answers healthCheckWorkflow on its queue, with its database', async () => {
    const report = await env.client.workflow.execute(healthCheckWorkflow, {
      taskQueue: queue,
      workflowId: uniqueName('health'),
      args: ['from the test'],
    });
    expect(report).toMatchObject({ echo: 'from the test', pid: orchestration.pid, taskQueue: queue, database: 'ok' });
  });

  it('orchestration serves /healthz, /readyz and Prometheus metrics from the Temporal runtime', async () => {
    const healthz = await fetch(`http://127.0.0.1:${healthPort}/healthz`);
    expect(healthz.status).toBe(200);
    const readyz = await fetch(`http://127.0.0.1:${healthPort}/readyz`);
    expect(readyz.status).toBe(200);
    expect(await readyz.json()).toEqual({
      ready: true,
      database: 'ok',
      workers: [{ taskQueue: queue, state: 'RUNNING' }],
    });
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(/^temporal_\w+/m);
    expect(metrics).toContain(`task_queue="${queue}"`);
  });

  it('agents poll the shared agent queue and this host’s own queue, and no workflow queue', async () => {
    const pollers = async (name: string, type: proto.temporal.api.enums.v1.TaskQueueType) =>
      (
        await env.client.workflowService.describeTaskQueue({
          namespace: env.namespace ?? 'default',
          taskQueue: { name },
          taskQueueType: type,
        })
      ).pollers ?? [];
    const identity = `${agents.pid}@test-host`;
    for (const name of [`${queue}-agents`, hostTaskQueue(`${queue}-agents`, 'test-host')]) {
      expect((await pollers(name, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY)).map((p) => p.identity)).toContain(identity);
      expect(await pollers(name, TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW)).toEqual([]);
    }
    // And the orchestration worker is not an agent host.
    const activityPollers = await pollers(`${queue}-agents`, TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY);
    expect(activityPollers.map((p) => p.identity)).not.toContain(`${orchestration.pid}@test-host`);
  });

  it('doctor finds the database, Temporal, the orchestration worker and an agent host', async () => {
    const result = await runCli(['doctor', '--json'], base);
    expect(result.exitCode, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
    expect(report.checks.map((c) => [c.name, c.ok])).toEqual([
      ['database', true],
      ['temporal', true],
      ['worker', true],
      ['agent hosts', true],
    ]);
  });

  it('both roles stop gracefully on SIGTERM: exit 0 well within the shutdown grace', async () => {
    const started = Date.now();
    orchestration.kill('SIGTERM');
    agents.kill('SIGTERM');
    const [o, a] = await Promise.all([orchestration, agents]);
    const elapsed = Date.now() - started;
    expect(o.exitCode, o.all).toBe(0);
    expect(a.exitCode, a.all).toBe(0);
    expect(o.all).toMatch(/Worker stopped/);
    expect(a.all).toMatch(/Worker stopped/);
    expect(elapsed).toBeLessThan(GRACE_MS);
  });
});
