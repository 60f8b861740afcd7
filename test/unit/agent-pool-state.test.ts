import { describe, expect, it } from 'vitest';
import {
  AgentPool,
  checkPoolInput,
  DEFAULT_QUOTA_PAUSE_MS,
  DEFAULT_RATE_LIMIT_MS,
  PoolInputError,
  RELEASED_MEMORY,
  type AgentPoolOptions,
} from '../../workflows/agent-pool-state.js';
import type { AgentChoice, AgentType, PoolMessage, RunReport, SlotRequest } from '../../workflows/types.js';

const T0 = Date.parse('2030-01-01T00:00:00.000Z');

function setup(options: Partial<AgentPoolOptions> = {}) {
  const clock = { now: T0 };
  const logs: Array<{ level: string; message: string }> = [];
  const pool = new AgentPool({
    agents: ['claude', 'gemini'],
    clock: () => clock.now,
    eventIdPrefix: 'agent-pool:run-1',
    logger: {
      info: (message) => logs.push({ level: 'info', message }),
      warn: (message) => logs.push({ level: 'warn', message }),
    },
    ...options,
  });
  /** Everything the pool decided to send since the last call, delivered. */
  const sent = (): PoolMessage[] =>
    pool.takeMessages().map(({ id, message }) => {
      pool.delivered(id);
      return message;
    });
  const granted = (): string[] =>
    sent().flatMap((m) => (m.kind === 'grant' ? [`${m.grant.requestId}:${m.grant.agent}`] : []));
  const events = (): Array<{ event: string; agent: string; until?: string; reason?: string }> => {
    const out = [];
    for (let e = pool.peekEvent(); e; e = pool.peekEvent()) {
      pool.recorded(e.id);
      const { event, agent, until, reason } = e;
      out.push({ event, agent, ...(until ? { until } : {}), ...(reason ? { reason } : {}) });
    }
    return out;
  };
  const status = (agent: AgentType) => pool.statuses().find((s) => s.agent === agent);
  return { pool, clock, logs, sent, granted, events, status };
}

const ask = (requestId: string, agent: AgentChoice = 'claude', extra: Partial<SlotRequest> = {}): SlotRequest => ({
  requestId,
  workflowId: `task-${requestId}`,
  agent,
  ...extra,
});
const free = (requestId: string, report: RunReport = { kind: 'success' }) => ({ requestId, report });
const iso = (ms: number) => new Date(ms).toISOString();

describe('slots and the FIFO', () => {
  it('grants up to the limit (default 1), queues the rest and grants them in arrival order', () => {
    const { pool, granted, status } = setup();
    for (const id of ['a', 'b', 'c', 'd']) pool.request(ask(id));
    expect(granted()).toEqual(['a:claude']);
    expect(status('claude')).toMatchObject({ limit: 1, activeTasks: 1, waiting: 3, holders: ['task-a'] });

    pool.release(free('a'));
    expect(granted()).toEqual(['b:claude']);
    pool.release(free('b'));
    pool.release(free('c'));
    expect(granted()).toEqual(['c:claude', 'd:claude']);
    pool.release(free('d'));
    expect(status('claude')).toMatchObject({ activeTasks: 0, waiting: 0, holders: [] });
  });

  it('never has more holders than the limit, whatever the order of requests and releases', () => {
    const { pool, granted } = setup({ limits: { claude: 1 } });
    const holding = new Set<string>();
    let next = 0;
    // A deterministic pseudo-random interleaving of 20 requesters.
    let seed = 7;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    while (next < 20 || holding.size > 0) {
      if (next < 20 && (holding.size === 0 || random() < 0.6)) pool.request(ask(`r${next++}`));
      else pool.release(free([...holding][Math.floor(random() * holding.size)] as string));
      for (const g of granted()) holding.add(g.split(':')[0] as string);
      for (const h of pool.holding()) expect(holding.has(h.requestId)).toBe(true);
      for (const id of holding) if (!pool.holding().some((h) => h.requestId === id)) holding.delete(id);
      expect(pool.holding().length).toBeLessThanOrEqual(1);
    }
    expect(pool.getStats().granted).toBe(20);
  });

  it('keeps one FIFO per agent: a request for a busy agent does not block one for a free agent', () => {
    const { pool, granted } = setup();
    pool.request(ask('c1', 'claude'));
    pool.request(ask('c2', 'claude'));
    pool.request(ask('g1', 'gemini'));
    expect(granted()).toEqual(['c1:claude', 'g1:gemini']);
    pool.release(free('c1'));
    expect(granted()).toEqual(['c2:claude']);
  });

  it('takes limits from the input, including 0 (no grants until raised)', () => {
    const { pool, granted, status } = setup({ limits: { claude: 2, gemini: 0 } });
    for (const id of ['a', 'b', 'c']) pool.request(ask(id));
    pool.request(ask('g', 'gemini'));
    expect(granted()).toEqual(['a:claude', 'b:claude']);
    expect(status('gemini')).toMatchObject({ limit: 0, waiting: 1, activeTasks: 0 });
    pool.setLimit({ agent: 'gemini', limit: 1 });
    expect(granted()).toEqual(['g:gemini']);
  });

  it('grants at once when a limit is raised, and lets holders keep slots when it is lowered', () => {
    const { pool, granted, status } = setup({ limits: { claude: 2 } });
    for (const id of ['a', 'b', 'c', 'd', 'e']) pool.request(ask(id));
    expect(granted()).toEqual(['a:claude', 'b:claude']);
    expect(pool.setLimit({ agent: 'claude', limit: 3 })).toMatchObject({ limit: 3, activeTasks: 3 });
    expect(granted()).toEqual(['c:claude']);
    pool.setLimit({ agent: 'claude', limit: 1 });
    expect(status('claude')).toMatchObject({ limit: 1, activeTasks: 3 });
    pool.release(free('a'));
    pool.release(free('b'));
    expect(granted()).toEqual([]);
    pool.release(free('c'));
    expect(granted()).toEqual(['d:claude']);
  });
});

describe('idempotency by request id', () => {
  it('queues a repeated request once', () => {
    const { pool, granted, status } = setup();
    pool.request(ask('a'));
    pool.request(ask('b'));
    pool.request(ask('b'));
    expect(status('claude')?.waiting).toBe(1);
    expect(granted()).toEqual(['a:claude']);
  });

  it('answers a repeated request of a holder with its grant again, without a second slot', () => {
    const { pool, sent, status } = setup();
    pool.request(ask('a'));
    sent();
    pool.request(ask('a', 'claude', { workflowId: 'task-a', runId: 'run-2' }));
    expect(sent()).toEqual([{ kind: 'grant', workflowId: 'task-a', grant: { requestId: 'a', agent: 'claude' } }]);
    expect(status('claude')?.activeTasks).toBe(1);
    expect(pool.holding()[0]?.runId).toBe('run-2');
  });

  it('frees a slot once however often it is released', () => {
    const { pool, granted, status } = setup();
    for (const id of ['a', 'b', 'c']) pool.request(ask(id));
    granted();
    pool.release(free('a'));
    pool.release(free('a'));
    expect(granted()).toEqual(['b:claude']);
    expect(status('claude')).toMatchObject({ activeTasks: 1, waiting: 1 });
  });

  it('refuses a request whose id was already released, also when the release came first', () => {
    const { pool, sent, status } = setup();
    pool.request(ask('a'));
    pool.release(free('a'));
    pool.release(free('early')); // a withdrawal that overtook its own request
    sent();
    pool.request(ask('a'));
    pool.request(ask('early'));
    const messages = sent();
    expect(messages.map((m) => m.kind)).toEqual(['deny', 'deny']);
    expect(messages[0]).toEqual({
      kind: 'deny',
      workflowId: 'task-a',
      denial: { requestId: 'a', reason: 'request a was already released; use a new request id per acquisition' },
    });
    expect(status('claude')).toMatchObject({ activeTasks: 0, waiting: 0 });
  });

  it('forgets the oldest released ids beyond its memory', () => {
    const { pool, granted } = setup();
    for (let i = 0; i <= RELEASED_MEMORY; i++) pool.release(free(`old-${i}`));
    pool.request(ask('old-0'));
    pool.request(ask('old-1', 'gemini'));
    expect(granted()).toEqual(['old-0:claude']);
  });

  it('withdraws a waiting request without counting its report', () => {
    const { pool, granted, status } = setup();
    pool.request(ask('a'));
    pool.request(ask('b'));
    pool.request(ask('c'));
    pool.release(free('b', { kind: 'failed', error: 'cancelled before it ran' }));
    pool.release(free('a'));
    expect(granted()).toEqual(['a:claude', 'c:claude']);
    expect(status('claude')?.consecutiveFailures).toBe(0);
  });
});

describe('bad requests', () => {
  it('denies an unknown agent with the agents it runs, and keeps serving others', () => {
    const { pool, sent } = setup();
    pool.request(ask('x', 'codex'));
    pool.request(ask('y', 'nonsense' as AgentChoice));
    pool.request(ask('a'));
    const messages = sent();
    expect(messages).toEqual([
      {
        kind: 'deny',
        workflowId: 'task-x',
        denial: { requestId: 'x', reason: 'unknown agent "codex": this pool runs claude, gemini (or "any")' },
      },
      expect.objectContaining({ kind: 'deny', workflowId: 'task-y' }),
      { kind: 'grant', workflowId: 'task-a', grant: { requestId: 'a', agent: 'claude' } },
    ]);
    expect(pool.getStats()).toMatchObject({ denied: 2, granted: 1 });
  });

  it('ignores malformed signals without throwing, and counts an unknown report as neutral', () => {
    const { pool, sent, logs, status } = setup();
    for (const bad of [
      null,
      undefined,
      42,
      'x',
      {},
      { requestId: 'a' },
      { workflowId: 'w' },
      { requestId: '', workflowId: 'w' },
    ]) {
      expect(() => pool.request(bad as unknown as SlotRequest)).not.toThrow();
      expect(() => pool.release(bad as unknown as { requestId: string; report: RunReport })).not.toThrow();
    }
    expect(sent()).toEqual([]);
    pool.request(ask('a'));
    pool.release({ requestId: 'a', report: { kind: 'exploded' } as unknown as RunReport });
    pool.request(ask('b'));
    pool.release({ requestId: 'b', report: undefined as unknown as RunReport });
    expect(status('claude')).toMatchObject({ consecutiveFailures: 0, activeTasks: 0 });
    expect(logs.filter((l) => l.level === 'warn').length).toBeGreaterThan(0);
  });
});

describe('"any"', () => {
  it('picks the available agent with the fewest active tasks, ties by name', () => {
    const { pool, granted } = setup({
      agents: ['codex', 'gemini', 'claude'],
      limits: { claude: 3, gemini: 3, codex: 3 },
    });
    pool.request(ask('a', 'any'));
    pool.request(ask('b', 'any'));
    pool.request(ask('c', 'any'));
    pool.request(ask('d', 'any'));
    expect(granted()).toEqual(['a:claude', 'b:codex', 'c:gemini', 'd:claude']);
    pool.release(free('b'));
    pool.request(ask('e', 'any'));
    expect(granted()).toEqual(['e:codex']);
  });

  it('skips drained, rate-limited, paused and full agents', () => {
    const { pool, granted } = setup({ agents: ['claude', 'codex', 'command', 'gemini'], limits: { claude: 2 } });
    // codex: drained; command: rate-limited; gemini: operator-paused.
    for (const id of ['x1', 'x2']) {
      pool.request(ask(id, 'codex'));
      pool.release(free(id, { kind: 'failed', error: 'boom' }));
    }
    pool.request(ask('m', 'command'));
    pool.release(free('m', { kind: 'rate_limited', until: iso(T0 + 60_000) }));
    pool.pause({ agent: 'gemini' });
    granted();
    pool.request(ask('a', 'any'));
    pool.request(ask('b', 'any'));
    pool.request(ask('c', 'any'));
    expect(granted()).toEqual(['a:claude', 'b:claude']);
    expect(pool.waiting().map((w) => w.requestId)).toEqual(['c']);
  });

  it('waits while every agent is rate-limited, and goes to the first one whose pause ends', () => {
    const { pool, clock, granted, events } = setup();
    pool.request(ask('c', 'claude'));
    pool.request(ask('g', 'gemini'));
    pool.release(free('c', { kind: 'rate_limited', until: iso(T0 + 120_000) }));
    pool.release(free('g', { kind: 'quota_exhausted', until: iso(T0 + 60_000) }));
    granted();
    events();
    pool.request(ask('a', 'any'));
    expect(granted()).toEqual([]);
    expect(pool.nextDeadline()).toEqual({ at: T0 + 60_000, agent: 'gemini', kind: 'rate limit' });
    clock.now = T0 + 60_000;
    pool.expire();
    expect(granted()).toEqual(['a:gemini']);
    expect(events()).toEqual([{ event: 'available', agent: 'gemini', reason: 'quota reset' }]);
  });

  it('waits while every agent is drained, until one is acknowledged', () => {
    const { pool, granted } = setup({ agents: ['claude'] });
    for (const id of ['1', '2']) {
      pool.request(ask(id));
      pool.release(free(id, { kind: 'failed', error: 'boom' }));
    }
    granted();
    pool.request(ask('a', 'any'));
    expect(granted()).toEqual([]);
    pool.acknowledge({ agent: 'claude', by: 'alice' });
    expect(granted()).toEqual(['a:claude']);
  });

  it('serves an earlier "any" before a later request for the agent it takes', () => {
    const { pool, granted } = setup();
    pool.request(ask('c', 'claude'));
    pool.request(ask('g', 'gemini'));
    pool.request(ask('any1', 'any'));
    pool.request(ask('c2', 'claude'));
    granted();
    pool.release(free('c'));
    expect(granted()).toEqual(['any1:claude']);
    pool.release(free('g'));
    expect(granted()).toEqual([]);
    pool.release(free('any1'));
    expect(granted()).toEqual(['c2:claude']);
  });
});

describe('failures and drain', () => {
  const fail = (pool: AgentPool, id: string, error = `error of ${id}`) => {
    pool.request(ask(id));
    pool.release(free(id, { kind: 'failed', error }));
  };

  it('drains after two consecutive failures: an event with the last error, no grants until acknowledged', () => {
    const { pool, granted, events, status } = setup();
    fail(pool, 'f1');
    expect(status('claude')).toMatchObject({ consecutiveFailures: 1, drained: false });
    fail(pool, 'f2', 'exit code 1:\n  stack trace');
    expect(status('claude')).toMatchObject({
      consecutiveFailures: 2,
      drained: true,
      drainReason: 'exit code 1: stack trace',
    });
    expect(pool.drainedAgents()).toEqual(['claude']);
    expect(events()).toEqual([{ event: 'drained', agent: 'claude', reason: 'exit code 1: stack trace' }]);
    granted();

    pool.request(ask('w'));
    expect(granted()).toEqual([]);
    expect(pool.acknowledge({ agent: 'claude', by: 'alice' })).toMatchObject({
      drained: false,
      consecutiveFailures: 0,
      activeTasks: 1,
    });
    expect(granted()).toEqual(['w:claude']);
    expect(events()).toEqual([{ event: 'acknowledged', agent: 'claude', reason: 'by alice' }]);
    expect(status('claude')?.drainReason).toBeUndefined();
  });

  it('resets the counter on success; rate limits, quotas and neutral runs neither count nor reset', () => {
    const { pool, status } = setup();
    fail(pool, 'f1');
    pool.request(ask('s'));
    pool.release(free('s', { kind: 'success' }));
    fail(pool, 'f2');
    expect(status('claude')).toMatchObject({ consecutiveFailures: 1, drained: false });
    for (const report of [
      { kind: 'neutral' },
      { kind: 'rate_limited', until: iso(T0 - 1) },
      { kind: 'quota_exhausted', until: iso(T0 - 1) },
    ] as RunReport[]) {
      pool.request(ask(`n-${report.kind}`));
      pool.release(free(`n-${report.kind}`, report));
    }
    expect(status('claude')).toMatchObject({ consecutiveFailures: 1, drained: false });
    fail(pool, 'f3');
    expect(status('claude')).toMatchObject({ consecutiveFailures: 2, drained: true });
  });

  it('records one drain; later failures of running holders update the reason; a success does not undrain', () => {
    const { pool, events, status } = setup({ limits: { claude: 4 } });
    for (const id of ['a', 'b', 'c', 'd']) pool.request(ask(id));
    pool.release(free('a', { kind: 'failed', error: 'one' }));
    pool.release(free('b', { kind: 'failed', error: 'two' }));
    pool.release(free('c', { kind: 'failed', error: 'three' }));
    expect(events().map((e) => e.event)).toEqual(['drained']);
    expect(status('claude')).toMatchObject({ drained: true, drainReason: 'three', consecutiveFailures: 3 });
    pool.release(free('d', { kind: 'success' }));
    expect(status('claude')).toMatchObject({ drained: true, consecutiveFailures: 0 });
  });

  it('acknowledging an agent that is not drained only resets its counter', () => {
    const { pool, events, status } = setup();
    fail(pool, 'f1');
    pool.acknowledge({ agent: 'claude' });
    expect(status('claude')).toMatchObject({ consecutiveFailures: 0, drained: false });
    expect(events()).toEqual([]);
  });

  it('says in the details which agent is drained, why, and how to acknowledge it', () => {
    const { pool } = setup();
    fail(pool, 'f1');
    fail(pool, 'f2', 'API error `500`');
    const details = pool.renderDetails('agent-pool');
    expect(details).toContain('| claude | 0/1 | 0 | **drained** | 2 |');
    expect(details).toContain("Last error: `API error '500'`");
    expect(details).toContain('claudomator agents ack claude');
    expect(details).toContain(
      `temporal workflow update execute --workflow-id agent-pool --name acknowledgeAgent --input '{"agent":"claude"}'`,
    );
  });
});

describe('rate limits and quotas', () => {
  it('pauses grants until the retry-after, then resumes them without the request being sent again', () => {
    const { pool, clock, granted, events, status } = setup();
    pool.request(ask('a'));
    pool.request(ask('b'));
    granted();
    const until = iso(T0 + 17 * 60_000);
    pool.release(free('a', { kind: 'rate_limited', until }));
    expect(granted()).toEqual([]);
    expect(status('claude')).toMatchObject({
      rateLimited: true,
      rateLimitedUntil: until,
      rateLimitReason: 'transient',
      consecutiveFailures: 0,
    });
    expect(pool.pausedAgents()).toEqual(['claude']);
    expect(events()).toEqual([{ event: 'rate_limited', agent: 'claude', until, reason: 'transient' }]);
    expect(pool.nextDeadline()).toEqual({ at: T0 + 17 * 60_000, agent: 'claude', kind: 'rate limit' });

    clock.now = T0 + 17 * 60_000 - 1;
    pool.expire();
    expect(granted()).toEqual([]);
    clock.now = T0 + 17 * 60_000;
    pool.expire();
    expect(granted()).toEqual(['b:claude']);
    expect(events()).toEqual([{ event: 'available', agent: 'claude', reason: 'rate limit ended' }]);
    expect(status('claude')).toMatchObject({ rateLimited: false });
    expect(pool.nextDeadline()).toBeUndefined();
  });

  it('records a quota pause with reason quota', () => {
    const { pool, events, status } = setup();
    pool.request(ask('a'));
    const until = iso(T0 + 5 * 3600_000);
    pool.release(free('a', { kind: 'quota_exhausted', until }));
    expect(status('claude')).toMatchObject({ rateLimitedUntil: until, rateLimitReason: 'quota' });
    expect(events()).toEqual([{ event: 'rate_limited', agent: 'claude', until, reason: 'quota' }]);
  });

  it('falls back to the seed defaults (1 minute, 5 hours) when the time is missing or unreadable', () => {
    const { pool, status } = setup();
    pool.request(ask('a'));
    pool.release(free('a', { kind: 'rate_limited', until: 'soon' }));
    pool.request(ask('g', 'gemini'));
    pool.release(free('g', { kind: 'quota_exhausted' } as unknown as RunReport));
    expect(status('claude')?.rateLimitedUntil).toBe(iso(T0 + DEFAULT_RATE_LIMIT_MS));
    expect(status('gemini')?.rateLimitedUntil).toBe(iso(T0 + DEFAULT_QUOTA_PAUSE_MS));
  });

  it('keeps the later end when two holders report, and records only changes', () => {
    const { pool, events, status } = setup({ limits: { claude: 3 } });
    for (const id of ['a', 'b', 'c']) pool.request(ask(id));
    const versionBefore = pool.pauseVersion;
    pool.release(free('a', { kind: 'rate_limited', until: iso(T0 + 60_000) }));
    pool.release(free('b', { kind: 'rate_limited', until: iso(T0 + 30_000) }));
    pool.release(free('c', { kind: 'quota_exhausted', until: iso(T0 + 3600_000) }));
    expect(status('claude')).toMatchObject({ rateLimitedUntil: iso(T0 + 3600_000), rateLimitReason: 'quota' });
    expect(events().map((e) => e.until)).toEqual([iso(T0 + 60_000), iso(T0 + 3600_000)]);
    expect(pool.pauseVersion).toBe(versionBefore + 2);
  });
});

describe('operator controls', () => {
  it('pauses until resumed and resumes with events', () => {
    const { pool, granted, events } = setup();
    expect(pool.pause({ agent: 'claude', reason: 'maintenance' })).toMatchObject({ paused: true });
    expect(pool.nextDeadline()).toBeUndefined();
    pool.request(ask('a'));
    expect(granted()).toEqual([]);
    expect(pool.resume({ agent: 'claude' })).toMatchObject({ paused: false, activeTasks: 1 });
    expect(granted()).toEqual(['a:claude']);
    expect(events()).toEqual([
      { event: 'paused', agent: 'claude', reason: 'maintenance' },
      { event: 'resumed', agent: 'claude', reason: 'resumed by an operator' },
    ]);
  });

  it('ends a pause with a time on its own', () => {
    const { pool, clock, granted, events, status } = setup();
    const until = iso(T0 + 3600_000);
    pool.pause({ agent: 'claude', until });
    expect(status('claude')).toMatchObject({ paused: true, pausedUntil: until });
    expect(pool.nextDeadline()).toEqual({ at: T0 + 3600_000, agent: 'claude', kind: 'pause' });
    pool.request(ask('a'));
    clock.now = T0 + 3600_000;
    pool.expire();
    expect(granted()).toEqual(['a:claude']);
    expect(events().map((e) => e.event)).toEqual(['paused', 'resumed']);
  });

  it('lets resume end a rate limit early', () => {
    const { pool, granted, status } = setup();
    pool.request(ask('a'));
    pool.release(free('a', { kind: 'quota_exhausted', until: iso(T0 + 3600_000) }));
    pool.request(ask('b'));
    expect(granted()).toEqual(['a:claude']);
    pool.resume({ agent: 'claude' });
    expect(granted()).toEqual(['b:claude']);
    expect(status('claude')).toMatchObject({ rateLimited: false, paused: false });
  });

  it('rejects bad operator input with a message naming the field', () => {
    const { pool } = setup();
    const rejects = (fn: () => void, message: RegExp) => expect(fn).toThrowError(message);
    rejects(
      () => pool.validateAcknowledge({ agent: 'codex' }),
      /"agent" must be one of the agents this pool runs \(claude, gemini\), got "codex"/,
    );
    rejects(() => pool.validateAcknowledge({}), /"agent" must be one of .* got nothing/);
    rejects(() => pool.validateAcknowledge(null), /expected an object such as \{"agent": "claude"\}/);
    rejects(() => pool.validateAcknowledge({ agent: 'claude', by: 7 }), /"by" must be text/);
    for (const limit of [-1, 1.5, '2', 1001, null]) {
      rejects(() => pool.validateSetLimit({ agent: 'claude', limit }), /"limit" must be a whole number from 0 to 1000/);
    }
    rejects(() => pool.validateSetLimit({ agent: 'nope', limit: 1 }), /"agent" must be one of/);
    for (const until of ['tomorrow', iso(T0 - 1000), iso(T0), 12]) {
      rejects(() => pool.validatePause({ agent: 'claude', until }), /"until" must be an ISO-8601 time in the future/);
    }
    rejects(
      () => pool.validatePause({ agent: 'claude', reason: 'x'.repeat(501) }),
      /"reason" must be text of at most 500/,
    );
    rejects(() => pool.validateResume({ agent: 'any' }), /"agent" must be one of/);
    expect(() => pool.validateAcknowledge({ agent: 'claude', by: 'alice' })).not.toThrow();
    expect(() => pool.validateSetLimit({ agent: 'gemini', limit: 0 })).not.toThrow();
    expect(() => pool.validatePause({ agent: 'claude', until: iso(T0 + 1000), reason: 'x' })).not.toThrow();
    expect(() => pool.validateResume({ agent: 'gemini' })).not.toThrow();
    expect(new PoolInputError('x').name).toBe('PoolInputError');
  });
});

describe('leaks', () => {
  it('reclaims the slots of closed runs and drops their requests, and grants what is freed', () => {
    const { pool, granted, status } = setup();
    pool.request(ask('a', 'claude', { workflowId: 'task-a', runId: 'r1' }));
    pool.request(ask('b', 'claude', { workflowId: 'task-b', runId: 'r1' }));
    pool.request(ask('c', 'claude', { workflowId: 'task-c', runId: 'r1' }));
    granted();
    expect(pool.participants()).toEqual([
      { workflowId: 'task-a', runId: 'r1' },
      { workflowId: 'task-b', runId: 'r1' },
      { workflowId: 'task-c', runId: 'r1' },
    ]);
    // Another run of task-a closed: not this holder's run.
    expect(pool.reclaim([{ workflowId: 'task-a', runId: 'r0' }])).toBe(0);
    expect(pool.reclaim([{ workflowId: 'task-a', runId: 'r1' }, { workflowId: 'task-b' }])).toBe(2);
    expect(granted()).toEqual(['c:claude']);
    expect(status('claude')).toMatchObject({ activeTasks: 1, waiting: 0, holders: ['task-c'] });
    expect(pool.getStats().reclaimed).toBe(2);
    // The reclaimed requests are finished: a late copy is refused.
    pool.request(ask('a'));
    expect(pool.takeMessages().map((m) => m.message.kind)).toEqual(['deny']);
  });

  it('drops everything of a requester that cannot be reached', () => {
    const { pool, granted } = setup();
    pool.request(ask('a', 'claude', { workflowId: 'gone' }));
    pool.request(ask('b', 'gemini', { workflowId: 'gone' }));
    pool.request(ask('c', 'claude'));
    granted();
    expect(pool.requesterUnreachable('gone')).toBe(2);
    expect(granted()).toEqual(['c:claude']);
  });

  it('asks for an early leak check when a new run of a holding workflow asks for a slot', () => {
    const { pool } = setup();
    pool.request(ask('a', 'claude', { workflowId: 'task-1', runId: 'r1' }));
    pool.request(ask('b', 'claude', { workflowId: 'task-1', runId: 'r1' }));
    expect(pool.leakCheckRequested).toBe(false);
    pool.request(ask('c', 'claude', { workflowId: 'task-1', runId: 'r2' }));
    expect(pool.leakCheckRequested).toBe(true);
    expect(pool.participants()).toHaveLength(2);
  });
});

describe('continue-as-new snapshot', () => {
  it('carries holders, waiters, pauses, drains, counters, limits, released ids, events and undelivered messages', () => {
    const first = setup({ agents: ['claude', 'codex', 'gemini'], limits: { claude: 2 } });
    const { pool } = first;
    for (const id of ['x1', 'x2']) {
      pool.request(ask(id, 'codex'));
      pool.release(free(id, { kind: 'failed', error: 'bad' }));
    }
    pool.request(ask('g1', 'gemini'));
    pool.release(free('g1', { kind: 'quota_exhausted', until: iso(T0 + 5 * 3600_000) }));
    pool.request(ask('h1'));
    pool.request(ask('h2'));
    pool.request(ask('w1'));
    pool.request(ask('w2', 'any'));
    pool.pause({ agent: 'claude', until: iso(T0 + 3600_000), reason: 'window' });
    pool.setLimit({ agent: 'claude', limit: 3 });
    // One message delivered, one taken but in flight, the rest never taken.
    const taken = pool.takeMessages();
    pool.delivered(taken[0]?.id as number);
    pool.request(ask('w3', 'gemini'));

    const snapshot = JSON.parse(JSON.stringify(pool.snapshot())) as ReturnType<AgentPool['snapshot']>;
    const restored = setup({
      agents: ['claude', 'codex', 'gemini'],
      limits: { claude: 1 },
      state: snapshot,
      eventIdPrefix: 'agent-pool:run-2',
    });
    expect(restored.pool.statuses()).toEqual(pool.statuses());
    expect(restored.pool.waiting()).toEqual(pool.waiting());
    expect(restored.pool.holding()).toEqual(pool.holding());
    expect(restored.pool.getStats()).toEqual(pool.getStats());
    expect(restored.pool.nextDeadline()).toEqual(pool.nextDeadline());
    expect(restored.status('claude')).toMatchObject({ limit: 3, paused: true, pausedUntil: iso(T0 + 3600_000) });
    expect(restored.status('codex')).toMatchObject({ drained: true, drainReason: 'bad', consecutiveFailures: 2 });
    expect(restored.status('gemini')).toMatchObject({ rateLimitReason: 'quota', waiting: 1 });
    // Undelivered grants go out again (in flight first, in order); delivered ones do not.
    expect(restored.sent()).toEqual(taken.slice(1).map((t) => t.message));
    // Unrecorded events are recorded by the next run, with their original ids.
    expect(restored.pool.peekEvent()?.id).toBe('agent-pool:run-1:0');
    // Released ids are still refused.
    restored.pool.request(ask('g1'));
    expect(restored.sent()).toEqual([expect.objectContaining({ kind: 'deny' })]);
    // And the rules go on: the pause ends on time and the waiters are served in order.
    restored.clock.now = T0 + 3600_000;
    restored.pool.expire();
    expect(restored.granted()).toEqual(['w1:claude']);
    restored.pool.release(free('h1'));
    expect(restored.granted()).toEqual(['w2:claude']);
  });

  it('adds agents the input names that the snapshot lacks', () => {
    const { pool } = setup({ agents: ['claude'] });
    const restored = setup({ agents: ['claude', 'gemini'], limits: { gemini: 2 }, state: pool.snapshot() });
    expect(restored.pool.statuses().map((s) => [s.agent, s.limit])).toEqual([
      ['claude', 1],
      ['gemini', 2],
    ]);
  });
});

describe('events, statuses and input', () => {
  it('gives events unique ids from the prefix and a counter', () => {
    const { pool } = setup();
    pool.pause({ agent: 'claude' });
    pool.resume({ agent: 'claude' });
    const ids = [];
    for (let e = pool.peekEvent(); e; e = pool.peekEvent()) {
      ids.push(e.id);
      pool.recorded(e.id);
    }
    expect(ids).toEqual(['agent-pool:run-1:0', 'agent-pool:run-1:1']);
    expect(pool.hasEvents()).toBe(false);
  });

  it('reports every agent in name order with the seed fields and the pool additions', () => {
    const { pool } = setup({ agents: ['gemini', 'claude'] });
    pool.request(ask('a'));
    pool.request(ask('b'));
    pool.request(ask('c', 'any'));
    expect(pool.statuses()).toEqual([
      {
        agent: 'claude',
        limit: 1,
        activeTasks: 1,
        waiting: 1,
        holders: ['task-a'],
        rateLimited: false,
        paused: false,
        drained: false,
        consecutiveFailures: 0,
      },
      {
        agent: 'gemini',
        limit: 1,
        activeTasks: 1,
        waiting: 0,
        holders: ['task-c'],
        rateLimited: false,
        paused: false,
        drained: false,
        consecutiveFailures: 0,
      },
    ]);
    expect(pool.renderDetails('agent-pool')).toContain('2 running · 1 waiting');
  });

  it('refuses a bad pool input, naming the field', () => {
    expect(() => checkPoolInput([], undefined)).toThrowError(/"agents" must be a non-empty list/);
    expect(() => checkPoolInput(['claude'], { claude: -1 })).toThrowError(/"limits.claude" must be a whole number/);
    expect(() => checkPoolInput(['claude'], [])).toThrowError(/"limits" must be an object/);
    expect(() => setup({ agents: [] })).toThrowError(PoolInputError);
  });
});

describe('"any" and the command agent', () => {
  it('never gives an "any" request to the command agent, which cannot take instructions', () => {
    const { pool, granted } = setup({ agents: ['claude', 'command'] });
    pool.request(ask('a', 'any'));
    pool.request(ask('b', 'any'));
    pool.request(ask('c', 'command'));
    expect(granted()).toEqual(['a:claude', 'c:command']);
    pool.release(free('a'));
    expect(granted()).toEqual(['b:claude']);
  });
});

describe('the global cap', () => {
  it('grants only while fewer than maxConcurrent slots are held across agents, in FIFO order', () => {
    const { pool, granted } = setup({ agents: ['claude', 'codex', 'gemini'], limits: { claude: 2 }, maxConcurrent: 2 });
    pool.request(ask('c1'));
    pool.request(ask('g1', 'gemini'));
    pool.request(ask('c2')); // claude has a free slot, but the pool is at its cap
    pool.request(ask('x1', 'codex'));
    pool.request(ask('a1', 'any'));
    expect(granted()).toEqual(['c1:claude', 'g1:gemini']);
    expect(pool.poolStatus()).toMatchObject({ maxConcurrent: 2, running: 2, waiting: 3 });
    // A release frees one global slot: the oldest waiter that has a free agent slot gets it.
    pool.release(free('g1'));
    expect(granted()).toEqual(['c2:claude']);
    pool.release(free('c1'));
    expect(granted()).toEqual(['x1:codex']);
    pool.release(free('c2'));
    expect(granted()).toEqual(['a1:claude']); // the least busy agent, ties by name
  });

  it('never holds more than the cap, whatever the order of requests and releases', () => {
    const { pool, granted } = setup({
      agents: ['claude', 'gemini'],
      limits: { claude: 3, gemini: 3 },
      maxConcurrent: 2,
    });
    const holding = new Set<string>();
    let seed = 11;
    const random = () => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let step = 0, next = 0; step < 300; step++) {
      if (random() < 0.55) pool.request(ask(`r${next++}`, random() < 0.5 ? 'claude' : 'any'));
      else if (holding.size > 0) {
        const id = [...holding][Math.floor(random() * holding.size)] as string;
        pool.release(free(id));
        holding.delete(id);
      }
      for (const g of granted()) holding.add(g.split(':')[0] as string);
      expect(holding.size).toBeLessThanOrEqual(2);
      expect(pool.poolStatus().running).toBe(holding.size);
    }
  });

  it('can be raised, lowered, set to 0 and removed at runtime; holders keep their slots', () => {
    const { pool, granted, logs } = setup({ limits: { claude: 3, gemini: 3 }, maxConcurrent: 1 });
    for (const id of ['a', 'b', 'c', 'd']) pool.request(ask(id));
    expect(granted()).toEqual(['a:claude']);
    expect(pool.setMaxConcurrent({ maxConcurrent: 2 })).toMatchObject({ maxConcurrent: 2, running: 2, waiting: 2 });
    expect(granted()).toEqual(['b:claude']);
    pool.setMaxConcurrent({ maxConcurrent: 0 });
    pool.release(free('a'));
    expect(granted()).toEqual([]);
    expect(pool.poolStatus()).toMatchObject({ maxConcurrent: 0, running: 1, waiting: 2 });
    expect(pool.setMaxConcurrent({ maxConcurrent: null })).not.toHaveProperty('maxConcurrent');
    expect(granted()).toEqual(['c:claude', 'd:claude']);
    expect(logs).toContainEqual({ level: 'info', message: 'Global slot cap changed' });
  });

  it('validates the update and the input, naming the field and the accepted values', () => {
    const { pool } = setup();
    expect(() => pool.validateSetMaxConcurrent({ maxConcurrent: null })).not.toThrow();
    expect(() => pool.validateSetMaxConcurrent({ maxConcurrent: 0 })).not.toThrow();
    for (const bad of [-1, 1.5, 1001, '2', undefined]) {
      expect(() => pool.validateSetMaxConcurrent({ maxConcurrent: bad })).toThrowError(
        /"maxConcurrent" must be a whole number from 0 to 1000 \(0 stops new grants\), or null for no global cap/,
      );
    }
    expect(() => pool.validateSetMaxConcurrent(3)).toThrowError(/expected an object such as \{"maxConcurrent": 4\}/);
    expect(() => checkPoolInput(['claude'], undefined, 'many')).toThrowError(/"maxConcurrent" must be a whole number/);
    expect(() => setup({ maxConcurrent: -2 })).toThrowError(PoolInputError);
  });

  it('is carried over continue-as-new; a snapshot from before the cap takes the input cap', () => {
    const { pool } = setup({ maxConcurrent: 3 });
    pool.setMaxConcurrent({ maxConcurrent: 1 });
    const snapshot = JSON.parse(JSON.stringify(pool.snapshot())) as ReturnType<AgentPool['snapshot']>;
    expect(setup({ maxConcurrent: 3, state: snapshot }).pool.poolStatus().maxConcurrent).toBe(1);

    pool.setMaxConcurrent({ maxConcurrent: null });
    const uncapped = JSON.parse(JSON.stringify(pool.snapshot())) as ReturnType<AgentPool['snapshot']>;
    expect(uncapped.maxConcurrent).toBeNull();
    expect(setup({ maxConcurrent: 3, state: uncapped }).pool.poolStatus()).not.toHaveProperty('maxConcurrent');

    const { maxConcurrent: _dropped, ...old } = snapshot;
    const fromOld = setup({ maxConcurrent: 2, state: old });
    expect(fromOld.pool.poolStatus().maxConcurrent).toBe(2);
    expect(setup({ state: old }).pool.poolStatus()).not.toHaveProperty('maxConcurrent');
  });

  it('shows the cap in the details, and says when it holds requests back', () => {
    const { pool } = setup({ maxConcurrent: 1 });
    expect(pool.renderDetails('agent-pool')).toContain('0 running · 0 waiting · at most 1 at once · 0 granted');
    pool.request(ask('a'));
    pool.request(ask('b', 'gemini'));
    const details = pool.renderDetails('agent-pool');
    expect(details).toContain('at most 1 at once (**reached**: requests wait for any slot to be released)');
    expect(details).toContain('| gemini | 0/1 | 1 | free slot, but the pool is at its cap | 0 |');
    expect(setup().pool.renderDetails('agent-pool')).not.toContain('at once');
  });
});
