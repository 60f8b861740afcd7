/**
 * The allowed state transitions of tasks and stories, as data, with a pure check.
 *
 * The store refuses any write that is not listed here, and workflows consult the same tables, so the
 * database and the workflows can never disagree about what a state may become. Writing the current
 * state again is always allowed: activities are retried, and a repeated write must be a no-op.
 */
import type { StoryState, TaskState } from './types.js';

export const TASK_TRANSITIONS: Readonly<Record<TaskState, readonly TaskState[]>> = {
  // A dependency that fails, or a cancel, ends a task before it ever queues.
  PENDING: ['QUEUED', 'FAILED', 'CANCELLED'],
  QUEUED: ['RUNNING', 'FAILED', 'CANCELLED', 'TIMED_OUT'],
  // RUNNING → QUEUED: a rate limit or quota pause puts the task back in line; it is not a failure.
  RUNNING: ['QUEUED', 'BLOCKED', 'READY', 'COMPLETED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'BUDGET_EXCEEDED'],
  // BLOCKED on a question → QUEUED when answered; BLOCKED on subtasks → READY/COMPLETED when they finish.
  BLOCKED: ['QUEUED', 'READY', 'COMPLETED', 'FAILED', 'TIMED_OUT', 'CANCELLED'],
  READY: [],
  COMPLETED: [],
  // The four failure states may be retried (or resumed with a message): a new run of the same task.
  FAILED: ['QUEUED'],
  TIMED_OUT: ['QUEUED'],
  CANCELLED: ['QUEUED'],
  BUDGET_EXCEEDED: ['QUEUED'],
};

export const STORY_TRANSITIONS: Readonly<Record<StoryState, readonly StoryState[]>> = {
  PENDING: ['IN_PROGRESS', 'FAILED'],
  IN_PROGRESS: ['SHIPPABLE', 'FAILED'],
  // A merge conflict sends the story to NEEDS_FIX; without a deploy command it goes straight to VALIDATING.
  SHIPPABLE: ['DEPLOYING', 'VALIDATING', 'NEEDS_FIX', 'FAILED'],
  DEPLOYING: ['VALIDATING', 'NEEDS_FIX', 'FAILED'],
  // A failed validation starts a fix task (IN_PROGRESS) while fix attempts remain, else NEEDS_FIX.
  VALIDATING: ['REVIEW_READY', 'NEEDS_FIX', 'IN_PROGRESS', 'FAILED'],
  REVIEW_READY: [],
  // The fix loop: a fix task runs (IN_PROGRESS), then merge/deploy/validate again.
  NEEDS_FIX: ['IN_PROGRESS', 'SHIPPABLE', 'FAILED'],
  FAILED: ['IN_PROGRESS'],
};

/** Task states a dependent treats as "this dependency will never finish": the dependent fails at once. */
export const TERMINAL_FAILURE_STATES: readonly TaskState[] = ['FAILED', 'TIMED_OUT', 'CANCELLED', 'BUDGET_EXCEEDED'];

/** Task states from which a retry (or a resume with a message) may start a new run. */
export const RETRYABLE_STATES: readonly TaskState[] = TERMINAL_FAILURE_STATES;

/** States in which a task's workflow has nothing more to do on its own. */
export const SETTLED_TASK_STATES: readonly TaskState[] = ['READY', 'COMPLETED', ...TERMINAL_FAILURE_STATES];

export function canTransitionTask(from: TaskState, to: TaskState): boolean {
  return from === to || TASK_TRANSITIONS[from].includes(to);
}

export function canTransitionStory(from: StoryState, to: StoryState): boolean {
  return from === to || STORY_TRANSITIONS[from].includes(to);
}

/** Every state from which `to` may be reached (itself included): what a conditional UPDATE may match. */
export function taskStatesLeadingTo(to: TaskState): TaskState[] {
  return (Object.keys(TASK_TRANSITIONS) as TaskState[]).filter((from) => canTransitionTask(from, to));
}

export function storyStatesLeadingTo(to: StoryState): StoryState[] {
  return (Object.keys(STORY_TRANSITIONS) as StoryState[]).filter((from) => canTransitionStory(from, to));
}

/** A dependency counts as done when it is COMPLETED, or READY for a top-level task (READY means "done, for review"). */
export function dependencySatisfied(state: TaskState): boolean {
  return state === 'COMPLETED' || state === 'READY';
}
