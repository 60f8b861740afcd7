/**
 * The compact shape of the agent pool's continue-as-new snapshot (patch `pool-compact-snapshot`), and
 * its byte size. Pure functions, no Temporal imports.
 *
 * The snapshot's bulk is its waiters (thousands when tasks queue for a busy agent) and holders. In the
 * full shape (`AgentPoolSnapshot`) each is an object with field names and ISO times, about 306 bytes a
 * waiter for a task's request; the whole snapshot is one payload of the continue-as-new command, which
 * Temporal refuses above 2 MB, so about 6,500 waiters were the most one pool could carry. The compact
 * shape writes each as a tuple, times as epoch milliseconds, and leaves out what the request id already
 * says: a task's request id is `<workflowId>/<runId>/<n>` (task.ts) and a task's workflow id is
 * `task-<taskId>`, so for a task's request only the request id, the agent and the time are written.
 * Requests of other shapes keep their ids in the tuple, so the mapping is exact for any request.
 *
 * The task id is derived here by the rule of `taskIdFromWorkflowId` (definitions.ts), written out so
 * that this module, like agent-pool-state.ts, imports nothing from Temporal.
 *
 * Agents, released ids, undelivered messages, pending events and counters are bounded and small, and
 * keep their full shape.
 */
import type { AgentChoice, AgentPoolSnapshot, AgentType, SlotHolder, SlotWaiter } from './types.js';

/**
 * How the workflow id, run id and task id of a waiter or holder are written after its fixed fields:
 * `0` (or left out at the end of the tuple): derived, the workflow id and run id from the request id,
 * the task id from the workflow id; `null`: none; a string: the id itself.
 */
export type CompactRef = string | 0 | null;

/** A waiter: request id, the agent asked for, requested at (epoch ms), then workflow id, run id, task id. */
export type CompactWaiter = [requestId: string, agent: AgentChoice, requestedAt: number, ...refs: CompactRef[]];

/**
 * A holder: request id, the agent granted, what was asked for (`0`: that same agent), requested at and
 * granted at (epoch ms), then workflow id, run id, task id.
 */
export type CompactHolder = [
  requestId: string,
  agent: AgentType,
  requested: AgentChoice | 0,
  requestedAt: number,
  grantedAt: number,
  ...refs: CompactRef[],
];

/** The snapshot with compact waiters (`w`) and holders (`h`); `v` tells it from the full shape. */
export interface CompactPoolSnapshot extends Omit<AgentPoolSnapshot, 'holders' | 'waiters'> {
  v: 2;
  h: CompactHolder[];
  /** FIFO order. */
  w: CompactWaiter[];
}

export function isCompactSnapshot(state: AgentPoolSnapshot | CompactPoolSnapshot): state is CompactPoolSnapshot {
  return 'v' in state && state.v === 2;
}

export function compactSnapshot(state: AgentPoolSnapshot): CompactPoolSnapshot {
  const { holders, waiters, ...rest } = state;
  return { v: 2, ...rest, h: holders.map(compactHolder), w: waiters.map(compactWaiter) };
}

/** The full shape of either shape: a run accepts what its previous run carried, whichever code wrote it. */
export function expandSnapshot(state: AgentPoolSnapshot | CompactPoolSnapshot): AgentPoolSnapshot {
  if (!isCompactSnapshot(state)) return state;
  const { v: _version, h, w, ...rest } = state;
  return { ...rest, holders: h.map(expandHolder), waiters: w.map(expandWaiter) };
}

export function compactWaiter(waiter: SlotWaiter): CompactWaiter {
  return [
    waiter.requestId,
    waiter.agent,
    Date.parse(waiter.requestedAt),
    ...compactRefs(waiter.requestId, waiter.workflowId, waiter.runId, waiter.taskId),
  ];
}

export function compactHolder(holder: SlotHolder): CompactHolder {
  return [
    holder.requestId,
    holder.agent,
    holder.requested === holder.agent ? 0 : holder.requested,
    Date.parse(holder.requestedAt),
    Date.parse(holder.grantedAt),
    ...compactRefs(holder.requestId, holder.workflowId, holder.runId, holder.taskId),
  ];
}

function expandWaiter([requestId, agent, requestedAt, ...refs]: CompactWaiter): SlotWaiter {
  return { requestId, ...expandRefs(requestId, refs), agent, requestedAt: new Date(requestedAt).toISOString() };
}

function expandHolder([requestId, agent, requested, requestedAt, grantedAt, ...refs]: CompactHolder): SlotHolder {
  return {
    requestId,
    ...expandRefs(requestId, refs),
    agent,
    requested: requested === 0 ? agent : requested,
    requestedAt: new Date(requestedAt).toISOString(),
    grantedAt: new Date(grantedAt).toISOString(),
  };
}

/** The workflow id, run id and task id as `CompactRef`s, with the trailing derived ones left out. */
function compactRefs(requestId: string, workflowId: string, runId?: string, taskId?: string): CompactRef[] {
  const [derivedWorkflowId, derivedRunId] = requestId.split('/');
  const refs: CompactRef[] = [
    workflowId === derivedWorkflowId ? 0 : workflowId,
    runId === derivedRunId ? 0 : (runId ?? null),
    taskId === taskOf(workflowId) ? 0 : (taskId ?? null),
  ];
  while (refs.length > 0 && refs[refs.length - 1] === 0) refs.pop();
  return refs;
}

function expandRefs(
  requestId: string,
  [workflowRef = 0, runRef = 0, taskRef = 0]: CompactRef[],
): { workflowId: string; runId?: string; taskId?: string } {
  const [derivedWorkflowId = '', derivedRunId] = requestId.split('/');
  const workflowId = workflowRef === 0 ? derivedWorkflowId : (workflowRef ?? '');
  const runId = runRef === 0 ? derivedRunId : (runRef ?? undefined);
  const taskId = taskRef === 0 ? taskOf(workflowId) : (taskRef ?? undefined);
  return {
    workflowId,
    ...(runId !== undefined ? { runId } : {}),
    ...(taskId !== undefined ? { taskId } : {}),
  };
}

/** The task id inside a `task-<id>` workflow id, or undefined for other workflows. */
function taskOf(workflowId: string): string | undefined {
  return workflowId.startsWith('task-') ? workflowId.slice('task-'.length) : undefined;
}

/** The UTF-8 size of `value` as JSON: what the payload converter writes for it. */
export function jsonBytes(value: unknown): number {
  const text = JSON.stringify(value) ?? '';
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff) {
      bytes += 4;
      i++;
    } else bytes += 3;
  }
  return bytes;
}
