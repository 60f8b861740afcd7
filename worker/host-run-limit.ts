/**
 * The per-host cap (CLAUDOMATOR_HOST_MAX_RUNS): at most N agent runs at once on one agent host, across
 * its two task queues, the shared agent queue and its own resume queue (`<queue>@<host>`).
 *
 * One counter of N permits per worker process, taken two ways:
 * - the shared-queue worker takes a permit *before it polls* (a worker-tuner slot supplier, with one
 *   poller): a full host asks for no shared work, which stays on the server for the other hosts;
 * - an agent run from the host's own queue (a resume: only this host holds its sandbox and session)
 *   takes a permit inside the activity, waiting there (heartbeating, cancellable) while the host is
 *   full, and goes ahead of the shared queue's next poll.
 * The resume queue cannot take its permit before polling as well: it is empty most of the time, and its
 * idle poll would hold a permit for good. The price of taking permits before polling on the shared
 * queue: its one poll holds a permit while idle, so a resume that finds every other permit in use
 * waits until that poll ends (the server ends an idle poll within about a minute).
 *
 * Every activity of the shared queue takes a permit (nearly all are agent runs); on the host queue only
 * agent runs do, so publishing a finished run's work never waits behind other runs.
 */
import { Context, log } from '@temporalio/activity';
import type { ActivitySlotInfo, CustomSlotSupplier, SlotPermit } from '@temporalio/worker';
import type { AgentRunInput, AgentRunResult } from '../workflows/types.js';

/** How often a run waiting for a permit heartbeats (to stay alive and to hear a cancellation). */
const WAITING_HEARTBEAT_MS = 2_000;

interface Waiter {
  priority: boolean;
  grant: () => void;
}

export class HostRunLimit {
  private held = 0;
  private readonly waiters: Waiter[] = [];

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1) {
      throw new RangeError(`a host run limit must be a whole number of at least 1, got ${capacity}`);
    }
  }

  /** Permits taken now (runs, and the shared queue's reserved poll). */
  get inUse(): number {
    return this.held;
  }

  /** Take a permit now if one is free; returns its release function (idempotent). */
  tryAcquire(): (() => void) | undefined {
    if (this.held >= this.capacity) return undefined;
    this.held++;
    return this.releaser();
  }

  /**
   * Take a permit, waiting while none is free: priority waiters first, each class in arrival order.
   * Rejects with `signal.reason` when the signal aborts first.
   */
  acquire(options: { priority: boolean; signal?: AbortSignal }): Promise<() => void> {
    const now = this.tryAcquire();
    if (now) return Promise.resolve(now);
    const { signal } = options;
    return new Promise((resolve, reject) => {
      // The SDK's slot reservation expects a rejection with exactly the signal's reason (whatever it is).
      if (signal?.aborted) {
        reject(signal.reason); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors
        return;
      }
      const onAbort = (): void => {
        const index = this.waiters.indexOf(waiter);
        if (index >= 0) this.waiters.splice(index, 1);
        reject(signal?.reason); // eslint-disable-line @typescript-eslint/prefer-promise-reject-errors
      };
      const waiter: Waiter = {
        priority: options.priority,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          this.held++;
          resolve(this.releaser());
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  /** The slot supplier of the shared-queue worker: a permit per poll, kept while its task runs. */
  slotSupplier(): CustomSlotSupplier<ActivitySlotInfo> {
    // The SDK releases each permit it was given exactly once, so a count is all the bookkeeping needed.
    return {
      type: 'custom',
      reserveSlot: async (_ctx, abortSignal): Promise<SlotPermit> => {
        await this.acquire({ priority: false, signal: abortSignal });
        return {};
      },
      tryReserveSlot: () => (this.tryAcquire() ? {} : null),
      markSlotUsed: () => undefined,
      releaseSlot: () => this.release(),
    };
  }

  private releaser(): () => void {
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.release();
    };
  }

  private release(): void {
    this.held--;
    const index = this.waiters.findIndex((w) => w.priority);
    const [next] = this.waiters.splice(index >= 0 ? index : 0, 1);
    next?.grant();
  }
}

/**
 * The agent-run activity holding a permit of `limit`: taken at once if free, else waited for while the
 * activity heartbeats its last checkpoint unchanged (a retry after a crash still finds it). The
 * activity's start-to-close timeout runs during the wait, so the run gets what is left of its time limit.
 */
export function holdingHostPermit(
  limit: HostRunLimit,
  run: (input: AgentRunInput) => Promise<AgentRunResult>,
): (input: AgentRunInput) => Promise<AgentRunResult> {
  return async (input: AgentRunInput): Promise<AgentRunResult> => {
    const free = limit.tryAcquire();
    const waitStart = Date.now();
    const release = free ?? (await waitForPermit(limit));
    const waited = Date.now() - waitStart;
    if (!free) log.info('Agent host slot free: the run starts', { waitedMs: waited });
    try {
      return await run(free ? input : { ...input, timeoutMs: Math.max(input.timeoutMs - waited, 1_000) });
    } finally {
      release();
    }
  };
}

async function waitForPermit(limit: HostRunLimit): Promise<() => void> {
  const context = Context.current();
  const checkpoint: unknown = context.info.heartbeatDetails;
  log.info('Agent host at its cap: the run waits for one of its runs to end', {
    hostMaxRuns: limit.capacity,
    taskQueue: context.info.taskQueue,
  });
  context.heartbeat(checkpoint);
  const beat = setInterval(() => context.heartbeat(checkpoint), WAITING_HEARTBEAT_MS);
  try {
    return await limit.acquire({ priority: true, signal: context.cancellationSignal });
  } finally {
    clearInterval(beat);
  }
}
