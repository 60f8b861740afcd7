/**
 * Names that cross process boundaries: workflow ids, search attributes, and the signals, updates
 * and queries of each workflow. Imported by workflows, activities, the client and tests, so that the
 * Web UI, the CLI and the code all use the same words. A message's wire name is its constant's name
 * without the kind suffix (`answerUpdate` → `answer`).
 */
import { defineSearchAttributeKey } from '@temporalio/common';
import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  AgentStatus,
  PoolStatus,
  SlotDenial,
  SlotGrant,
  SlotRelease,
  SlotRequest,
  StoryStatusView,
  TaskSettledNotice,
  TaskStatus,
} from './types.js';

// ---- Workflow ids -----------------------------------------------------------------------------

export const taskWorkflowId = (taskId: string): string => `task-${taskId}`;
export const storyWorkflowId = (storyId: string): string => `story-${storyId}`;
export const DEFAULT_POOL_WORKFLOW_ID = 'agent-pool';

/** The task id inside a `task-<id>` workflow id, or undefined for other workflows. */
export function taskIdFromWorkflowId(workflowId: string): string | undefined {
  return workflowId.startsWith('task-') ? workflowId.slice('task-'.length) : undefined;
}

// ---- Task queues ------------------------------------------------------------------------------

export const DEFAULT_TASK_QUEUE = 'claudomator';
export const DEFAULT_AGENT_TASK_QUEUE = 'claudomator-agents';

/** The queue only one agent host polls: resumes go there, because the sandbox and session files live on that host. */
export const hostTaskQueue = (agentTaskQueue: string, hostId: string): string => `${agentTaskQueue}@${hostId}`;

// ---- Search attributes ------------------------------------------------------------------------

export const TaskStateKey = defineSearchAttributeKey('TaskState', 'KEYWORD');
export const AgentTypeKey = defineSearchAttributeKey('AgentType', 'KEYWORD');
export const StoryIdKey = defineSearchAttributeKey('StoryId', 'KEYWORD');
export const ProjectIdKey = defineSearchAttributeKey('ProjectId', 'KEYWORD');
export const ParentTaskIdKey = defineSearchAttributeKey('ParentTaskId', 'KEYWORD');
export const StoryStatusKey = defineSearchAttributeKey('StoryStatus', 'KEYWORD');
/** On the pool: agents that are drained and wait for an operator's acknowledgement. */
export const DrainedAgentsKey = defineSearchAttributeKey('DrainedAgents', 'KEYWORD_LIST');
/** On the pool: agents paused by a rate limit, a quota or an operator. */
export const PausedAgentsKey = defineSearchAttributeKey('PausedAgents', 'KEYWORD_LIST');

/** Every custom search attribute claudomator uses; registered on the dev server and by `temporal setup`. */
export const SEARCH_ATTRIBUTES = [
  TaskStateKey,
  AgentTypeKey,
  StoryIdKey,
  ProjectIdKey,
  ParentTaskIdKey,
  StoryStatusKey,
  DrainedAgentsKey,
  PausedAgentsKey,
] as const;

// ---- Agent pool messages ----------------------------------------------------------------------
// Workflows talk to the pool by signal (workflow code cannot call updates); people and the SDK use
// updates, which validate synchronously and answer. Signals and updates have separate namespaces, so
// `acknowledgeAgent` is both: the signal runs the update's validator and handler.

export const requestSlotSignal = defineSignal<[SlotRequest]>('requestSlot');
export const releaseSlotSignal = defineSignal<[SlotRelease]>('releaseSlot');
/** Sent by the pool to the requesting workflow. */
export const slotGrantedSignal = defineSignal<[SlotGrant]>('slotGranted');
/** Sent by the pool to the requesting workflow when the request can never be granted (unknown agent, reused id). */
export const slotDeniedSignal = defineSignal<[SlotDenial]>('slotDenied');

export const agentStatusesQuery = defineQuery<AgentStatus[]>('agentStatuses');
export const acknowledgeAgentUpdate = defineUpdate<AgentStatus, [AcknowledgeAgentInput]>('acknowledgeAgent');
/**
 * The same as `acknowledgeAgentUpdate`, for callers that can only signal (the Web UI's "Send a Signal").
 * A refused one (an agent the pool does not run, a malformed input) is recorded in `rejected_signals`
 * and shown in the pool's current details.
 */
export const acknowledgeAgentSignal = defineSignal<[AcknowledgeAgentInput]>('acknowledgeAgent');
export interface AcknowledgeAgentInput {
  agent: string;
  by?: string;
}
export const setAgentLimitUpdate = defineUpdate<AgentStatus, [{ agent: string; limit: number }]>('setAgentLimit');
export const pauseAgentUpdate = defineUpdate<AgentStatus, [{ agent: string; until?: string; reason?: string }]>(
  'pauseAgent',
);
export const resumeAgentUpdate = defineUpdate<AgentStatus, [{ agent: string }]>('resumeAgent');
export const poolStatusQuery = defineQuery<PoolStatus>('poolStatus');
/** Set (a number, 0 stops new grants) or remove (null) the cap on slots held at once across all agents. */
export const setMaxConcurrentUpdate = defineUpdate<PoolStatus, [{ maxConcurrent: number | null }]>('setMaxConcurrent');

// ---- Task workflow messages -------------------------------------------------------------------

/** People answer a blocked task's question (update: the validator refuses tasks that are not blocked). */
export const answerUpdate = defineUpdate<{ executionId: string }, [AnswerInput]>('answer');
/**
 * The same as `answerUpdate`, for callers that can only signal (the Web UI's "Send a Signal"). A refused
 * one (the task is not blocked on a question, an empty answer, a malformed input) is recorded in
 * `rejected_signals` and shown in the task's current details; the task goes on.
 */
export const answerSignal = defineSignal<[AnswerInput]>('answer');
export interface AnswerInput {
  answer: string;
  by?: string;
}
/** A dependency settled (or was found settled). */
export const dependencyFinishedSignal = defineSignal<[TaskSettledNotice]>('dependencyFinished');
/** A subtask was created or settled. */
export const subtaskChangedSignal = defineSignal<[TaskSettledNotice]>('subtaskChanged');
export const taskStatusQuery = defineQuery<TaskStatus>('taskStatus');
/**
 * Returns the task's state once it is no longer `from` (a `stateKey` the caller saw), or after
 * `timeoutMs` with the state unchanged: how the SDK waits for a task without polling.
 */
export const awaitTaskChangeUpdate = defineUpdate<AwaitedChange, [AwaitChange]>('awaitTaskChange');

// ---- Story workflow messages ------------------------------------------------------------------

/** A task of the story settled (or changed in a way the story waits on). */
export const taskSettledSignal = defineSignal<[TaskSettledNotice]>('taskSettled');
/** A task was added to the story after it started; the story starts it. */
export const taskAddedSignal = defineSignal<[{ taskId: string }]>('taskAdded');
export const storyStatusQuery = defineQuery<StoryStatusView>('storyStatus');
/** Returns the story's status once the story changed since `from` (its status, step or a task's state), or after `timeoutMs`. */
export const awaitStoryChangeUpdate = defineUpdate<AwaitedChange, [AwaitChange]>('awaitStoryChange');

/** What a waiter saw, and how long it waits at most for something else. */
export interface AwaitChange {
  from: string;
  timeoutMs: number;
}

export interface AwaitedChange {
  /** The task's state or the story's status. */
  state: string;
  /** What the waiter passes back as `from`: the state with its marks (`BLOCKED?` for a task waiting for an answer; a story's revision). */
  key: string;
  changed: boolean;
}

/** The update's input, checked in the workflows' validators. */
export function checkAwaitChange(input: AwaitChange): void {
  if (typeof input?.from !== 'string') throw new Error('from: the state you saw, as a string');
  if (!(typeof input.timeoutMs === 'number' && input.timeoutMs > 0 && input.timeoutMs <= 24 * 3_600_000))
    throw new Error('timeoutMs: a number of milliseconds between 1 and 86400000');
}
