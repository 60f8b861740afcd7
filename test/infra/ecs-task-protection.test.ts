/**
 * Scale-in protection on Amazon ECS: a real agent host (`claudomator worker --role agents`) whose
 * ECS_AGENT_URI points at a local HTTP server standing in for the ECS agent's task protection
 * endpoint. While an agent runs the host asks for protection (with an expiry longer than the run
 * timeout); once the run is done it drops it. ECS then never scales in or replaces the task mid-run.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { readCalls, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startDeployment, type Deployment } from '../helpers/worker-process.js';

interface ProtectionRequest {
  at: number;
  method: string;
  path: string;
  body: { ProtectionEnabled?: boolean; ExpiresInMinutes?: number };
}

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let deployment: Deployment | undefined;
let ecsAgent: http.Server;
let ecsAgentUri: string;
const requests: ProtectionRequest[] = [];

beforeAll(async () => {
  env = await devServerEnv();
  ecsAgent = http.createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      requests.push({
        at: Date.now(),
        method: req.method ?? '',
        path: req.url ?? '',
        body: JSON.parse(body || '{}') as ProtectionRequest['body'],
      });
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ protection: { ProtectionEnabled: true } }));
    });
  });
  await new Promise<void>((resolve) => ecsAgent.listen(0, '127.0.0.1', resolve));
  ecsAgentUri = `http://127.0.0.1:${(ecsAgent.address() as AddressInfo).port}/v4/task-1234`;
});
afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
});
afterAll(async () => {
  await new Promise((resolve) => ecsAgent?.close(resolve));
  await env?.teardown();
});

describe('agent host on ECS', () => {
  it('protects its task from scale-in while an agent runs, and drops the protection when idle', async () => {
    deployment = await startDeployment(env, db.current.store, {
      databaseUrl: db.current.url,
      env: {
        ECS_AGENT_URI: ecsAgentUri,
        CLAUDOMATOR_DEFAULT_TIMEOUT: '90m',
        FAKE_AGENT_SLOW_LINES: '30',
        FAKE_AGENT_SLOW_MS: '100',
      },
    });
    const d = deployment;
    await d.start('orchestration', d.host('orchestrator'));
    await d.start('agents', d.host('machine-1'));
    expect(requests).toEqual([]);

    const [task] = await d.client.submitTasks({
      id: `${d.name}-ecs`,
      name: 'task ecs',
      instructions: 'Do it [scenario:slow]',
    });
    await waitFor('the agent to start', () => readCalls(d.stateDir)[0], 30_000);
    const on = await waitFor('protection', () => requests.find((r) => r.body.ProtectionEnabled === true), 10_000);
    expect(on.method).toBe('PUT');
    expect(on.path).toBe('/v4/task-1234/task-protection/v1/state');
    // Longer than a run may take (the run timeout plus a margin), so it holds for the whole run.
    expect(on.body.ExpiresInMinutes).toBe(100);

    expect((await d.client.waitForTask(task!.id, { timeoutMs: 60_000 })).state).toBe('READY');
    const off = await waitFor(
      'protection dropped',
      () => requests.find((r) => r.body.ProtectionEnabled === false),
      10_000,
    );
    expect(off.at).toBeGreaterThan(on.at);
    expect(requests.filter((r) => r.body.ProtectionEnabled === false)).toHaveLength(1);
  });
});
