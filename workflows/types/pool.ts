/** The agent pool: slot requests, grants and releases, agent statuses, and the pool's carried-over state. */
import type { CompactPoolSnapshot } from '../pool-snapshot.js';
import type { AgentChoice, AgentEvent, AgentType } from './domain.js';

/** A task workflow asks the pool for a slot (signal); idempotent by `requestId`. */
export interface SlotRequest {
  /** Unique per acquisition: a request id that was released once is never granted again. */
  requestId: string;
  /** Where the grant is sent (by signal). */
  workflowId: string;
  /**
   * The requester's run: the leak check asks whether this run closed, so a slot held by a terminated
   * run is reclaimed even when a new run of the same workflow id is already running.
   */
  runId?: string;
  agent: AgentChoice;
  taskId?: string;
}

/** The pool's refusal, signalled to the requester: the request can never be granted (an agent the pool does not run, a reused request id). */
export interface SlotDenial {
  requestId: string;
  reason: string;
}

/** The pool's answer, signalled to the requester. */
export interface SlotGrant {
  requestId: string;
  agent: AgentType;
}

/** What the run that held a slot reports when it gives the slot back. */
export type RunReport =
  | { kind: 'success' }
  | { kind: 'failed'; error: string }
  | { kind: 'rate_limited'; until: string }
  | { kind: 'quota_exhausted'; until: string }
  /** Neither success nor failure of the agent (cancelled, question asked, budget, timeout, never ran). */
  | { kind: 'neutral' };

/** Give a slot back, or withdraw a request that was never granted; idempotent by `requestId`. */
export interface SlotRelease {
  requestId: string;
  report: RunReport;
}

/** One agent's row in the pool's status. */
export interface AgentStatus {
  agent: AgentType;
  limit: number;
  activeTasks: number;
  /** Requests waiting for this agent by name (requests for "any" are shown in the pool's details). */
  waiting: number;
  /** Task workflow ids holding a slot. */
  holders: string[];
  rateLimited: boolean;
  rateLimitedUntil?: string;
  rateLimitReason?: 'transient' | 'quota';
  /** Paused by an operator (until a time, or until resumed). */
  paused: boolean;
  pausedUntil?: string;
  drained: boolean;
  /** The last error when drained. */
  drainReason?: string;
  consecutiveFailures: number;
}

/** The whole pool: the global cap, what holds and waits across agents, and every agent's status. */
export interface PoolStatus {
  /** Slots held at once across all agents; absent: no global cap. */
  maxConcurrent?: number;
  running: number;
  waiting: number;
  agents: AgentStatus[];
}

/** A workflow run the pool knows as a holder or waiter (for the leak check). */
export interface WorkflowRef {
  workflowId: string;
  /** Absent: whichever run of `workflowId` is the latest. */
  runId?: string;
}

/** A granted slot. */
export interface SlotHolder {
  requestId: string;
  workflowId: string;
  runId?: string;
  taskId?: string;
  /** The agent granted. */
  agent: AgentType;
  /** What was asked for: the agent itself or `any`. */
  requested: AgentChoice;
  requestedAt: string;
  grantedAt: string;
}

/** A request in the pool's FIFO. */
export interface SlotWaiter {
  requestId: string;
  workflowId: string;
  runId?: string;
  taskId?: string;
  agent: AgentChoice;
  requestedAt: string;
}

/** One agent's durable state in the pool (what continue-as-new carries). */
export interface PoolAgentState {
  agent: AgentType;
  limit: number;
  consecutiveFailures: number;
  /** The error of the last failed run. */
  lastError?: string;
  drained: boolean;
  drainReason?: string;
  drainedAt?: string;
  /** A rate limit or exhausted quota: no grants until then. */
  rateLimitedUntil?: string;
  rateLimitReason?: 'transient' | 'quota';
  /** Paused by an operator: no grants until resumed, or until `pausedUntil` when set. */
  paused: boolean;
  pausedUntil?: string;
  pauseReason?: string;
}

/** A grant or a denial the pool has decided on and not yet seen delivered. */
export type PoolMessage =
  { kind: 'grant'; workflowId: string; grant: SlotGrant } | { kind: 'deny'; workflowId: string; denial: SlotDenial };

/** Everything the pool knows, as JSON-safe data: carried across continue-as-new. */
export interface AgentPoolSnapshot {
  agents: PoolAgentState[];
  holders: SlotHolder[];
  /** FIFO order. */
  waiters: SlotWaiter[];
  /** Recently released or withdrawn request ids, oldest first: a late duplicate request is refused, not granted. */
  released: string[];
  /** Grants and denials not yet delivered: sent again by the next run (requesters ignore duplicates). */
  outbox: PoolMessage[];
  /** Agent events not yet recorded in Postgres (recording is idempotent by id, so resending is safe). */
  pendingEvents: AgentEvent[];
  stats: PoolStats;
  /** The global cap; null: none. Absent in snapshots of pools older than the cap (then the input's applies). */
  maxConcurrent?: number | null;
}

export interface PoolStats {
  granted: number;
  denied: number;
  /** Slots and requests taken back from workflows that closed without releasing. */
  reclaimed: number;
}

/** The input of `agentPoolWorkflow`; the caller builds it from `config.agents` and `config.agentSlots`. */
export interface AgentPoolInput {
  /** The agents the pool offers. */
  agents: AgentType[];
  /** Slot limit per agent (default 1); an operator's later change (setAgentLimit) wins over this. */
  limits?: Partial<Record<AgentType, number>>;
  /** Slots held at once across all agents (default: no cap); an operator's later change (setMaxConcurrent) wins. */
  maxConcurrent?: number;
  /** How often holders and waiters are checked for closed workflows while there are any (default 60 s). */
  leakCheckIntervalMs?: number;
  /** Continue-as-new once the history has this many events, besides when the server suggests it (tests). */
  continueAsNewAfterEvents?: number;
  /** Mirror drained and paused agents into search attributes (default true; the time-skipping test server has none registered). */
  searchAttributes?: boolean;
  /** The state a previous run carried over, in the full shape or the compact one (pool-snapshot.ts). */
  state?: AgentPoolSnapshot | CompactPoolSnapshot;
}
