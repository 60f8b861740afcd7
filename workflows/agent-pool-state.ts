/**
 * AgentPool: the rules of the agent pool as a plain class, with no Temporal imports, so that every
 * rule is unit-tested without a server. `agentPoolWorkflow` (agent-pool.ts) owns one instance,
 * forwards each signal, update and query to it, sends the grants it decides on, records the events it
 * produces, and carries `snapshot()` across continue-as-new.
 *
 * The model, per agent: a slot limit, the holders, a consecutive-failure counter, a drain flag, a
 * rate-limit pause (until a time, on a durable timer in the workflow) and an operator pause; across
 * agents, an optional global cap on the slots held at once. Waiting requests form one FIFO across
 * agents; after every change each request that can be served now (a free slot of its agent and room
 * under the global cap) is granted, in FIFO order, so a request is never overtaken by
 * a later one that competes for the same agent, and a request for a busy agent never blocks one for a
 * free agent.
 *
 * Inputs from signals are not validated by Temporal, so the signal entry points (`request`,
 * `release`, `reclaim`, `requesterUnreachable`) accept anything and never throw: a malformed signal
 * is logged and ignored, a request for an unknown agent is denied. Operator updates are validated by
 * the `validate*` methods (thrown `PoolInputError`s become update rejections) before the handlers run.
 * See docs/decisions/agent-pool.md for the choices made here.
 *
 * One class on purpose, for all its length: every pool rule touches the same state (slots, FIFO,
 * pauses, drains, the global cap), and the unit tests drive it as one object.
 */
import type {
  AgentEvent,
  AgentEventKind,
  AgentPoolSnapshot,
  AgentStatus,
  AgentType,
  PoolAgentState,
  PoolMessage,
  PoolStats,
  PoolStatus,
  RunReport,
  SlotHolder,
  SlotRelease,
  SlotRequest,
  SlotWaiter,
  WorkflowRef,
} from './types.js';
import {
  compactHolder,
  compactSnapshot,
  compactWaiter,
  expandSnapshot,
  jsonBytes,
  type CompactPoolSnapshot,
} from './pool-snapshot.js';

/** Consecutive failed runs that drain an agent. */
export const DRAIN_AFTER_FAILURES = 2;
/** A rate limit reported without a usable retry-after pauses the agent this long. */
export const DEFAULT_RATE_LIMIT_MS = 60_000;
/** An exhausted quota reported without a usable reset time pauses the agent this long. */
export const DEFAULT_QUOTA_PAUSE_MS = 5 * 60 * 60 * 1000;
/** The most slots an operator may give one agent (the same bound as CLAUDOMATOR_AGENT_SLOTS). */
export const MAX_AGENT_LIMIT = 1000;
/** How many released request ids the pool remembers, to refuse late duplicates of finished requests. */
export const RELEASED_MEMORY = 1000;
/** Unrecorded agent events kept while Postgres is unreachable; the oldest go first beyond this. */
export const MAX_PENDING_EVENTS = 1000;
const MAX_TEXT = 500;
/**
 * What the snapshot carries besides holders, waiters, released ids, messages and events (agents,
 * counters, field names), at most: the size guard adds it to what it counts.
 */
const SNAPSHOT_OVERHEAD_BYTES = 16_384;

/** A rejected operator input: the update's validator throws it and the caller sees its message. */
export class PoolInputError extends Error {
  override readonly name = 'PoolInputError';
}

export interface PoolLogger {
  info(message: string, attrs?: Record<string, unknown>): void;
  warn(message: string, attrs?: Record<string, unknown>): void;
}

const silent: PoolLogger = { info: () => undefined, warn: () => undefined };

export interface AgentPoolOptions {
  agents: readonly AgentType[];
  limits?: Partial<Record<AgentType, number>>;
  /** Slots held at once across all agents; undefined: no global cap. */
  maxConcurrent?: number;
  /** The previous run's state, in either shape: its agents, limits, global cap and pauses win over the options. */
  state?: AgentPoolSnapshot | CompactPoolSnapshot;
  /**
   * The most bytes the compact snapshot may take: a new request that would take it past this is denied
   * (the payload carrying it across continue-as-new must stay under Temporal's 2 MB). Undefined: no guard.
   */
  snapshotLimitBytes?: number;
  /** Epoch milliseconds; the workflow passes `Date.now` (deterministic in the sandbox). */
  clock: () => number;
  /** Prefix of agent event ids (the workflow passes `<workflowId>:<runId>`), so ids are unique and replay-stable. */
  eventIdPrefix: string;
  logger?: PoolLogger;
}

/**
 * Holders and waiters are kept in maps indexed the ways the signals look them up, so that handling a
 * request, a release or a grant costs the same with ten waiters or ten thousand: by request id, by
 * agent, by what was asked for, and by workflow id and run.
 */
export class AgentPool {
  private readonly agents = new Map<string, PoolAgentState>();
  /** Holders by request id, in grant order. */
  private readonly holders = new Map<string, SlotHolder>();
  /** Each agent's holders by request id, in grant order. */
  private readonly heldBy = new Map<string, Map<string, SlotHolder>>();
  /** The FIFO: waiters by request id, in arrival order. */
  private readonly waiters = new Map<string, SlotWaiter>();
  /** The FIFO split by what was asked for (an agent, or `any`), each part in arrival order. */
  private readonly queues = new Map<string, Map<string, SlotWaiter>>();
  /** Arrival order of waiters and grant order of holders, by request id: dispatch compares queue heads by it. */
  private readonly order = new Map<string, number>();
  private nextOrder = 0;
  /** Holders and waiters by workflow id, then request id. */
  private readonly byWorkflow = new Map<string, Map<string, SlotHolder | SlotWaiter>>();
  /** Per workflow id, how many of its holders and waiters each run has (`''`: no run id given). */
  private readonly runsOf = new Map<string, Map<string, number>>();
  /** Each holder's and waiter's size in the compact snapshot, by request id. */
  private readonly entryBytes = new Map<string, number>();
  /** The compact snapshot's size as the guard counts it: holders, waiters, released ids, messages, events. */
  private carriedBytes = 0;
  private readonly snapshotLimitBytes: number | undefined;
  private readonly released: string[];
  private readonly releasedSet: Set<string>;
  private readonly outbox: PoolMessage[];
  /** Taken by the sender and not yet confirmed delivered: carried across continue-as-new with the outbox. */
  private readonly inFlight = new Map<number, PoolMessage>();
  private nextMessageId = 0;
  private readonly events: AgentEvent[];
  private readonly stats: PoolStats;
  private readonly clock: () => number;
  private readonly eventIdPrefix: string;
  private eventSeq = 0;
  private readonly log: PoolLogger;
  /** Slots held at once across all agents; undefined: no global cap. */
  private maxConcurrent: number | undefined;

  /** Bumped by every change the workflow publishes (details, search attributes). */
  version = 0;
  /** Bumped when a pause starts, moves or ends: the workflow re-arms its timer. */
  pauseVersion = 0;
  /** Set when something suggests a holder's run closed (a new run of its workflow asked): check now, not at the next interval. */
  leakCheckRequested = false;

  constructor(options: AgentPoolOptions) {
    this.clock = options.clock;
    this.eventIdPrefix = options.eventIdPrefix;
    this.log = options.logger ?? silent;
    checkPoolInput(options.agents, options.limits, options.maxConcurrent);

    const state = options.state === undefined ? undefined : expandSnapshot(options.state);
    // A snapshot from before the global cap has no such field: the input's cap applies then.
    this.maxConcurrent =
      state !== undefined && 'maxConcurrent' in state ? (state.maxConcurrent ?? undefined) : options.maxConcurrent;
    for (const carried of state?.agents ?? []) this.agents.set(carried.agent, { ...carried });
    for (const agent of options.agents) {
      if (!this.agents.has(agent)) {
        this.agents.set(agent, {
          agent,
          limit: options.limits?.[agent] ?? 1,
          consecutiveFailures: 0,
          drained: false,
          paused: false,
        });
      }
    }
    this.snapshotLimitBytes = options.snapshotLimitBytes;
    for (const h of state?.holders ?? []) this.addHolder({ ...h });
    for (const w of state?.waiters ?? []) this.addWaiter({ ...w });
    this.released = [...(state?.released ?? [])];
    this.releasedSet = new Set(this.released);
    for (const id of this.released) this.carriedBytes += jsonBytes(id) + 1;
    this.outbox = (state?.outbox ?? []).map((m) => ({ ...m }));
    for (const m of this.outbox) this.carriedBytes += jsonBytes(m) + 1;
    this.events = (state?.pendingEvents ?? []).map((e) => ({ ...e }));
    for (const e of this.events) this.carriedBytes += jsonBytes(e) + 1;
    this.stats = { granted: 0, denied: 0, reclaimed: 0, ...state?.stats };
    // A limit raised by a restart's configuration, or pauses that ended while nobody looked.
    this.dispatch();
  }

  // ---- Signals: requests and releases (never throw) ---------------------------------------------

  /** A requester asks for a slot. Idempotent by request id: a repeat of a granted request gets its grant again. */
  request(request: SlotRequest): void {
    if (!isRecord(request) || !nonEmptyString(request.requestId) || !nonEmptyString(request.workflowId)) {
      this.log.warn('Malformed slot request ignored', { request });
      return;
    }
    const { requestId, workflowId } = request;
    const runId = nonEmptyString(request.runId) ? request.runId : undefined;
    const taskId = nonEmptyString(request.taskId) ? request.taskId : undefined;

    const holder = this.holders.get(requestId);
    if (holder) {
      // The grant may not have reached this run (a new run of the same workflow asks again): send it again.
      this.moveTo(holder, workflowId, runId);
      this.send({ kind: 'grant', workflowId, grant: { requestId, agent: holder.agent } });
      return;
    }
    const waiter = this.waiters.get(requestId);
    if (waiter) {
      this.moveTo(waiter, workflowId, runId);
      return;
    }
    if (this.releasedSet.has(requestId)) {
      this.deny(
        workflowId,
        requestId,
        `request ${requestId} was already released; use a new request id per acquisition`,
      );
      return;
    }
    const agent = request.agent;
    if (agent !== 'any' && !this.isConfigured(agent)) {
      this.deny(
        workflowId,
        requestId,
        `unknown agent ${JSON.stringify(agent)}: this pool runs ${this.agentNames().join(', ')} (or "any")`,
      );
      return;
    }
    const runs = this.runsOf.get(workflowId);
    if (runId && runs !== undefined && (runs.size > 1 || !runs.has(runId))) {
      // An earlier run of this workflow still holds or waits: it probably closed without releasing.
      this.leakCheckRequested = true;
    }
    const newWaiter: SlotWaiter = { requestId, workflowId, runId, taskId, agent, requestedAt: this.nowIso() };
    const limit = this.snapshotLimitBytes;
    if (
      limit !== undefined &&
      this.carriedBytes + SNAPSHOT_OVERHEAD_BYTES + jsonBytes(compactWaiter(newWaiter)) > limit
    ) {
      this.deny(
        workflowId,
        requestId,
        `the agent pool is full: ${this.waiters.size} requests wait and ${this.holders.size} hold a slot, and one more ` +
          `would take the state it carries across continue-as-new past ${limit} bytes (Temporal refuses a payload ` +
          `over 2 MB); raise CLAUDOMATOR_POOL_SHARDS to split the pool by agent type, or submit fewer tasks at once`,
      );
      return;
    }
    this.addWaiter(newWaiter);
    this.changed();
    this.dispatch();
  }

  /**
   * A holder gives its slot back with the report of its run, or a waiter withdraws. Idempotent by
   * request id: releasing an unknown or released id only remembers it (so a late request is refused).
   */
  release(release: SlotRelease): void {
    if (!isRecord(release) || !nonEmptyString(release.requestId)) {
      this.log.warn('Malformed slot release ignored', { release });
      return;
    }
    const { requestId } = release;
    const holder = this.holders.get(requestId);
    if (holder) {
      this.removeHolder(holder);
      this.rememberReleased(requestId);
      this.applyReport(holder.agent, release.report);
      this.changed();
      this.dispatch();
      return;
    }
    const waiter = this.waiters.get(requestId);
    if (waiter) {
      // A withdrawal: the agent never ran for this request, so the report (if any) says nothing about it.
      this.removeWaiter(waiter);
      this.rememberReleased(requestId);
      this.changed();
      this.dispatch();
      return;
    }
    this.rememberReleased(requestId);
  }

  /** The leak check found these runs closed: take their slots back and drop their requests. */
  reclaim(closed: readonly WorkflowRef[]): number {
    const matched = new Set<SlotHolder | SlotWaiter>();
    for (const c of closed) {
      for (const p of this.byWorkflow.get(c.workflowId)?.values() ?? []) {
        if (c.runId === undefined || c.runId === p.runId) matched.add(p);
      }
    }
    return this.drop(matched, 'closed without releasing');
  }

  /** Delivering a grant or denial to `workflowId` failed: no run of it is open, so everything it held or asked is dropped. */
  requesterUnreachable(workflowId: string): number {
    return this.drop(new Set(this.byWorkflow.get(workflowId)?.values()), 'unreachable');
  }

  // ---- Operator updates: validators (throw PoolInputError) and handlers -------------------------

  validateAcknowledge(args: unknown): void {
    const input = this.argsObject(args);
    this.validateAgentField(input.agent);
    optionalText(input.by, 'by');
  }

  validateSetLimit(args: unknown): void {
    const input = this.argsObject(args);
    this.validateAgentField(input.agent);
    const { limit } = input;
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0 || limit > MAX_AGENT_LIMIT) {
      throw new PoolInputError(
        `"limit" must be a whole number from 0 to ${MAX_AGENT_LIMIT} (0 stops new grants), got ${JSON.stringify(limit)}`,
      );
    }
  }

  validateSetMaxConcurrent(args: unknown): void {
    const { maxConcurrent } = this.argsObject(args, '{"maxConcurrent": 4}');
    if (maxConcurrent !== null && !isSlotCount(maxConcurrent)) {
      throw new PoolInputError(
        `"maxConcurrent" must be a whole number from 0 to ${MAX_AGENT_LIMIT} (0 stops new grants), or null for no global cap, got ${JSON.stringify(maxConcurrent) ?? 'nothing'}`,
      );
    }
  }

  validatePause(args: unknown): void {
    const input = this.argsObject(args);
    this.validateAgentField(input.agent);
    optionalText(input.reason, 'reason');
    if (input.until !== undefined) {
      const until = parseIsoTime(input.until);
      if (until === undefined || until <= this.clock()) {
        throw new PoolInputError(
          `"until" must be an ISO-8601 time in the future such as "2030-01-01T09:00:00Z" (or left out to pause until resumed), got ${JSON.stringify(input.until)}`,
        );
      }
    }
  }

  validateResume(args: unknown): void {
    this.validateAgentField(this.argsObject(args).agent);
  }

  /** Undrain an agent and reset its failure counter; a no-op on one that is not drained. */
  acknowledge(args: { agent: string; by?: string }): AgentStatus {
    const state = this.agentState(args.agent);
    const wasDrained = state.drained;
    state.drained = false;
    state.consecutiveFailures = 0;
    delete state.drainReason;
    delete state.drainedAt;
    if (wasDrained) {
      this.record(state.agent, 'acknowledged', { reason: args.by ? `by ${args.by}` : undefined });
      this.log.info('Agent acknowledged', { agent: state.agent, by: args.by });
    }
    this.changed();
    this.dispatch();
    return this.status(state);
  }

  setLimit(args: { agent: string; limit: number }): AgentStatus {
    const state = this.agentState(args.agent);
    state.limit = args.limit;
    this.log.info('Agent slot limit changed', { agent: state.agent, limit: args.limit });
    this.changed();
    this.dispatch();
    return this.status(state);
  }

  /** Set or (null) remove the global cap. Lowering it below the slots held takes none back: holders finish first. */
  setMaxConcurrent(args: { maxConcurrent: number | null }): PoolStatus {
    this.maxConcurrent = args.maxConcurrent ?? undefined;
    this.log.info('Global slot cap changed', { maxConcurrent: args.maxConcurrent });
    this.changed();
    this.dispatch();
    return this.poolStatus();
  }

  /** Stop grants to an agent until resumed, or until `until`. Holders keep their slots. */
  pause(args: { agent: string; until?: string; reason?: string }): AgentStatus {
    const state = this.agentState(args.agent);
    state.paused = true;
    if (args.until === undefined) delete state.pausedUntil;
    else state.pausedUntil = new Date(parseIsoTime(args.until) ?? this.clock()).toISOString();
    if (args.reason === undefined) delete state.pauseReason;
    else state.pauseReason = args.reason;
    this.record(state.agent, 'paused', { until: state.pausedUntil, reason: args.reason });
    this.pauseVersion++;
    this.changed();
    return this.status(state);
  }

  /** End an operator pause and any rate-limit or quota pause of the agent (the operator knows better). */
  resume(args: { agent: string }): AgentStatus {
    const state = this.agentState(args.agent);
    const endedRateLimit = state.rateLimitedUntil !== undefined;
    if (state.paused || endedRateLimit) {
      const reason = endedRateLimit
        ? `resumed by an operator, ending a ${state.rateLimitReason ?? 'transient'} pause early`
        : 'resumed by an operator';
      state.paused = false;
      delete state.pausedUntil;
      delete state.pauseReason;
      delete state.rateLimitedUntil;
      delete state.rateLimitReason;
      this.record(state.agent, 'resumed', { reason });
      this.pauseVersion++;
      this.changed();
      this.dispatch();
    }
    return this.status(state);
  }

  // ---- Timers -------------------------------------------------------------------------------------

  /** When the next pause ends (epoch ms), and which agent's; undefined when nothing is paused until a time. */
  nextDeadline(): { at: number; agent: AgentType; kind: 'rate limit' | 'pause' } | undefined {
    let next: { at: number; agent: AgentType; kind: 'rate limit' | 'pause' } | undefined;
    for (const state of this.agentStates()) {
      for (const [iso, kind] of [
        [state.rateLimitedUntil, 'rate limit'],
        [state.paused ? state.pausedUntil : undefined, 'pause'],
      ] as const) {
        const at = iso === undefined ? undefined : Date.parse(iso);
        if (at !== undefined && (next === undefined || at < next.at)) next = { at, agent: state.agent, kind };
      }
    }
    return next;
  }

  /** End every pause whose time has come (the workflow's timer fired), then grant what waits. */
  expire(asOf: number = this.clock()): void {
    let ended = false;
    for (const state of this.agentStates()) {
      if (state.rateLimitedUntil !== undefined && Date.parse(state.rateLimitedUntil) <= asOf) {
        const reason = state.rateLimitReason;
        delete state.rateLimitedUntil;
        delete state.rateLimitReason;
        this.record(state.agent, 'available', { reason: reason === 'quota' ? 'quota reset' : 'rate limit ended' });
        this.log.info('Agent available again', { agent: state.agent });
        ended = true;
      }
      if (state.paused && state.pausedUntil !== undefined && Date.parse(state.pausedUntil) <= asOf) {
        state.paused = false;
        delete state.pausedUntil;
        delete state.pauseReason;
        this.record(state.agent, 'resumed', { reason: 'operator pause ended' });
        ended = true;
      }
    }
    if (ended) {
      this.pauseVersion++;
      this.changed();
      this.dispatch();
    }
  }

  // ---- Outputs: messages to send, events to record, status ----------------------------------------

  hasMessages(): boolean {
    return this.outbox.length > 0;
  }

  /** Take the messages to send; each stays in the snapshot until `delivered(id)`. */
  takeMessages(): Array<{ id: number; message: PoolMessage }> {
    return this.outbox.splice(0).map((message) => {
      const id = this.nextMessageId++;
      this.inFlight.set(id, message);
      return { id, message };
    });
  }

  /** A taken message was delivered (or its requester was found gone): forget it. */
  delivered(id: number): void {
    const message = this.inFlight.get(id);
    if (message === undefined) return;
    this.inFlight.delete(id);
    this.carriedBytes -= jsonBytes(message) + 1;
  }

  hasEvents(): boolean {
    return this.events.length > 0;
  }

  /** The oldest unrecorded event; it stays pending until `recorded(id)`. */
  peekEvent(): AgentEvent | undefined {
    return this.events[0];
  }

  recorded(id: string): void {
    const index = this.events.findIndex((e) => e.id === id);
    if (index < 0) return;
    const [event] = this.events.splice(index, 1);
    this.carriedBytes -= jsonBytes(event) + 1;
  }

  hasParticipants(): boolean {
    return this.holders.size > 0 || this.waiters.size > 0;
  }

  /** Every run that holds or waits for a slot, once each: what the leak check asks about. */
  participants(): WorkflowRef[] {
    const seen = new Set<string>();
    const refs: WorkflowRef[] = [];
    for (const p of [...this.holders.values(), ...this.waiters.values()]) {
      const key = `${p.workflowId}\u0000${p.runId ?? ''}`;
      if (seen.has(key)) continue;
      seen.add(key);
      refs.push(p.runId === undefined ? { workflowId: p.workflowId } : { workflowId: p.workflowId, runId: p.runId });
    }
    return refs;
  }

  statuses(): AgentStatus[] {
    return this.agentStates().map((state) => this.status(state));
  }

  poolStatus(): PoolStatus {
    return {
      ...(this.maxConcurrent !== undefined ? { maxConcurrent: this.maxConcurrent } : {}),
      running: this.holders.size,
      waiting: this.waiters.size,
      agents: this.statuses(),
    };
  }

  waiting(): SlotWaiter[] {
    return [...this.waiters.values()].map((w) => ({ ...w }));
  }

  holding(): SlotHolder[] {
    return [...this.holders.values()].map((h) => ({ ...h }));
  }

  drainedAgents(): AgentType[] {
    return this.agentStates()
      .filter((s) => s.drained)
      .map((s) => s.agent);
  }

  /** Agents that get no grants because of a rate limit, a quota or an operator. */
  pausedAgents(): AgentType[] {
    return this.agentStates()
      .filter((s) => s.paused || s.rateLimitedUntil !== undefined)
      .map((s) => s.agent);
  }

  getStats(): PoolStats {
    return { ...this.stats };
  }

  /** The full state as JSON-safe data; undelivered messages go back to the outbox, in their order. */
  snapshot(): AgentPoolSnapshot {
    const copy = <T>(value: T): T => JSON.parse(JSON.stringify(value)) as T;
    return copy({
      agents: this.agentStates(),
      holders: [...this.holders.values()],
      waiters: [...this.waiters.values()],
      released: this.released,
      outbox: [...this.inFlight.values(), ...this.outbox],
      pendingEvents: this.events,
      stats: this.stats,
      maxConcurrent: this.maxConcurrent ?? null,
    });
  }

  /** The snapshot in the compact shape (pool-snapshot.ts): what runs with the `pool-compact-snapshot` patch carry. */
  compactSnapshot(): CompactPoolSnapshot {
    return compactSnapshot(this.snapshot());
  }

  /** Markdown for the Web UI's current details: one row per agent, then what an operator must do. */
  renderDetails(poolWorkflowId: string): string {
    const anyWaiting = this.queues.get('any')?.size ?? 0;
    const cap =
      this.maxConcurrent === undefined
        ? ''
        : ` · at most ${this.maxConcurrent} at once${this.underGlobalCap() ? '' : ' (**reached**: requests wait for any slot to be released)'}`;
    const lines = [
      `**Agent pool** · ${this.holders.size} running · ${this.waiters.size} waiting` +
        (anyWaiting > 0 ? ` (${anyWaiting} for any agent)` : '') +
        cap +
        ` · ${this.stats.granted} granted so far`,
      '',
      '| agent | slots in use | waiting | state | consecutive failures |',
      '| --- | --- | --- | --- | --- |',
    ];
    for (const status of this.statuses()) {
      lines.push(
        `| ${status.agent} | ${status.activeTasks}/${status.limit} | ${status.waiting} | ${describeState(status, !this.underGlobalCap())} | ${status.consecutiveFailures} |`,
      );
    }
    for (const state of this.agentStates().filter((s) => s.drained)) {
      const input = JSON.stringify({ agent: state.agent });
      lines.push(
        '',
        `**${state.agent} is drained** after ${DRAIN_AFTER_FAILURES} consecutive failed runs; no task gets it until an operator acknowledges.`,
        `Last error: \`${oneLine(state.drainReason ?? 'unknown', 300).replace(/`/g, "'")}\``,
        `Acknowledge: \`claudomator agents ack ${state.agent}\` or ` +
          `\`temporal workflow update execute --workflow-id ${poolWorkflowId} --name acknowledgeAgent --input '${input}'\``,
      );
    }
    return lines.join('\n');
  }

  // ---- Internals ----------------------------------------------------------------------------------

  /**
   * Grant every waiting request that can be served now, in FIFO order. Granting only takes slots, so a
   * request that cannot be served now cannot be served later in the same pass, nor can any later one
   * asking for the same thing: the pass is a merge of the per-choice queues, each time granting the
   * earliest head among the queues whose choice can be served, which grants what a scan of the whole
   * FIFO would, in the same order, looking at one head per queue instead of every waiter.
   */
  private dispatch(): void {
    let granted = false;
    while (this.underGlobalCap()) {
      let next: { waiter: SlotWaiter; agent: AgentType } | undefined;
      for (const [choice, queue] of this.queues) {
        const head = queue.values().next().value;
        if (head === undefined || (next !== undefined && this.orderOf(head) > this.orderOf(next.waiter))) continue;
        const agent = choice === 'any' ? this.pickAny() : this.grantable(choice) ? (choice as AgentType) : undefined;
        if (agent !== undefined) next = { waiter: head, agent };
      }
      if (next === undefined) break;
      const { waiter, agent } = next;
      this.removeWaiter(waiter);
      this.addHolder({
        requestId: waiter.requestId,
        workflowId: waiter.workflowId,
        runId: waiter.runId,
        taskId: waiter.taskId,
        agent,
        requested: waiter.agent,
        requestedAt: waiter.requestedAt,
        grantedAt: this.nowIso(),
      });
      this.stats.granted++;
      this.send({ kind: 'grant', workflowId: waiter.workflowId, grant: { requestId: waiter.requestId, agent } });
      granted = true;
    }
    if (granted) this.changed();
  }

  /**
   * "any": the grantable agent (not drained, not paused or rate-limited, a free slot) with the fewest
   * active tasks, ties by name. When every agent is rate-limited an "any" request waits, and goes to
   * whichever agent frees up first (docs/decisions/agent-pool.md).
   * The `command` agent is never picked: it runs a given command line and cannot take instructions.
   */
  private pickAny(): AgentType | undefined {
    let best: { agent: AgentType; active: number } | undefined;
    for (const state of this.agentStates()) {
      if (state.agent === 'command' || !this.grantable(state.agent)) continue;
      const active = this.activeTasks(state.agent);
      if (best === undefined || active < best.active || (active === best.active && state.agent < best.agent)) {
        best = { agent: state.agent, active };
      }
    }
    return best?.agent;
  }

  private grantable(agent: string): boolean {
    const state = this.agents.get(agent);
    return (
      state !== undefined &&
      !state.drained &&
      !state.paused &&
      state.rateLimitedUntil === undefined &&
      this.activeTasks(state.agent) < state.limit
    );
  }

  /** Room for one more holder under the global cap (the per-agent limits are `grantable`'s). */
  private underGlobalCap(): boolean {
    return this.maxConcurrent === undefined || this.holders.size < this.maxConcurrent;
  }

  /** `report` comes from a signal: typed `RunReport`, but checked as if it could be anything. */
  private applyReport(agent: AgentType, report: RunReport | undefined): void {
    const state = this.agents.get(agent);
    if (!state) return;
    const fields: Record<string, unknown> = isRecord(report) ? report : {};
    const kind = fields.kind;
    switch (kind) {
      case 'success':
        state.consecutiveFailures = 0;
        delete state.lastError;
        return;
      case 'failed': {
        const error = oneLine(nonEmptyString(fields.error) ? fields.error : 'no error given', MAX_TEXT);
        state.consecutiveFailures++;
        state.lastError = error;
        if (state.drained) {
          state.drainReason = error;
        } else if (state.consecutiveFailures >= DRAIN_AFTER_FAILURES) {
          state.drained = true;
          state.drainReason = error;
          state.drainedAt = this.nowIso();
          this.record(agent, 'drained', { reason: error });
          this.log.warn('Agent drained after consecutive failures', {
            agent,
            failures: state.consecutiveFailures,
            error,
          });
        }
        return;
      }
      case 'rate_limited':
      case 'quota_exhausted':
        this.startRateLimit(state, kind === 'quota_exhausted' ? 'quota' : 'transient', fields.until);
        return;
      case 'neutral':
        return;
      default:
        this.log.warn('Release with an unknown report kind counted as neutral', { agent, report });
    }
  }

  /** A rate limit is not a failure: it only pauses grants. */
  private startRateLimit(state: PoolAgentState, reason: 'transient' | 'quota', untilIso: unknown): void {
    const now = this.clock();
    let until = parseIsoTime(untilIso);
    if (until === undefined) {
      until = now + (reason === 'quota' ? DEFAULT_QUOTA_PAUSE_MS : DEFAULT_RATE_LIMIT_MS);
      this.log.warn('Rate limit without a usable time; using the default pause', {
        agent: state.agent,
        until: untilIso,
      });
    }
    if (until <= now) return;
    const current = state.rateLimitedUntil === undefined ? undefined : Date.parse(state.rateLimitedUntil);
    // Two holders may both hit the limit: the later end wins, and only a change is recorded.
    if (current !== undefined && current >= until) return;
    state.rateLimitedUntil = new Date(until).toISOString();
    state.rateLimitReason = reason;
    this.record(state.agent, 'rate_limited', { until: state.rateLimitedUntil, reason });
    this.log.info('Agent rate limited', { agent: state.agent, until: state.rateLimitedUntil, reason });
    this.pauseVersion++;
  }

  /** Drop these holders and waiters: holders first, then waiters, each newest first. */
  private drop(matched: ReadonlySet<SlotHolder | SlotWaiter>, why: string): number {
    const newestFirst = (list: Array<SlotHolder | SlotWaiter>) =>
      list.sort((a, b) => this.orderOf(b) - this.orderOf(a));
    const all = [...matched];
    const holders = newestFirst(all.filter((p) => this.holders.get(p.requestId) === p));
    const waiters = newestFirst(all.filter((p) => this.waiters.get(p.requestId) === p));
    for (const [list, message] of [
      [holders, 'Slot reclaimed'],
      [waiters, 'Slot request dropped'],
    ] as const) {
      for (const p of list) {
        if (list === holders) this.removeHolder(p as SlotHolder);
        else this.removeWaiter(p);
        this.rememberReleased(p.requestId);
        this.log.warn(message, { requestId: p.requestId, workflowId: p.workflowId, taskId: p.taskId, why });
      }
    }
    const count = holders.length + waiters.length;
    if (count > 0) {
      this.stats.reclaimed += count;
      this.changed();
      this.dispatch();
    }
    return count;
  }

  private deny(workflowId: string, requestId: string, reason: string): void {
    this.stats.denied++;
    this.log.warn('Slot request denied', { requestId, workflowId, reason });
    this.send({ kind: 'deny', workflowId, denial: { requestId, reason } });
    this.changed();
  }

  private send(message: PoolMessage): void {
    this.outbox.push(message);
    this.carriedBytes += jsonBytes(message) + 1;
  }

  private record(agent: AgentType, event: AgentEventKind, extra: { until?: string; reason?: string }): void {
    const entry: AgentEvent = { id: `${this.eventIdPrefix}:${this.eventSeq++}`, agent, event, at: this.nowIso() };
    if (extra.until !== undefined) entry.until = extra.until;
    if (extra.reason !== undefined) entry.reason = extra.reason;
    this.events.push(entry);
    this.carriedBytes += jsonBytes(entry) + 1;
    if (this.events.length > MAX_PENDING_EVENTS) {
      const dropped = this.events.shift();
      this.carriedBytes -= jsonBytes(dropped) + 1;
      this.log.warn('Agent event dropped: too many unrecorded events', { event: dropped });
    }
  }

  private rememberReleased(requestId: string): void {
    if (this.releasedSet.has(requestId)) return;
    this.released.push(requestId);
    this.releasedSet.add(requestId);
    this.carriedBytes += jsonBytes(requestId) + 1;
    while (this.released.length > RELEASED_MEMORY) {
      const forgotten = this.released.shift() as string;
      this.releasedSet.delete(forgotten);
      this.carriedBytes -= jsonBytes(forgotten) + 1;
    }
  }

  private addWaiter(waiter: SlotWaiter): void {
    this.waiters.set(waiter.requestId, waiter);
    let queue = this.queues.get(waiter.agent);
    if (queue === undefined) this.queues.set(waiter.agent, (queue = new Map<string, SlotWaiter>()));
    queue.set(waiter.requestId, waiter);
    this.order.set(waiter.requestId, this.nextOrder++);
    this.index(waiter, jsonBytes(compactWaiter(waiter)) + 1);
  }

  private removeWaiter(waiter: SlotWaiter): void {
    this.waiters.delete(waiter.requestId);
    this.queues.get(waiter.agent)?.delete(waiter.requestId);
    this.order.delete(waiter.requestId);
    this.unindex(waiter);
  }

  private addHolder(holder: SlotHolder): void {
    this.holders.set(holder.requestId, holder);
    let held = this.heldBy.get(holder.agent);
    if (held === undefined) this.heldBy.set(holder.agent, (held = new Map<string, SlotHolder>()));
    held.set(holder.requestId, holder);
    this.order.set(holder.requestId, this.nextOrder++);
    this.index(holder, jsonBytes(compactHolder(holder)) + 1);
  }

  private removeHolder(holder: SlotHolder): void {
    this.holders.delete(holder.requestId);
    this.heldBy.get(holder.agent)?.delete(holder.requestId);
    this.order.delete(holder.requestId);
    this.unindex(holder);
  }

  /** A repeated request names the workflow and run to send to now. */
  private moveTo(p: SlotHolder | SlotWaiter, workflowId: string, runId: string | undefined): void {
    this.unindex(p);
    p.workflowId = workflowId;
    p.runId = runId;
    this.index(p, jsonBytes(this.holders.has(p.requestId) ? compactHolder(p as SlotHolder) : compactWaiter(p)) + 1);
  }

  /** Count a holder or waiter in the workflow index and the carried size. */
  private index(p: SlotHolder | SlotWaiter, bytes: number): void {
    let byRequest = this.byWorkflow.get(p.workflowId);
    if (byRequest === undefined)
      this.byWorkflow.set(p.workflowId, (byRequest = new Map<string, SlotHolder | SlotWaiter>()));
    byRequest.set(p.requestId, p);
    let runs = this.runsOf.get(p.workflowId);
    if (runs === undefined) this.runsOf.set(p.workflowId, (runs = new Map<string, number>()));
    const run = p.runId ?? '';
    runs.set(run, (runs.get(run) ?? 0) + 1);
    this.entryBytes.set(p.requestId, bytes);
    this.carriedBytes += bytes;
  }

  private unindex(p: SlotHolder | SlotWaiter): void {
    const byRequest = this.byWorkflow.get(p.workflowId);
    byRequest?.delete(p.requestId);
    if (byRequest?.size === 0) this.byWorkflow.delete(p.workflowId);
    const runs = this.runsOf.get(p.workflowId);
    const run = p.runId ?? '';
    const left = (runs?.get(run) ?? 0) - 1;
    if (left > 0) runs?.set(run, left);
    else runs?.delete(run);
    if (runs?.size === 0) this.runsOf.delete(p.workflowId);
    this.carriedBytes -= this.entryBytes.get(p.requestId) ?? 0;
    this.entryBytes.delete(p.requestId);
  }

  private orderOf(p: SlotHolder | SlotWaiter): number {
    return this.order.get(p.requestId) ?? 0;
  }

  private status(state: PoolAgentState): AgentStatus {
    const status: AgentStatus = {
      agent: state.agent,
      limit: state.limit,
      activeTasks: this.activeTasks(state.agent),
      waiting: this.queues.get(state.agent)?.size ?? 0,
      holders: [...(this.heldBy.get(state.agent)?.values() ?? [])].map((h) => h.workflowId),
      rateLimited: state.rateLimitedUntil !== undefined,
      paused: state.paused,
      drained: state.drained,
      consecutiveFailures: state.consecutiveFailures,
    };
    if (state.rateLimitedUntil !== undefined) status.rateLimitedUntil = state.rateLimitedUntil;
    if (state.rateLimitReason !== undefined) status.rateLimitReason = state.rateLimitReason;
    if (state.pausedUntil !== undefined) status.pausedUntil = state.pausedUntil;
    if (state.drainReason !== undefined) status.drainReason = state.drainReason;
    return status;
  }

  private activeTasks(agent: string): number {
    return this.heldBy.get(agent)?.size ?? 0;
  }

  /** Agents in name order: the order of statuses, details and the "any" tie-break. */
  private agentStates(): PoolAgentState[] {
    return [...this.agents.values()].sort((a, b) => (a.agent < b.agent ? -1 : a.agent > b.agent ? 1 : 0));
  }

  private agentNames(): string[] {
    return this.agentStates().map((s) => s.agent);
  }

  private isConfigured(agent: unknown): agent is AgentType {
    return typeof agent === 'string' && this.agents.has(agent);
  }

  private agentState(agent: string): PoolAgentState {
    const state = this.agents.get(agent);
    if (!state) throw new PoolInputError(this.unknownAgentMessage(agent));
    return state;
  }

  private validateAgentField(agent: unknown): void {
    if (!this.isConfigured(agent)) throw new PoolInputError(this.unknownAgentMessage(agent));
  }

  private unknownAgentMessage(agent: unknown): string {
    return `"agent" must be one of the agents this pool runs (${this.agentNames().join(', ')}), got ${JSON.stringify(agent) ?? 'nothing'}`;
  }

  private argsObject(args: unknown, example = '{"agent": "claude"}'): Record<string, unknown> {
    if (!isRecord(args)) {
      throw new PoolInputError(`expected an object such as ${example}, got ${JSON.stringify(args) ?? 'nothing'}`);
    }
    return args;
  }

  private changed(): void {
    this.version++;
  }

  private nowIso(): string {
    return new Date(this.clock()).toISOString();
  }
}

/** Check a pool's input (the workflow fails at start on a bad one, naming the field). */
export function checkPoolInput(agents: unknown, limits: unknown, maxConcurrent?: unknown): void {
  if (!Array.isArray(agents) || agents.length === 0 || !agents.every(nonEmptyString)) {
    throw new PoolInputError(`"agents" must be a non-empty list of agent names, got ${JSON.stringify(agents)}`);
  }
  if (maxConcurrent !== undefined && !isSlotCount(maxConcurrent)) {
    throw new PoolInputError(
      `"maxConcurrent" must be a whole number from 0 to ${MAX_AGENT_LIMIT} (or left out for no global cap), got ${JSON.stringify(maxConcurrent)}`,
    );
  }
  if (limits === undefined) return;
  if (!isRecord(limits)) throw new PoolInputError(`"limits" must be an object such as {"claude": 2}`);
  for (const [agent, limit] of Object.entries(limits)) {
    if (typeof limit !== 'number' || !Number.isInteger(limit) || limit < 0 || limit > MAX_AGENT_LIMIT) {
      throw new PoolInputError(
        `"limits.${agent}" must be a whole number from 0 to ${MAX_AGENT_LIMIT}, got ${JSON.stringify(limit)}`,
      );
    }
  }
}

function describeState(status: AgentStatus, poolFull: boolean): string {
  const parts: string[] = [];
  if (status.drained) parts.push('**drained**');
  if (status.rateLimited) {
    parts.push(
      `${status.rateLimitReason === 'quota' ? 'quota exhausted' : 'rate-limited'} until ${status.rateLimitedUntil}`,
    );
  }
  if (status.paused) parts.push(status.pausedUntil ? `paused until ${status.pausedUntil}` : 'paused until resumed');
  if (parts.length === 0) {
    parts.push(
      status.activeTasks >= status.limit ? 'busy' : poolFull ? 'free slot, but the pool is at its cap' : 'available',
    );
  }
  return parts.join(', ');
}

/** Epoch ms of an ISO-8601 time (a date and a time, as `toISOString` writes), else undefined. */
export function parseIsoTime(value: unknown): number | undefined {
  if (typeof value !== 'string' || !/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}/.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : undefined;
}

function optionalText(value: unknown, field: string): void {
  if (value === undefined) return;
  if (typeof value !== 'string' || value.length > MAX_TEXT) {
    throw new PoolInputError(`"${field}" must be text of at most ${MAX_TEXT} characters, got ${JSON.stringify(value)}`);
  }
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}

function isSlotCount(value: unknown): value is number {
  return typeof value === 'number' && Number.isInteger(value) && value >= 0 && value <= MAX_AGENT_LIMIT;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function nonEmptyString(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0;
}
