import { randomUUID } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { AgentPool, RELEASED_MEMORY, type AgentPoolOptions } from '../../workflows/agent-pool-state.js';
import {
  expandSnapshot,
  isCompactSnapshot,
  jsonBytes,
  type CompactPoolSnapshot,
} from '../../workflows/pool-snapshot.js';
import type { AgentChoice, AgentPoolSnapshot, AgentType, PoolMessage, SlotRequest } from '../../workflows/types.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

function newPool(options: Partial<AgentPoolOptions> = {}) {
  const clock = { now: T0 };
  const pool = new AgentPool({
    agents: ['claude', 'gemini', 'codex', 'command'],
    clock: () => clock.now,
    eventIdPrefix: 'agent-pool:run-1',
    ...options,
  });
  const sent = (): PoolMessage[] =>
    pool.takeMessages().map(({ id, message }) => {
      pool.delivered(id);
      return message;
    });
  return { pool, clock, sent };
}

/**
 * A request as a task workflow sends it (task.ts): `<workflowId>/<runId>/<n>`, workflow id `task-<taskId>`,
 * with a UUID for a task id as the store makes them.
 */
function taskRequest(i: number, agent: AgentChoice): SlotRequest {
  const taskId = `${i.toString(16).padStart(8, '0')}${randomUUID().slice(8)}`;
  const workflowId = `task-${taskId}`;
  const runId = randomUUID();
  return { requestId: `${workflowId}/${runId}/1`, workflowId, runId, agent, taskId };
}

const roundTrip = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;

describe('the compact snapshot', () => {
  it('maps every holder and waiter exactly, derived ids or not', () => {
    const { pool, clock } = newPool({ limits: { claude: 0, gemini: 1, codex: 0 } });
    const holder = taskRequest(1, 'any');
    pool.request(holder);
    clock.now += 1234;
    const waiter = taskRequest(2, 'claude');
    pool.request(waiter);
    // Requests of other shapes: no run id, a task id unlike the workflow id, a workflow id not in the request id.
    pool.request({ requestId: 'r-plain', workflowId: 'story-s1', agent: 'claude' });
    pool.request({
      requestId: 'story-s1/run-9/2',
      workflowId: 'story-s1',
      runId: 'run-9',
      agent: 'claude',
      taskId: 'v',
    });
    pool.request({ requestId: 'x/y/z', workflowId: 'task-other', runId: 'y', agent: 'any', taskId: 'other' });
    pool.request({ requestId: 'task-a/b/1', workflowId: 'task-a', agent: 'gemini', taskId: 'a' });
    pool.request({ requestId: 'slashed/wf/run/1', workflowId: 'slashed/wf', runId: 'run', agent: 'codex' });
    const full = pool.snapshot();
    const compact = roundTrip(pool.compactSnapshot());

    expect(isCompactSnapshot(compact)).toBe(true);
    expect(isCompactSnapshot(full)).toBe(false);
    expect(expandSnapshot(compact)).toEqual(full);
    expect(expandSnapshot(full)).toBe(full);
    // A task's request: only its id, agent and time.
    expect(compact.h).toEqual([[holder.requestId, 'gemini', 'any', T0, T0]]);
    expect(compact.w[0]).toEqual([waiter.requestId, 'claude', T0 + 1234]);
    expect(compact.w.slice(1)).toEqual([
      ['r-plain', 'claude', T0 + 1234, 'story-s1'],
      ['story-s1/run-9/2', 'claude', T0 + 1234, 0, 0, 'v'],
      ['x/y/z', 'any', T0 + 1234, 'task-other'],
      ['task-a/b/1', 'gemini', T0 + 1234, 0, null],
      ['slashed/wf/run/1', 'codex', T0 + 1234, 'slashed/wf', 'run'],
    ]);
  });

  it('restores the same pool from the full shape and from the compact one', () => {
    const { pool } = newPool();
    for (let i = 0; i < 6; i++) pool.request(taskRequest(i, (['claude', 'any', 'gemini'] as const)[i % 3] ?? 'any'));
    pool.release({ requestId: pool.holding()[0]?.requestId ?? '', report: { kind: 'failed', error: 'x' } });
    pool.pause({ agent: 'codex', reason: 'maintenance' });
    const fromFull = newPool({ state: roundTrip(pool.snapshot()) }).pool;
    const fromCompact = newPool({ state: roundTrip(pool.compactSnapshot()) }).pool;
    for (const restored of [fromFull, fromCompact]) {
      expect(restored.waiting()).toEqual(pool.waiting());
      expect(restored.holding()).toEqual(pool.holding());
      expect(restored.statuses()).toEqual(pool.statuses());
      expect(restored.getStats()).toEqual(pool.getStats());
    }
    expect(fromCompact.snapshot()).toEqual(fromFull.snapshot());
  });

  it('takes at most 110 bytes per waiting task request, less than half the full shape', () => {
    const perWaiter = (snapshot: (pool: AgentPool) => AgentPoolSnapshot | CompactPoolSnapshot) => {
      const bytes = (waiters: number) => {
        const { pool } = newPool({ limits: { claude: 0, gemini: 0, codex: 0 } });
        for (let i = 0; i < waiters; i++)
          pool.request(taskRequest(i, (['claude', 'gemini', 'any'] as const)[i % 3] ?? 'any'));
        return jsonBytes(snapshot(pool));
      };
      return (bytes(3000) - bytes(0)) / 3000;
    };
    const full = perWaiter((pool) => pool.snapshot());
    const compact = perWaiter((pool) => pool.compactSnapshot());
    expect(compact).toBeLessThanOrEqual(110);
    expect(compact).toBeLessThan(full / 2);
  });
});

describe('the snapshot size guard', () => {
  it('denies a request that would take the snapshot past the limit, naming the limit and the fix', () => {
    const limit = 60_000;
    const { pool, sent } = newPool({ limits: { claude: 1 }, snapshotLimitBytes: limit });
    const requests = Array.from({ length: 1000 }, (_, i) => taskRequest(i, 'claude'));
    for (const r of requests) pool.request(r);
    const denials = sent().flatMap((m) => (m.kind === 'deny' ? [m.denial] : []));
    const accepted = pool.waiting().length + pool.holding().length;
    expect(accepted).toBeGreaterThan(300);
    expect(denials).toHaveLength(requests.length - accepted);
    expect(denials[0]?.reason).toMatch(
      /^the agent pool is full: \d+ requests wait and 1 hold a slot, and one more would take the state it carries across continue-as-new past 60000 bytes .*raise CLAUDOMATOR_POOL_SHARDS/,
    );
    expect(jsonBytes(pool.compactSnapshot())).toBeLessThanOrEqual(limit);

    // A repeat of an accepted request is no new request: it is never denied.
    pool.request(requests[accepted - 1] as SlotRequest);
    expect(sent()).toEqual([]);
    // Room made by withdrawals is room for a new request.
    for (const w of pool.waiting().slice(0, 5)) pool.release({ requestId: w.requestId, report: { kind: 'neutral' } });
    const next = taskRequest(5000, 'claude');
    pool.request(next);
    expect(sent()).toEqual([]);
    expect(pool.waiting().at(-1)?.requestId).toBe(next.requestId);
  });

  it('counts what the snapshot carries: its estimate is never below the real size', () => {
    const { pool, sent } = newPool({ limits: { claude: 2 }, snapshotLimitBytes: 1_000_000 });
    const count = (p: AgentPool) => (p as unknown as { carriedBytes: number }).carriedBytes;
    for (let i = 0; i < RELEASED_MEMORY + 200; i++) {
      const r = taskRequest(i, i % 2 === 0 ? 'claude' : 'any');
      pool.request(r);
      if (i % 3 === 0) pool.release({ requestId: r.requestId, report: { kind: 'failed', error: `e${i}` } });
      if (i % 50 === 0) pool.acknowledge({ agent: 'claude' });
      if (i % 7 === 0) sent();
      expect(count(pool)).toBeGreaterThan(0);
    }
    const actual = jsonBytes(pool.compactSnapshot());
    expect(count(pool) + 16_384).toBeGreaterThanOrEqual(actual);
    expect(count(pool)).toBeGreaterThan(actual - 16_384);
    // Restored from its snapshot, the pool counts the same.
    expect(count(newPool({ state: roundTrip(pool.compactSnapshot()) }).pool)).toBe(count(pool));
  });
});

/**
 * The rules the pool's dispatch had as a scan of the FIFO, written plainly: the indexed pool must grant
 * what this grants, in the same order.
 */
class ReferencePool {
  waiters: Array<{ requestId: string; agent: AgentChoice }> = [];
  holders: Array<{ requestId: string; agent: AgentType }> = [];
  constructor(private readonly limits: Record<AgentType, number>) {}
  request(requestId: string, agent: AgentChoice): string[] {
    this.waiters.push({ requestId, agent });
    return this.dispatch();
  }
  release(requestId: string): string[] {
    this.holders = this.holders.filter((h) => h.requestId !== requestId);
    this.waiters = this.waiters.filter((w) => w.requestId !== requestId);
    return this.dispatch();
  }
  private active(agent: AgentType) {
    return this.holders.filter((h) => h.agent === agent).length;
  }
  private grantable(agent: AgentType) {
    return this.active(agent) < this.limits[agent];
  }
  private dispatch(): string[] {
    const granted: string[] = [];
    for (let i = 0; i < this.waiters.length;) {
      const w = this.waiters[i] as { requestId: string; agent: AgentChoice };
      let agent: AgentType | undefined;
      if (w.agent === 'any') {
        const candidates = (['claude', 'codex', 'gemini'] as const).filter((a) => this.grantable(a));
        agent = candidates.sort((a, b) => this.active(a) - this.active(b))[0];
      } else if (this.grantable(w.agent)) agent = w.agent;
      if (agent === undefined) {
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      this.holders.push({ requestId: w.requestId, agent });
      granted.push(`${w.requestId}:${agent}`);
    }
    return granted;
  }
}

describe('the indexed pool', () => {
  it('grants what a scan of the FIFO grants, in the same order, over a long random run', () => {
    const limits = { claude: 3, gemini: 2, codex: 1, command: 2 };
    const { pool, sent } = newPool({ limits });
    const reference = new ReferencePool(limits);
    let seed = 7;
    const random = (n: number) => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const choices: AgentChoice[] = ['claude', 'gemini', 'codex', 'command', 'any', 'any'];
    const open: string[] = [];
    for (let step = 0; step < 4000; step++) {
      let expected: string[];
      if (open.length === 0 || random(5) < 3) {
        const requestId = `r${step}`;
        const agent = choices[random(choices.length)] as AgentChoice;
        open.push(requestId);
        pool.request({ requestId, workflowId: `task-${requestId}`, agent });
        expected = reference.request(requestId, agent);
      } else {
        const [requestId] = open.splice(random(open.length), 1) as [string];
        pool.release({ requestId, report: { kind: 'success' } });
        expected = reference.release(requestId);
      }
      const granted = sent().flatMap((m) => (m.kind === 'grant' ? [`${m.grant.requestId}:${m.grant.agent}`] : []));
      expect(granted).toEqual(expected);
    }
    expect(pool.waiting().map((w) => w.requestId)).toEqual(reference.waiters.map((w) => w.requestId));
  });

  it('moves a repeated request to the run that repeated it in every index', () => {
    const { pool, sent } = newPool({ limits: { claude: 1 } });
    pool.request({ requestId: 'h', workflowId: 'task-h', runId: 'r1', agent: 'claude' });
    pool.request({ requestId: 'w', workflowId: 'task-w', runId: 'r1', agent: 'claude' });
    pool.request({ requestId: 'w', workflowId: 'task-w', runId: 'r2', agent: 'claude' });
    expect(pool.reclaim([{ workflowId: 'task-w', runId: 'r1' }])).toBe(0);
    expect(pool.participants()).toEqual([
      { workflowId: 'task-h', runId: 'r1' },
      { workflowId: 'task-w', runId: 'r2' },
    ]);
    expect(pool.leakCheckRequested).toBe(false);
    pool.request({ requestId: 'x', workflowId: 'task-w', runId: 'r3', agent: 'claude' });
    expect(pool.leakCheckRequested).toBe(true);
    expect(pool.reclaim([{ workflowId: 'task-w', runId: 'r2' }])).toBe(1);
    expect(pool.waiting().map((w) => w.requestId)).toEqual(['x']);
    sent();
    pool.release({ requestId: 'h', report: { kind: 'success' } });
    expect(sent()).toEqual([{ kind: 'grant', workflowId: 'task-w', grant: { requestId: 'x', agent: 'claude' } }]);
    expect(pool.requesterUnreachable('task-w')).toBe(1);
    expect(pool.poolStatus()).toMatchObject({ running: 0, waiting: 0 });
  });

  it('handles each signal without scanning the waiters: 20,000 waiting, 20,000 more signals in well under a second each', () => {
    const { pool, sent } = newPool({ limits: { claude: 1, gemini: 1 } });
    for (let i = 0; i < 20_000; i++) pool.request(taskRequest(i, 'claude'));
    sent();
    const started = performance.now();
    // Requests and releases for another agent, and repeats and withdrawals of waiting requests.
    for (let i = 0; i < 5000; i++) {
      const r = taskRequest(100_000 + i, 'gemini');
      pool.request(r);
      pool.release({ requestId: r.requestId, report: { kind: 'success' } });
    }
    const waiting = pool.waiting();
    for (let i = 0; i < 5000; i++) pool.request({ ...waiting[i * 3], runId: 'next' } as SlotRequest);
    for (let i = 0; i < 5000; i++)
      pool.release({ requestId: waiting[i * 3 + 1]?.requestId ?? '', report: { kind: 'neutral' } });
    const elapsed = performance.now() - started;
    // A scan per signal (20,000 waiters × 20,000 signals) takes many seconds; the indexed pool, milliseconds.
    expect(elapsed).toBeLessThan(2000);
    expect(pool.poolStatus()).toMatchObject({ running: 1, waiting: 20_000 - 1 - 5000 });
  });
});
