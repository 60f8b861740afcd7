/**
 * agentPoolWorkflow: the one durable owner of agent slots (ID `agent-pool`). Task workflows ask for a
 * slot by signal and get the grant back by signal (pool-client.ts is their side); operators read the
 * agents' status with a query and steer with validated updates (`acknowledgeAgent` also as a signal,
 * validated alike: validated-signals.ts). The rules live in `AgentPool` (agent-pool-state.ts); this
 * file only wires messages to it and runs five small loops:
 *
 * - deliver: send each grant or denial the pool decides on, as soon as it decides (no batching);
 * - record: write agent events to Postgres, one at a time, in order, and notify people of a drain or a
 *   quota pause (notify.ts);
 * - pauses: one durable timer for the next end of a rate limit, quota or operator pause;
 * - leaks: while anyone holds or waits, every `leakCheckIntervalMs` ask Temporal which of them closed;
 * - publish: keep the current details and the DrainedAgents/PausedAgents search attributes up to date.
 *
 * Continue-as-new, when the server suggests it (or after `continueAsNewAfterEvents` in tests), carries
 * `AgentPool.compactSnapshot()` (`AgentPool.snapshot()`, the full shape, in runs started before the
 * `pool-compact-snapshot` patch; a run accepts either): holders, waiters, pauses with their deadlines, drains, counters, limits, the
 * global cap, undelivered grants and unrecorded events. Before it, the pool stops taking messages and waits
 * for the signals already in flight (runs started before the `pool-drain-sends-before-continue-as-new` patch
 * did not), so that nothing it scheduled runs after the run has closed. Grants not yet sent are carried and
 * sent by the next run; resending a grant or re-recording an event is harmless (requesters ignore duplicate
 * grants, event ids are fixed).
 */
import {
  ApplicationFailure,
  allHandlersFinished,
  condition,
  continueAsNew,
  getExternalWorkflowHandle,
  IllegalStateError,
  isCancellation,
  log,
  patched,
  proxyActivities,
  setHandler,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import type { Activities } from '../activities/index.js';
import type { PoolActivities } from '../activities/pool.js';
import { AgentPool, PoolInputError } from './agent-pool-state.js';
import {
  acknowledgeAgentSignal,
  acknowledgeAgentUpdate,
  agentStatusesQuery,
  DrainedAgentsKey,
  PausedAgentsKey,
  pauseAgentUpdate,
  poolStatusQuery,
  releaseSlotSignal,
  requestSlotSignal,
  resumeAgentUpdate,
  setAgentLimitUpdate,
  setMaxConcurrentUpdate,
  slotDeniedSignal,
  slotGrantedSignal,
} from './definitions.js';
import { FailureType } from './failures.js';
import { notify } from './notify.js';
import { jsonBytes } from './pool-snapshot.js';
import type { AgentPoolInput, PoolMessage } from './types.js';
import { ValidatedSignals } from './validated-signals.js';

export const DEFAULT_LEAK_CHECK_INTERVAL_MS = 60_000;
/** Runs that have this patch wait for their signals in flight before continuing as new. */
export const DRAIN_SENDS_PATCH = 'pool-drain-sends-before-continue-as-new';
/**
 * Runs that have this patch carry the compact snapshot (pool-snapshot.ts) and deny a request that
 * would take it past `MAX_SNAPSHOT_BYTES`.
 */
export const COMPACT_SNAPSHOT_PATCH = 'pool-compact-snapshot';
/**
 * The most bytes the carried snapshot may take: below Temporal's 2 MB payload limit (the default
 * blob size limit), with room for the rest of the continue-as-new input.
 */
export const MAX_SNAPSHOT_BYTES = 1_800_000;

// Bookkeeping retries for as long as it takes: nothing waits on it, and continue-as-new carries what is unrecorded.
const { recordAgentEvent } = proxyActivities<PoolActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});
// Like agent events: a refused signal is kept for as long as it takes to write it.
const { recordRejectedSignal } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumInterval: '1 minute' },
});
// The leak check gives up after a few tries: the next interval asks again.
const { findClosedWorkflows } = proxyActivities<PoolActivities>({
  startToCloseTimeout: '1 minute',
  retry: { initialInterval: '1 second', maximumInterval: '10 seconds', maximumAttempts: 3 },
  summary: 'check for holders and waiters that closed',
});

export async function agentPoolWorkflow(input: AgentPoolInput): Promise<void> {
  const { workflowId, runId } = workflowInfo();
  const compact = patched(COMPACT_SNAPSHOT_PATCH);
  let pool: AgentPool;
  try {
    pool = new AgentPool({
      agents: input.agents,
      limits: input.limits,
      ...(input.maxConcurrent !== undefined ? { maxConcurrent: input.maxConcurrent } : {}),
      state: input.state,
      ...(compact ? { snapshotLimitBytes: MAX_SNAPSHOT_BYTES } : {}),
      clock: () => Date.now(),
      eventIdPrefix: `${workflowId}:${runId}`,
      logger: log,
    });
  } catch (err) {
    if (err instanceof PoolInputError) {
      throw ApplicationFailure.create({ type: FailureType.InvalidInput, message: err.message, nonRetryable: true });
    }
    throw err;
  }

  // ---- Message-handling API ----------------------------------------------------------------------

  setHandler(requestSlotSignal, (request) => pool.request(request), {
    description:
      'Ask for a slot: {requestId, workflowId, runId?, agent: "claude"|"gemini"|…|"any", taskId?}. ' +
      'The pool answers with slotGranted (or slotDenied) to workflowId; idempotent by requestId.',
  });
  setHandler(releaseSlotSignal, (release) => pool.release(release), {
    description:
      'Give a slot back with the run report {requestId, report: {kind: success|failed|rate_limited|quota_exhausted|neutral, …}}, ' +
      'or withdraw a waiting request; idempotent by requestId.',
  });
  setHandler(agentStatusesQuery, () => pool.statuses(), {
    description:
      'Every agent: slot limit, active tasks and holders, waiting requests, rate limit, pause, drain, failures.',
  });
  setHandler(poolStatusQuery, () => pool.poolStatus(), {
    description:
      'The global cap (maxConcurrent, absent: none), slots held and requests waiting across agents, and every agent.',
  });
  setHandler(setMaxConcurrentUpdate, (args) => pool.setMaxConcurrent(args), {
    validator: (args) => pool.validateSetMaxConcurrent(args),
    description:
      'Set how many slots may be held at once across all agents: {maxConcurrent} (0 to 1000), or {maxConcurrent: null} for no cap. Returns the pool status.',
  });
  setHandler(acknowledgeAgentUpdate, (args) => pool.acknowledge(args), {
    validator: (args) => pool.validateAcknowledge(args),
    description: 'Undrain an agent and reset its failure counter: {agent, by?}. Returns the agent status.',
  });
  const signals = new ValidatedSignals({
    record: (rejected) =>
      recordRejectedSignal.executeWithOptions({ summary: `rejected ${rejected.signal} signal` }, [rejected]),
  });
  setHandler(
    acknowledgeAgentSignal,
    signals.handler(
      acknowledgeAgentSignal,
      'acknowledge-agent-signal',
      (args) => pool.validateAcknowledge(args),
      (args) => pool.acknowledge(args),
    ),
    {
      description:
        'The `acknowledgeAgent` update as a signal, {agent, by?}: a refused one is recorded in Postgres and listed under "Rejected signals" here.',
    },
  );
  setHandler(setAgentLimitUpdate, (args) => pool.setLimit(args), {
    validator: (args) => pool.validateSetLimit(args),
    description: 'Set how many tasks may hold an agent at once: {agent, limit} (0 to 1000). Returns the agent status.',
  });
  setHandler(pauseAgentUpdate, (args) => pool.pause(args), {
    validator: (args) => pool.validatePause(args),
    description: 'Stop grants to an agent until resumed, or until an ISO time: {agent, until?, reason?}.',
  });
  setHandler(resumeAgentUpdate, (args) => pool.resume(args), {
    validator: (args) => pool.validateResume(args),
    description: 'End an operator pause and any rate-limit or quota pause of an agent: {agent}.',
  });

  // ---- Main workflow logic -----------------------------------------------------------------------

  // Messages to different requesters go out in parallel; to one requester, one after the other, so a
  // requester with several requests (a story, a test sink) sees its grants in the pool's order.
  // `queues` holds each requester's last send, so its size is the number of requesters with a send in flight.
  const queues = new Map<string, Promise<void>>();
  // Set once continue-as-new is due (new runs only, see below): deliver takes no more messages.
  let stopping = false;
  async function deliver(): Promise<never> {
    for (;;) {
      await condition(() => pool.hasMessages() && !stopping);
      for (const { id, message } of pool.takeMessages()) {
        const previous = queues.get(message.workflowId);
        const sending = previous ? previous.then(() => send(id, message)) : send(id, message);
        queues.set(message.workflowId, sending);
        const forget = () => {
          if (queues.get(message.workflowId) === sending) queues.delete(message.workflowId);
        };
        // send() never rejects; the second handler only makes sure no rejection is ever left unhandled.
        void sending.then(forget, forget);
      }
    }
  }

  /** Signal one grant or denial. Never rejects: a failure either voids the requester or is dropped. */
  async function send(id: number, message: PoolMessage): Promise<void> {
    try {
      const requester = getExternalWorkflowHandle(message.workflowId);
      if (message.kind === 'grant') await requester.signal(slotGrantedSignal, message.grant);
      else await requester.signal(slotDeniedSignal, message.denial);
    } catch (err) {
      if (isCancellation(err)) return;
      // No workflow is current: this run was evicted or closed while the send waited. Its state is gone
      // with it; the next run (or the replay) sends what is undelivered.
      if (err instanceof IllegalStateError) return;
      // The only way a signal to a workflow id fails: no run of it is open. What it held or asked for is void.
      log.warn('Requester unreachable', { workflowId: message.workflowId, error: String(err) });
      pool.requesterUnreachable(message.workflowId);
    } finally {
      pool.delivered(id);
    }
  }

  async function record(): Promise<never> {
    for (;;) {
      await condition(() => pool.hasEvents());
      const event = pool.peekEvent();
      if (!event) continue;
      try {
        await recordAgentEvent.executeWithOptions({ summary: `${event.event} ${event.agent}` }, [event]);
      } catch (err) {
        // Retries are unlimited, so only a non-retryable error gets here: trying again would not help.
        log.error('Agent event dropped: the store refused it', { event, error: String(err) });
      }
      // Before the event counts as recorded, so a continue-as-new in between carries it and notifies in the next run
      // (the notice's id comes from the event's: it is sent once).
      if (
        (event.event === 'drained' || (event.event === 'rate_limited' && event.reason === 'quota')) &&
        patched('notify-agent')
      ) {
        await notify({
          kind: event.event === 'drained' ? 'agent_drained' : 'agent_quota_paused',
          agent: event.agent,
          eventId: event.id,
          ...(event.event === 'drained' && event.reason !== undefined ? { reason: event.reason } : {}),
          ...(event.until !== undefined ? { until: event.until } : {}),
        });
      }
      pool.recorded(event.id);
    }
  }

  async function endPauses(): Promise<never> {
    for (;;) {
      const version = pool.pauseVersion;
      const next = pool.nextDeadline();
      if (next === undefined) {
        await condition(() => pool.pauseVersion !== version);
        continue;
      }
      const changed = await condition(() => pool.pauseVersion !== version, Math.max(next.at - Date.now(), 1), {
        summary: `${next.agent} ${next.kind} ends`,
      });
      if (!changed) pool.expire(Math.max(Date.now(), next.at));
    }
  }

  async function reclaimLeaks(): Promise<never> {
    const interval = input.leakCheckIntervalMs ?? DEFAULT_LEAK_CHECK_INTERVAL_MS;
    for (;;) {
      await condition(() => pool.hasParticipants());
      await condition(() => pool.leakCheckRequested, interval, { summary: 'next leak check' });
      pool.leakCheckRequested = false;
      const refs = pool.participants();
      if (refs.length === 0) continue;
      try {
        const closed = await findClosedWorkflows(refs);
        if (closed.length > 0) pool.reclaim(closed);
      } catch (err) {
        log.warn('Leak check failed; trying again at the next interval', { error: String(err) });
      }
    }
  }

  async function publish(): Promise<never> {
    let published = -1;
    let drained: string | undefined;
    let paused: string | undefined;
    for (;;) {
      await condition(() => pool.version !== published);
      published = pool.version;
      signals.setDetails(pool.renderDetails(workflowId));
      if (input.searchAttributes === false) continue;
      const nowDrained = pool.drainedAgents();
      const nowPaused = pool.pausedAgents();
      // Each upsert is a history event: only when a list changes.
      if (nowDrained.join() !== drained || nowPaused.join() !== paused) {
        drained = nowDrained.join();
        paused = nowPaused.join();
        upsertSearchAttributes([
          { key: DrainedAgentsKey, value: nowDrained },
          { key: PausedAgentsKey, value: nowPaused },
        ]);
      }
    }
  }

  const continueAsNewDue = (): boolean => {
    const info = workflowInfo();
    return (
      info.continueAsNewSuggested ||
      (input.continueAsNewAfterEvents !== undefined && info.historyLength >= input.continueAsNewAfterEvents)
    );
  };

  await Promise.race([deliver(), record(), endPauses(), reclaimLeaks(), publish(), condition(continueAsNewDue)]);
  if (patched(DRAIN_SENDS_PATCH)) {
    // Take no more messages and wait for the signals in flight, so that no send outlives this run;
    // what is still undecided or undelivered goes into the snapshot.
    stopping = true;
    await condition(() => queues.size === 0 && allHandlersFinished());
  }
  await condition(allHandlersFinished);
  const { running: holders, waiting: waiters } = pool.poolStatus();
  const state = compact ? pool.compactSnapshot() : pool.snapshot();
  log.info('Continuing as new', {
    holders,
    waiters,
    snapshotBytes: jsonBytes(state),
    historyLength: workflowInfo().historyLength,
  });
  await continueAsNew<typeof agentPoolWorkflow>({ ...input, state });
}
