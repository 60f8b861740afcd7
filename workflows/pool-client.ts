/**
 * PoolClient: the requester's side of the agent pool, for use inside a workflow (the task workflow).
 * Create it at the start of the workflow, before any `await`, because its constructor registers the
 * `slotGranted` and `slotDenied` handlers and a grant must never arrive at a workflow without them.
 *
 * ```ts
 * const pool = new PoolClient({ poolWorkflowId });
 * const grant = await pool.acquire({ requestId: uuid4(), agent: 'any', taskId });
 * try { … run grant.agent … } finally { await pool.release({ requestId, report }); }
 * ```
 *
 * - `acquire` signals the pool and waits for its answer (a slot may take hours: rate limits, quotas,
 *   drains). If the pool is not running it starts it with the `ensureAgentPool` activity and asks
 *   again. If the wait is cancelled, the request is withdrawn in a non-cancellable scope. A denial
 *   (an agent the pool does not run) fails with a non-retryable `AgentConfig` ApplicationFailure;
 *   `slotDenial(err)` gives the pool's reason from it.
 * - `release` gives the slot back with the run's report (success, failed, rate_limited with its
 *   retry time, quota_exhausted with its reset time, or neutral), in a non-cancellable scope, so it
 *   also works from a cancelled task's cleanup.
 * - A grant this workflow does not expect (for a request it withdrew, or one an earlier run of the
 *   same workflow id made) is given straight back, so a slot never leaks to a workflow that does not
 *   know it holds it.
 *
 * - A sharded pool (`sharding`: CLAUDOMATOR_POOL_SHARDS over 1, workflows/pool-shards.ts) is several
 *   pool workflows: a request goes to the shard of its agent (`any`: a shard picked by its request id),
 *   and its release or withdrawal to the same shard.
 *
 * Request ids must be unique per acquisition (`uuid4()` from `@temporalio/workflow` is deterministic
 * and unique): the pool refuses a request id that was already released.
 */
import {
  ApplicationFailure,
  CancellationScope,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  proxyActivities,
  setHandler,
  workflowInfo,
  type SignalDefinition,
} from '@temporalio/workflow';
import type { PoolActivities } from '../activities/pool.js';
import {
  DEFAULT_POOL_WORKFLOW_ID,
  releaseSlotSignal,
  requestSlotSignal,
  slotDeniedSignal,
  slotGrantedSignal,
} from './definitions.js';
import { FailureType } from './failures.js';
import { shardOfRequest, type PoolLayout } from './pool-shards.js';
import type { AgentChoice, AgentType, SlotDenial, SlotGrant, SlotRelease } from './types.js';

const { ensureAgentPool } = proxyActivities<PoolActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '30 seconds', maximumAttempts: 10 },
  summary: 'start the agent pool',
});

/** The pool's refusal when `err` is the failure `acquire` throws for a denied request; else undefined. */
export function slotDenial(err: unknown): SlotDenial | undefined {
  if (!(err instanceof ApplicationFailure) || err.type !== FailureType.AgentConfig) return undefined;
  const denial = err.details?.[0] as SlotDenial | undefined;
  return typeof denial?.reason === 'string' ? denial : undefined;
}

export interface PoolClientOptions {
  /** The pool's workflow id (CLAUDOMATOR_POOL_WORKFLOW_ID); default `agent-pool`. */
  poolWorkflowId?: string;
  /**
   * A sharded pool (CLAUDOMATOR_POOL_SHARDS over 1): the configured agents and the shard count. Each
   * request goes to the shard of its agent (pool-shards.ts); absent, everything goes to `poolWorkflowId`.
   */
  sharding?: { agents: AgentType[]; shards: number };
  /** Grants an earlier run of this workflow held when it continued as new. */
  held?: SlotGrant[];
}

export interface AcquireOptions {
  /** Unique per acquisition; never reused after a release. */
  requestId: string;
  agent: AgentChoice;
  taskId?: string;
}

interface PendingRequest {
  grant?: SlotGrant;
  denial?: SlotDenial;
}

export class PoolClient {
  readonly poolWorkflowId: string;
  private readonly layout: PoolLayout | undefined;
  private readonly pending = new Map<string, PendingRequest>();
  private readonly held = new Map<string, SlotGrant>();
  /** The pool workflow each request of this run went to, so its release or withdrawal goes there too. */
  private readonly targets = new Map<string, string>();

  constructor(options: PoolClientOptions = {}) {
    this.poolWorkflowId = options.poolWorkflowId ?? DEFAULT_POOL_WORKFLOW_ID;
    this.layout =
      options.sharding && options.sharding.shards > 1
        ? { poolWorkflowId: this.poolWorkflowId, ...options.sharding }
        : undefined;
    for (const grant of options.held ?? []) {
      this.held.set(grant.requestId, grant);
      this.targets.set(grant.requestId, this.poolOf(grant.agent, grant.requestId));
    }
    setHandler(slotGrantedSignal, (grant) => this.onGrant(grant), {
      description: 'The agent pool granted a slot: {requestId, agent}.',
    });
    setHandler(slotDeniedSignal, (denial) => this.onDenial(denial), {
      description: 'The agent pool refused a slot request for good: {requestId, reason}.',
    });
  }

  /** Wait for a slot; resolves with the granted agent (the pool's pick when `agent` is `any`). */
  async acquire(options: AcquireOptions): Promise<SlotGrant> {
    const alreadyHeld = this.held.get(options.requestId);
    if (alreadyHeld) return alreadyHeld;
    const entry: PendingRequest = {};
    this.pending.set(options.requestId, entry);
    const target = this.poolOf(options.agent, options.requestId);
    this.targets.set(options.requestId, target);
    const { workflowId, runId } = workflowInfo();
    try {
      await this.signalPool(
        target,
        requestSlotSignal,
        { requestId: options.requestId, workflowId, runId, agent: options.agent, taskId: options.taskId },
        true,
      );
      await condition(() => entry.grant !== undefined || entry.denial !== undefined);
    } catch (err) {
      this.pending.delete(options.requestId);
      if (isCancellation(err)) {
        await CancellationScope.nonCancellable(() =>
          this.signalPool(
            target,
            releaseSlotSignal,
            { requestId: options.requestId, report: { kind: 'neutral' } },
            false,
          ),
        );
      }
      throw err;
    }
    this.pending.delete(options.requestId);
    if (entry.grant) {
      this.held.set(options.requestId, entry.grant);
      return entry.grant;
    }
    throw ApplicationFailure.create({
      type: FailureType.AgentConfig,
      message: `The agent pool refused the slot: ${entry.denial?.reason ?? 'no reason given'}`,
      nonRetryable: true,
      details: [entry.denial],
    });
  }

  /** Give the slot back with the run's report; safe to call twice and from a cancelled scope. */
  async release(release: SlotRelease): Promise<void> {
    const grant = this.held.get(release.requestId);
    this.held.delete(release.requestId);
    const target =
      this.targets.get(release.requestId) ??
      (grant ? this.poolOf(grant.agent, release.requestId) : this.poolWorkflowId);
    await CancellationScope.nonCancellable(() => this.signalPool(target, releaseSlotSignal, release, false));
  }

  /** The grants this workflow holds (to carry across its own continue-as-new). */
  holding(): SlotGrant[] {
    return [...this.held.values()];
  }

  private async onGrant(grant: SlotGrant): Promise<void> {
    if (typeof grant?.requestId !== 'string') return;
    const entry = this.pending.get(grant.requestId);
    if (entry) {
      entry.grant ??= grant;
      return;
    }
    if (this.held.has(grant.requestId)) return; // a duplicate: the pool resends after its continue-as-new
    log.warn('Unexpected slot grant given back', { requestId: grant.requestId, agent: grant.agent });
    const target = this.poolOf(grant.agent, grant.requestId);
    await CancellationScope.nonCancellable(() =>
      this.signalPool(target, releaseSlotSignal, { requestId: grant.requestId, report: { kind: 'neutral' } }, false),
    );
  }

  private onDenial(denial: SlotDenial): void {
    if (typeof denial?.requestId !== 'string') return;
    const entry = this.pending.get(denial.requestId);
    if (entry) entry.denial ??= denial;
  }

  /** The pool workflow that serves `choice` (for a grant: its agent, whose shard granted it). */
  private poolOf(choice: AgentChoice, requestId: string): string {
    return this.layout ? shardOfRequest(this.layout, choice, requestId).workflowId : this.poolWorkflowId;
  }

  /**
   * Signal the pool. When that fails the pool is not running: with `startIfMissing` start it and try
   * once more; without (a release), there is nothing to give back to a pool that is gone.
   */
  private async signalPool<T>(
    poolWorkflowId: string,
    def: SignalDefinition<[T]>,
    arg: T,
    startIfMissing: boolean,
  ): Promise<void> {
    try {
      await getExternalWorkflowHandle(poolWorkflowId).signal(def, arg);
      return;
    } catch (err) {
      if (isCancellation(err)) throw err;
      if (!startIfMissing) {
        log.warn('Agent pool unreachable; the signal is dropped', { signal: def.name, error: String(err) });
        return;
      }
      log.info('Agent pool not running; starting it', { poolWorkflowId });
    }
    await ensureAgentPool(poolWorkflowId);
    await getExternalWorkflowHandle(poolWorkflowId).signal(def, arg);
  }
}
