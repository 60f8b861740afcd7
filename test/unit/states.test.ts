import { describe, expect, it } from 'vitest';
import {
  canTransitionStory,
  canTransitionTask,
  dependencySatisfied,
  STORY_TRANSITIONS,
  storyStatesLeadingTo,
  TASK_TRANSITIONS,
  taskStatesLeadingTo,
} from '../../workflows/states.js';
import { STORY_STATES, TASK_STATES } from '../../workflows/types.js';

describe('task transitions', () => {
  it('has an entry for exactly the seed states', () => {
    expect(Object.keys(TASK_TRANSITIONS).sort()).toEqual([...TASK_STATES].sort());
    expect(TASK_STATES).toEqual([
      'PENDING',
      'QUEUED',
      'RUNNING',
      'BLOCKED',
      'READY',
      'COMPLETED',
      'FAILED',
      'TIMED_OUT',
      'CANCELLED',
      'BUDGET_EXCEEDED',
    ]);
  });

  it('allows the lifecycle paths and refuses skipping the queue', () => {
    expect(canTransitionTask('PENDING', 'QUEUED')).toBe(true);
    expect(canTransitionTask('QUEUED', 'RUNNING')).toBe(true);
    expect(canTransitionTask('RUNNING', 'BLOCKED')).toBe(true);
    expect(canTransitionTask('BLOCKED', 'QUEUED')).toBe(true);
    expect(canTransitionTask('RUNNING', 'QUEUED')).toBe(true);
    expect(canTransitionTask('FAILED', 'QUEUED')).toBe(true);
    expect(canTransitionTask('PENDING', 'RUNNING')).toBe(false);
    expect(canTransitionTask('COMPLETED', 'QUEUED')).toBe(false);
    expect(canTransitionTask('READY', 'QUEUED')).toBe(false);
  });

  it('treats writing the same state again as allowed (retried activities)', () => {
    for (const s of TASK_STATES) expect(canTransitionTask(s, s)).toBe(true);
  });

  it('lists the states that lead to a target, itself included', () => {
    expect(taskStatesLeadingTo('QUEUED').sort()).toEqual(
      ['PENDING', 'QUEUED', 'RUNNING', 'BLOCKED', 'FAILED', 'TIMED_OUT', 'CANCELLED', 'BUDGET_EXCEEDED'].sort(),
    );
    expect(taskStatesLeadingTo('PENDING')).toEqual(['PENDING']);
  });

  it('counts a dependency as done when COMPLETED or READY', () => {
    expect(TASK_STATES.filter(dependencySatisfied)).toEqual(['READY', 'COMPLETED']);
  });
});

describe('story transitions', () => {
  it('has an entry for exactly the seed states and follows the happy path', () => {
    expect(Object.keys(STORY_TRANSITIONS).sort()).toEqual([...STORY_STATES].sort());
    const path = ['PENDING', 'IN_PROGRESS', 'SHIPPABLE', 'DEPLOYING', 'VALIDATING', 'REVIEW_READY'] as const;
    for (let i = 1; i < path.length; i++) expect(canTransitionStory(path[i - 1]!, path[i]!)).toBe(true);
    expect(canTransitionStory('PENDING', 'REVIEW_READY')).toBe(false);
    expect(storyStatesLeadingTo('REVIEW_READY').sort()).toEqual(['REVIEW_READY', 'VALIDATING']);
  });
});
