/**
 * `claudomator agents` and `claudomator agents cap` as subprocesses against a running pool: the global
 * cap and the per-host cap are shown, the global cap changes at runtime, and a bad value exits 2 with a
 * message naming what it accepts.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolStatus } from '../../client/index.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';
import { cliEnv, runCli, type CliEnv, type CliResult } from './cli-process.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack;
let base: CliEnv;

beforeAll(async () => {
  env = await devServerEnv();
  stack = await startTestStack(env, db.current.store, { label: 'cli-caps', env: { CLAUDOMATOR_MAX_CONCURRENT: '3' } });
  await stack.client.ensureAgentPool();
  base = await cliEnv({
    databaseUrl: db.current.url,
    queue: stack.name,
    extra: { CLAUDOMATOR_POOL_WORKFLOW_ID: stack.config.poolWorkflowId, CLAUDOMATOR_HOST_MAX_RUNS: '2' },
  });
});
afterAll(async () => {
  await stack?.stop();
  await env?.teardown();
});

const cli = (...args: string[]): Promise<CliResult> => runCli(args, base);

describe('claudomator agents and agents cap', () => {
  it('show both caps, change the global one at runtime and refuse bad values', async () => {
    const table = await cli('agents');
    expect(table.exitCode, table.stderr).toBe(0);
    expect(table.stdout).toMatch(/^AGENT\s+ACTIVE/);
    expect(table.stdout).toContain('pool: 0 running, 0 waiting; at most 3 at once');
    expect(table.stdout).toContain('agent hosts: at most 2 agent runs each (CLAUDOMATOR_HOST_MAX_RUNS');

    const set = await cli('agents', 'cap', '1');
    expect(set.exitCode, set.stderr).toBe(0);
    expect(set.stdout.trim()).toBe('pool: 0 running, 0 waiting; at most 1 at once');
    const shown = await cli('agents', 'cap', '--json');
    expect(shown.exitCode, shown.stderr).toBe(0);
    const pool = JSON.parse(shown.stdout) as PoolStatus;
    expect(pool).toMatchObject({ maxConcurrent: 1, running: 0, waiting: 0 });
    expect(pool.agents.map((a) => a.agent)).toEqual(['claude', 'codex', 'command', 'gemini']);

    // --json after a subcommand is the subcommand's, although `agents` has the option too.
    const acked = await cli('agents', 'ack', 'claude', '--json');
    expect(acked.exitCode, acked.stderr).toBe(0);
    expect(JSON.parse(acked.stdout)).toMatchObject({ agent: 'claude', drained: false });

    const removed = await cli('agents', 'cap', 'none');
    expect(removed.stdout).toContain('no global cap (set one: claudomator agents cap <runs>)');
    expect((await stack.client.poolStatus()).maxConcurrent).toBeUndefined();

    const bad = await cli('agents', 'cap', 'lots');
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toContain('expected a whole number, or "none" to remove the cap.');
    const tooMany = await cli('agents', 'cap', '5000');
    expect(tooMany.exitCode).toBe(2);
    expect(tooMany.stderr).toContain('"maxConcurrent" must be a whole number from 0 to 1000');
  });
});
