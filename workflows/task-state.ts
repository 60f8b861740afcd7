/**
 * Pure rules of the task lifecycle: what an agent outcome means for the execution record, the task
 * state and the agent pool, and what a successful task becomes given its subtasks. The task workflow
 * wires these to Temporal; tests cover them without a server.
 */
import { assertNever } from './assert.js';
import { AGENT_TYPES } from './types.js';
import type {
  AgentChoice,
  AgentOutcome,
  AgentRunResult,
  AgentType,
  ExecutionStatus,
  RunReport,
  TaskKind,
  TaskState,
} from './types.js';

export function executionStatusFor(outcome: AgentOutcome): ExecutionStatus {
  switch (outcome) {
    case 'success':
      return 'SUCCEEDED';
    case 'question':
      return 'QUESTION';
    case 'rate_limited':
    case 'quota_exhausted':
      return 'RATE_LIMITED';
    case 'budget_exceeded':
      return 'BUDGET_EXCEEDED';
    case 'timed_out':
      return 'TIMED_OUT';
    case 'failed':
      return 'FAILED';
    default:
      return assertNever(outcome);
  }
}

/**
 * What the pool is told when the slot goes back. Only a real agent failure counts towards draining;
 * a rate limit pauses the agent (it is not a failure — the seed counted it, which was a flaw); a
 * question, the task's own budget or timeout say nothing about the agent's health, and neither does a
 * failed validation run (it says the story's code is wrong).
 */
export function poolReportFor(
  result: Pick<AgentRunResult, 'outcome' | 'error' | 'retryAt'>,
  now: number,
  kind: TaskKind = 'task',
): RunReport {
  const until = result.retryAt ?? new Date(now + 60_000).toISOString();
  switch (result.outcome) {
    case 'success':
      return { kind: 'success' };
    case 'failed':
      if (kind === 'validation') return { kind: 'neutral' };
      return { kind: 'failed', error: result.error ?? 'the agent failed' };
    case 'rate_limited':
      return { kind: 'rate_limited', until };
    case 'quota_exhausted':
      return { kind: 'quota_exhausted', until };
    case 'question':
    case 'budget_exceeded':
    case 'timed_out':
      return { kind: 'neutral' };
    default:
      return assertNever(result.outcome);
  }
}

/** The state a run that ended badly leaves the task in. */
export function failureStateFor(outcome: 'budget_exceeded' | 'timed_out' | 'failed'): TaskState {
  return outcome === 'budget_exceeded' ? 'BUDGET_EXCEEDED' : outcome === 'timed_out' ? 'TIMED_OUT' : 'FAILED';
}

/** A task's own success: READY for review at the top level, COMPLETED as a subtask (the seed's rule). */
export function doneState(isSubtask: boolean): TaskState {
  return isSubtask ? 'COMPLETED' : 'READY';
}

export interface SubtaskWait {
  /** Subtasks that are not COMPLETED yet. */
  pending: string[];
  /** Subtasks that ended badly; the parent stays BLOCKED and says which. */
  failed: Array<{ taskId: string; state: TaskState }>;
}

/** Which subtasks keep a parent BLOCKED (all must be COMPLETED; the seed's `maybeUnblockParent`). */
export function subtaskWait(subtasks: Readonly<Record<string, TaskState>>): SubtaskWait {
  const entries = Object.entries(subtasks).sort(([a], [b]) => a.localeCompare(b));
  return {
    pending: entries.filter(([, state]) => state !== 'COMPLETED').map(([id]) => id),
    failed: entries
      .filter(([, state]) => ['FAILED', 'TIMED_OUT', 'CANCELLED', 'BUDGET_EXCEEDED'].includes(state))
      .map(([taskId, state]) => ({ taskId, state })),
  };
}

/** An agent type claudomator knows (an execution row stores the agent as text). */
export function isAgentType(value: string | undefined): value is AgentType {
  return (AGENT_TYPES as readonly string[]).includes(value ?? '');
}

/** The task's instructions for a fresh run, with what a human said earlier in the task. */
export function toldByHuman(instructions: string, words: string): string {
  return `${instructions}\n\nEarlier in this task a human told you: ${words}`;
}

/** Why a denied slot request fails the task, and what the operator changes. */
export function deniedSlotError(choice: AgentChoice, poolWorkflowId: string, reason: string): string {
  const refused = `the agent pool (${poolWorkflowId}) refused ${choice === 'any' ? 'a slot for any agent' : `a ${choice} slot`}: ${reason}`;
  if (choice === 'any') return refused;
  return (
    `${refused}. Add ${choice} to CLAUDOMATOR_AGENTS of the workers that start the pool (a running pool keeps ` +
    `the agents it started with) or give the task an agent the pool runs, then \`claudomator task retry\` it.`
  );
}
