/**
 * Agents under their own uid (CLAUDOMATOR_AGENT_UID): a real worker process (root here, as in the agent
 * image) runs a fake agent — a real executable — that tries to read the worker's /proc/<pid>/environ,
 * where DATABASE_URL and TEMPORAL_API_KEY live. Under uid 65534 ('nobody') the read is refused and the
 * agent still writes its checkout, its execution dir and its HOME; under the worker's own uid the same
 * agent reads the worker's environment (so the probe can fail). A worker that cannot let agents run
 * under their uid refuses to start, saying what to change.
 */
import { chmodSync, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { sandboxDir } from '../../activities/sandbox.js';
import { startCli } from '../e2e/cli-process.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startDeployment, type Deployment, type Host } from '../helpers/worker-process.js';

const READ_WORKER_ENV = fileURLToPath(new URL('../fixtures/fake-agents/read-worker-env', import.meta.url));
const NOBODY = 65534;
/** What the agents image sets system-wide (git config --system safe.directory '*'), for this worker only. */
const TRUST_CHECKOUTS = { GIT_CONFIG_COUNT: '1', GIT_CONFIG_KEY_0: 'safe.directory', GIT_CONFIG_VALUE_0: '*' };

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

/** A host whose data dir the agent user can reach (test scratch dirs are private to root). */
function reachable(host: Host): Host {
  chmodSync(path.dirname(host.dataDir), 0o755);
  return host;
}

async function runProbe(d: Deployment, id: string) {
  const [task] = await d.client.submitTasks({
    id: `${d.name}-${id}`,
    name: `probe ${id}`,
    instructions: 'Try to read the worker environment',
    agent: { type: 'command', command: READ_WORKER_ENV },
  });
  const done = await d.client.waitForTask(task!.id, { timeoutMs: 60_000 });
  const { executions } = await d.client.getTask(task!.id);
  return { done, execution: executions[0]! };
}

describe.skipIf(process.getuid?.() !== 0)('agents under their own uid', () => {
  it('cannot read the worker’s environment, and can write their checkout, execution dir and HOME', async () => {
    deployment = await startDeployment(env, db.current.store, {
      databaseUrl: db.current.url,
      env: { CLAUDOMATOR_AGENT_UID: String(NOBODY), ...TRUST_CHECKOUTS },
    });
    const d = deployment;
    const host = reachable(d.host('machine-1'));
    await d.start('orchestration', d.host('orchestrator'));
    await d.start('agents', host);

    const { done, execution } = await runProbe(d, 'separate');
    expect(done.state, execution.error ?? '').toBe('READY');
    expect(execution.summary).toContain('worker environ: EACCES');
    expect(execution.summary).toContain(`uid=${NOBODY} gid=${NOBODY} home=${path.join(host.dataDir, 'agent-home')}`);
    const sandbox = sandboxDir(host.dataDir, done.id);
    expect(statSync(path.join(sandbox, 'agent-was-here.txt')).uid).toBe(NOBODY);
    expect(existsSync(path.join(path.dirname(execution.stdoutPath!), 'agent-note.txt'))).toBe(true);
    expect(statSync(path.join(host.dataDir, 'agent-home', '.fake-agent')).uid).toBe(NOBODY);
  });

  it('under the worker’s own uid the same agent reads DATABASE_URL from /proc (the probe can fail)', async () => {
    deployment = await startDeployment(env, db.current.store, { databaseUrl: db.current.url });
    const d = deployment;
    await d.start('orchestration', d.host('orchestrator'));
    await d.start('agents', d.host('machine-1'));

    const { done, execution } = await runProbe(d, 'shared');
    expect(done.state).toBe('FAILED');
    expect(execution.error).toContain('DATABASE_URL leaked');
  });

  it('a worker whose git would refuse the agent’s checkouts does not start, and says how to fix it', async () => {
    deployment = await startDeployment(env, db.current.store, {
      databaseUrl: db.current.url,
      // An empty system and global git config: no safe.directory.
      env: { CLAUDOMATOR_AGENT_UID: String(NOBODY), GIT_CONFIG_NOSYSTEM: '1', GIT_CONFIG_GLOBAL: '/dev/null' },
    });
    const d = deployment;
    const child = startCli(['worker', '--role', 'agents'], d.envOf(reachable(d.host('machine-1'))));
    const result = await child;
    expect(result.exitCode).not.toBe(0);
    expect(result.all).toMatch(/Agents cannot run under their own uid/);
    expect(result.all).toMatch(/safe\.directory/);
  });
});
