import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { agentPoolInput } from '../../infra/agent-pool.js';
import { ConfigError, loadConfig } from '../../infra/config.js';
import { holdingHostPermit, HostRunLimit } from '../../worker/host-run-limit.js';
import type { AgentRunInput, AgentRunResult } from '../../workflows/types.js';

const reserveContext = {
  slotType: 'activity' as const,
  taskQueue: 'q',
  workerIdentity: 'w',
  workerBuildId: '',
  isSticky: false,
};

const NAMES = ['shared-1', 'resume-1', 'shared-2', 'resume-2'];

describe('HostRunLimit', () => {
  it('gives at most `capacity` permits; a release hands the permit to the next waiter', async () => {
    const limit = new HostRunLimit(2);
    const first = limit.tryAcquire()!;
    const second = await limit.acquire({ priority: false });
    expect(limit.tryAcquire()).toBeUndefined();
    const order: string[] = [];
    const third = limit.acquire({ priority: false }).then((release) => (order.push('third'), release));
    await Promise.resolve();
    expect(order).toEqual([]);
    first();
    first(); // a second release of the same permit changes nothing
    const release3 = await third;
    expect(order).toEqual(['third']);
    expect(limit.inUse).toBe(2);
    second();
    release3();
    expect(limit.inUse).toBe(0);
  });

  it('serves priority waiters (runs from the host queue) before the shared queue, each class in order', async () => {
    const limit = new HostRunLimit(1);
    let release = limit.tryAcquire()!;
    const order: string[] = [];
    const granted: Array<Promise<() => void>> = [];
    for (const name of NAMES) {
      granted.push(limit.acquire({ priority: name.startsWith('resume') }).then((r) => (order.push(name), r)));
    }
    // Hand the one permit on four times: each release goes to the next waiter, and only one is out at once.
    for (let i = 0; i < 4; i++) {
      release();
      await new Promise((resolve) => setTimeout(resolve, 0));
      expect(order).toHaveLength(i + 1);
      expect(limit.inUse).toBe(1);
      release = await granted[NAMES.indexOf(order[i]!)]!;
    }
    expect(order).toEqual(['resume-1', 'resume-2', 'shared-1', 'shared-2']);
    release();
    expect(limit.inUse).toBe(0);
  });

  it('drops a waiter whose signal aborts, rejecting with the reason', async () => {
    const limit = new HostRunLimit(1);
    const held = limit.tryAcquire()!;
    const controller = new AbortController();
    const waiting = limit.acquire({ priority: true, signal: controller.signal });
    controller.abort(new Error('cancelled'));
    await expect(waiting).rejects.toThrow('cancelled');
    held();
    expect(limit.inUse).toBe(0); // the aborted waiter did not take the freed permit
    await expect(limit.acquire({ priority: true, signal: controller.signal })).resolves.toBeTypeOf('function');
  });

  it('is the shared queue slot supplier: a permit per reserved poll, freed by releaseSlot', async () => {
    const limit = new HostRunLimit(1);
    const supplier = limit.slotSupplier();
    expect(supplier.type).toBe('custom');
    const permit = await supplier.reserveSlot(reserveContext, new AbortController().signal);
    expect(supplier.tryReserveSlot(reserveContext)).toBeNull();
    supplier.markSlotUsed({ slotInfo: { type: 'activity', activityType: 'runAgent' }, permit });
    const controller = new AbortController();
    const pending = supplier.reserveSlot(reserveContext, controller.signal);
    controller.abort(new Error('poller stopped'));
    await expect(pending).rejects.toThrow('poller stopped');
    supplier.releaseSlot({ slotInfo: { type: 'activity', activityType: 'runAgent' }, permit });
    expect(limit.inUse).toBe(0);
    expect(supplier.tryReserveSlot(reserveContext)).not.toBeNull();
  });

  it('refuses a capacity below 1', () => {
    expect(() => new HostRunLimit(0)).toThrow(RangeError);
  });
});

describe('holdingHostPermit (agent runs from the host queue)', () => {
  const input: AgentRunInput = {
    taskId: 't',
    executionId: 'e',
    agent: 'claude',
    prompt: 'p',
    config: { type: 'claude' },
    timeoutMs: 60_000,
  };
  const checkpoint = { executionId: 'e', sessionId: 's', bytes: 42, paths: {} };
  const result = { outcome: 'success', paths: {} } as unknown as AgentRunResult;

  function recorder() {
    const runs: AgentRunInput[] = [];
    return { runs, run: (i: AgentRunInput) => (runs.push(i), Promise.resolve(result)) };
  }

  it('runs at once when the host has room, holding a permit while it runs', async () => {
    const limit = new HostRunLimit(1);
    let inUseDuringRun = -1;
    const wrapped = holdingHostPermit(
      limit,
      (i) => ((inUseDuringRun = limit.inUse), Promise.resolve({ ...result, summary: i.prompt })),
    );
    expect(await new MockActivityEnvironment().run(wrapped, input)).toMatchObject({ summary: 'p' });
    expect(inUseDuringRun).toBe(1);
    expect(limit.inUse).toBe(0);
  });

  it('waits while the host is full, heartbeating the last checkpoint unchanged; the wait counts toward the time limit', async () => {
    const limit = new HostRunLimit(1);
    const held = limit.tryAcquire()!;
    const { runs, run } = recorder();
    const env = new MockActivityEnvironment({ heartbeatDetails: checkpoint });
    const beats: unknown[] = [];
    env.on('heartbeat', (details: unknown) => beats.push(details));
    const running = env.run(holdingHostPermit(limit, run), input);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(runs).toEqual([]);
    expect(beats).toEqual([checkpoint]);
    held();
    await running;
    expect(runs).toHaveLength(1);
    expect(runs[0]!.timeoutMs).toBeLessThanOrEqual(60_000 - 300);
    expect(runs[0]!.timeoutMs).toBeGreaterThan(50_000);
    expect(limit.inUse).toBe(0);
  });

  it('a cancellation while waiting ends the activity and leaves no waiter behind', async () => {
    const limit = new HostRunLimit(1);
    const held = limit.tryAcquire()!;
    const { runs, run } = recorder();
    const env = new MockActivityEnvironment();
    const running = env.run(holdingHostPermit(limit, run), input);
    await new Promise((resolve) => setTimeout(resolve, 50));
    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    held();
    expect(limit.inUse).toBe(0);
    expect(runs).toEqual([]);
  });
});

describe('cap configuration', () => {
  it('has no global and no per-host cap by default', () => {
    const config = loadConfig({});
    expect([config.maxConcurrent, config.hostMaxRuns]).toEqual([undefined, undefined]);
    expect(agentPoolInput(config)).not.toHaveProperty('maxConcurrent');
  });

  it('reads both caps; the global one goes into the pool input', () => {
    const config = loadConfig({ CLAUDOMATOR_MAX_CONCURRENT: '3', CLAUDOMATOR_HOST_MAX_RUNS: ' 2 ' });
    expect([config.maxConcurrent, config.hostMaxRuns]).toEqual([3, 2]);
    expect(agentPoolInput(config)).toMatchObject({ maxConcurrent: 3 });
  });

  it('refuses values that are not whole numbers from 1 to 1000, naming the variables', () => {
    for (const bad of ['0', '-1', '2.5', 'many', '1001']) {
      let error: unknown;
      try {
        loadConfig({ CLAUDOMATOR_MAX_CONCURRENT: bad, CLAUDOMATOR_HOST_MAX_RUNS: bad });
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).problems).toEqual([
        { variable: 'CLAUDOMATOR_MAX_CONCURRENT', expected: 'a whole number from 1 to 1000', got: bad },
        { variable: 'CLAUDOMATOR_HOST_MAX_RUNS', expected: 'a whole number from 1 to 1000', got: bad },
      ]);
    }
  });
});
