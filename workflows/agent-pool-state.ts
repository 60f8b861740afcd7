/**
 * AgentPool: the rules of the agent pool as a plain class, with no Temporal imports, so that every
 * rule is unit-tested without a server. `agentPoolWorkflow` (agent-pool.ts) owns one instance,
 * forwards each signal, update and query to it, sends the grants it decides on, records the events it
 * produces, and carries `snapshot()` across continue-as-new.
 *
 * The model, per agent: a slot limit, the holders, a consecutive-failure counter, a drain flag, a
 * rate-limit pause (until a time, on a durable timer in the workflow) and an operator pause; across
 * agents, an optional global cap on the slots held at once. Waiting requests form one FIFO across
 * agents; after every change the FIFO is scanned in order and each request that can be served now (a
 * free slot of its agent and room under the global cap) is granted, so a request is never overtaken by
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
  /** The previous run's state: its agents, limits, global cap and pauses win over the options. */
  state?: AgentPoolSnapshot;
  /** Epoch milliseconds; the workflow passes `Date.now` (deterministic in the sandbox). */
  clock: () => number;
  /** Prefix of agent event ids (the workflow passes `<workflowId>:<runId>`), so ids are unique and replay-stable. */
  eventIdPrefix: string;
  logger?: PoolLogger;
}

export class AgentPool {
  private readonly agents = new Map<string, PoolAgentState>();
  private readonly holders: SlotHolder[];
  private readonly waiters: SlotWaiter[];
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

    const state = options.state;
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
    this.holders = (state?.holders ?? []).map((h) => ({ ...h }));
    this.waiters = (state?.waiters ?? []).map((w) => ({ ...w }));
    this.released = [...(state?.released ?? [])];
    this.releasedSet = new Set(this.released);
    this.outbox = (state?.outbox ?? []).map((m) => ({ ...m }));
    this.events = (state?.pendingEvents ?? []).map((e) => ({ ...e }));
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

    const holder = this.holders.find((h) => h.requestId === requestId);
    if (holder) {
      // The grant may not have reached this run (a new run of the same workflow asks again): send it again.
      holder.workflowId = workflowId;
      holder.runId = runId;
      this.send({ kind: 'grant', workflowId, grant: { requestId, agent: holder.agent } });
      return;
    }
    const waiter = this.waiters.find((w) => w.requestId === requestId);
    if (waiter) {
      waiter.workflowId = workflowId;
      waiter.runId = runId;
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
    if (runId && [...this.holders, ...this.waiters].some((p) => p.workflowId === workflowId && p.runId !== runId)) {
      // An earlier run of this workflow still holds or waits: it probably closed without releasing.
      this.leakCheckRequested = true;
    }
    this.waiters.push({ requestId, workflowId, runId, taskId, agent, requestedAt: this.nowIso() });
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
    const holderIndex = this.holders.findIndex((h) => h.requestId === requestId);
    if (holderIndex >= 0) {
      const [holder] = this.holders.splice(holderIndex, 1) as [SlotHolder];
      this.rememberReleased(requestId);
      this.applyReport(holder.agent, release.report);
      this.changed();
      this.dispatch();
      return;
    }
    const waiterIndex = this.waiters.findIndex((w) => w.requestId === requestId);
    if (waiterIndex >= 0) {
      // A withdrawal: the agent never ran for this request, so the report (if any) says nothing about it.
      this.waiters.splice(waiterIndex, 1);
      this.rememberReleased(requestId);
      this.changed();
      this.dispatch();
      return;
    }
    this.rememberReleased(requestId);
  }

  /** The leak check found these runs closed: take their slots back and drop their requests. */
  reclaim(closed: readonly WorkflowRef[]): number {
    const matches = (p: { workflowId: string; runId?: string }): boolean =>
      closed.some((c) => c.workflowId === p.workflowId && (c.runId === undefined || c.runId === p.runId));
    return this.drop(matches, 'closed without releasing');
  }

  /** Delivering a grant or denial to `workflowId` failed: no run of it is open, so everything it held or asked is dropped. */
  requesterUnreachable(workflowId: string): number {
    return this.drop((p) => p.workflowId === workflowId, 'unreachable');
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
    this.inFlight.delete(id);
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
    if (index >= 0) this.events.splice(index, 1);
  }

  hasParticipants(): boolean {
    return this.holders.length > 0 || this.waiters.length > 0;
  }

  /** Every run that holds or waits for a slot, once each: what the leak check asks about. */
  participants(): WorkflowRef[] {
    const seen = new Set<string>();
    const refs: WorkflowRef[] = [];
    for (const p of [...this.holders, ...this.waiters]) {
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
      running: this.holders.length,
      waiting: this.waiters.length,
      agents: this.statuses(),
    };
  }

  waiting(): SlotWaiter[] {
    return this.waiters.map((w) => ({ ...w }));
  }

  holding(): SlotHolder[] {
    return this.holders.map((h) => ({ ...h }));
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
      holders: this.holders,
      waiters: this.waiters,
      released: this.released,
      outbox: [...this.inFlight.values(), ...this.outbox],
      pendingEvents: this.events,
      stats: this.stats,
      maxConcurrent: this.maxConcurrent ?? null,
    });
  }

  /** Markdown for the Web UI's current details: one row per agent, then what an operator must do. */
  renderDetails(poolWorkflowId: string): string {
    const anyWaiting = this.waiters.filter((w) => w.agent === 'any').length;
    const cap =
      this.maxConcurrent === undefined
        ? ''
        : ` · at most ${this.maxConcurrent} at once${this.underGlobalCap() ? '' : ' (**reached**: requests wait for any slot to be released)'}`;
    const lines = [
      `**Agent pool** · ${this.holders.length} running · ${this.waiters.length} waiting` +
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

  /** Grant every waiting request that can be served now, in FIFO order. */
  private dispatch(): void {
    let granted = false;
    for (let i = 0; i < this.waiters.length && this.underGlobalCap() && this.anyAgentGrantable();) {
      const waiter = this.waiters[i] as SlotWaiter;
      const agent = waiter.agent === 'any' ? this.pickAny() : this.grantable(waiter.agent) ? waiter.agent : undefined;
      if (agent === undefined) {
        i++;
        continue;
      }
      this.waiters.splice(i, 1);
      this.holders.push({
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
    return this.maxConcurrent === undefined || this.holders.length < this.maxConcurrent;
  }

  private anyAgentGrantable(): boolean {
    return this.agentStates().some((s) => this.grantable(s.agent));
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

  private drop(matches: (p: { workflowId: string; runId?: string }) => boolean, why: string): number {
    let count = 0;
    for (const list of [this.holders, this.waiters] as Array<Array<SlotHolder | SlotWaiter>>) {
      for (let i = list.length - 1; i >= 0; i--) {
        const p = list[i] as SlotHolder | SlotWaiter;
        if (!matches(p)) continue;
        list.splice(i, 1);
        this.rememberReleased(p.requestId);
        this.log.warn(list === this.holders ? 'Slot reclaimed' : 'Slot request dropped', {
          requestId: p.requestId,
          workflowId: p.workflowId,
          taskId: p.taskId,
          why,
        });
        count++;
      }
    }
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
  }

  private record(agent: AgentType, event: AgentEventKind, extra: { until?: string; reason?: string }): void {
    const entry: AgentEvent = { id: `${this.eventIdPrefix}:${this.eventSeq++}`, agent, event, at: this.nowIso() };
    if (extra.until !== undefined) entry.until = extra.until;
    if (extra.reason !== undefined) entry.reason = extra.reason;
    this.events.push(entry);
    if (this.events.length > MAX_PENDING_EVENTS) {
      const dropped = this.events.shift();
      this.log.warn('Agent event dropped: too many unrecorded events', { event: dropped });
    }
  }

  private rememberReleased(requestId: string): void {
    if (this.releasedSet.has(requestId)) return;
    this.released.push(requestId);
    this.releasedSet.add(requestId);
    while (this.released.length > RELEASED_MEMORY) this.releasedSet.delete(this.released.shift() as string);
  }

  private status(state: PoolAgentState): AgentStatus {
    const status: AgentStatus = {
      agent: state.agent,
      limit: state.limit,
      activeTasks: this.activeTasks(state.agent),
      waiting: this.waiters.filter((w) => w.agent === state.agent).length,
      holders: this.holders.filter((h) => h.agent === state.agent).map((h) => h.workflowId),
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
    let count = 0;
    for (const h of this.holders) if (h.agent === agent) count++;
    return count;
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
