/**
 * The orchestration role at zero (KEDA scaled it down, a serverless worker is idle): queries need a
 * polling worker, so `claudomator agents` answers from the record the pool keeps in Postgres, says
 * so, and does not hang; `story show` reads Postgres only. Real worker processes and CLI processes.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AgentStatus } from '../../workflows/types.js';
import { startCli } from '../e2e/cli-process.js';
import { makeBareRepo, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startDeployment, type Deployment } from '../helpers/worker-process.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let deployment: Deployment | undefined;

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await deployment?.stop();
  deployment = undefined;
});
afterAll(async () => {
  await env?.teardown();
});

type Shown = AgentStatus & { source?: string };

async function agentsJson(d: Deployment): Promise<{ statuses: Shown[]; stderr: string; ms: number }> {
  const started = Date.now();
  const result = await startCli(['agents', '--json'], d.env);
  expect(result.exitCode, result.all).toBe(0);
  return {
    statuses: JSON.parse(String(result.stdout)) as Shown[],
    stderr: String(result.stderr),
    ms: Date.now() - started,
  };
}

describe('orchestration role at zero', () => {
  it('`agents` answers from Postgres (drains, failures, limits) when no worker polls, and from the pool when one does', async () => {
    deployment = await startDeployment(env, db.current.store, { databaseUrl: db.current.url });
    const d = deployment;
    const orchestration = await d.start('orchestration', d.host('orchestrator'));
    await d.start('agents', d.host('machine-1'));

    // Two failed runs in a row drain claude.
    for (const n of [1, 2]) {
      const [task] = await d.client.submitTasks({
        id: `${d.name}-crash-${n}`,
        name: `crash ${n}`,
        instructions: 'Do it [scenario:crash]',
      });
      expect((await d.client.waitForTask(task!.id, { timeoutMs: 60_000 })).state).toBe('FAILED');
    }
    const live = await waitFor('the pool to drain claude', async () => {
      const { statuses } = await agentsJson(d);
      return statuses.find((s) => s.agent === 'claude' && s.drained) ? statuses : undefined;
    });
    expect(live.every((s) => s.source === undefined)).toBe(true);

    // Scaled to zero: no orchestration worker polls any more.
    orchestration.process.kill('SIGTERM');
    expect((await orchestration.process).exitCode).toBe(0);

    const { statuses, stderr, ms } = await agentsJson(d);
    expect(stderr).toMatch(/From Postgres: no orchestration worker answered within 5000 ms/);
    expect(ms).toBeLessThan(30_000);
    const claude = statuses.find((s) => s.agent === 'claude');
    expect(claude).toMatchObject({
      source: 'record',
      drained: true,
      consecutiveFailures: 2,
      activeTasks: 0,
      limit: live.find((s) => s.agent === 'claude')?.limit,
    });
    expect(claude?.drainReason).toEqual(expect.any(String));
    expect(statuses.find((s) => s.agent === 'gemini')).toMatchObject({ source: 'record', drained: false });

    const human = await startCli(['agents'], d.env);
    expect(human.exitCode).toBe(0);
    expect(String(human.stdout)).toMatch(/claude is drained after 2 failures/);
    expect(String(human.stdout)).toMatch(/From Postgres/);
  });

  it('`story show` needs no worker at all', async () => {
    deployment = await startDeployment(env, db.current.store, { databaseUrl: db.current.url });
    const d = deployment;
    const scratch = tempDir('story-show');
    try {
      await d.client.addProject({ id: `${d.name}-p`, remoteUrl: makeBareRepo(scratch.dir) });
      await d.client.createStory({ id: `${d.name}-s`, project: `${d.name}-p`, branch: 'feature/x' });
      const started = Date.now();
      const shown = await startCli(['story', 'show', `${d.name}-s`, '--json'], d.env);
      expect(shown.exitCode, shown.all).toBe(0);
      expect(JSON.parse(String(shown.stdout))).toMatchObject({ id: `${d.name}-s`, status: 'PENDING' });
      expect(Date.now() - started).toBeLessThan(30_000);
    } finally {
      scratch.remove();
    }
  });
});
