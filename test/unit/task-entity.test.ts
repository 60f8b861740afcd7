/**
 * TaskEntity without a server: every outcome `handleRunResult` can meet, the answer rules, the
 * dependency and subtask waits, and the resume rules (which agent, which session, which host).
 */
import { describe, expect, it } from 'vitest';
import { TaskEntity } from '../../workflows/task-state.js';
import type { AgentRunResult, Execution, Task, TaskContext } from '../../workflows/types.js';

const NOW = Date.parse('2026-12-04T12:00:00Z');
const PATHS = {
  stdoutPath: '/d/out.log',
  stderrPath: '/d/err.log',
  artifactDir: '/d/artifacts',
  sandboxDir: '/d/sandbox',
  questionFile: '/d/question.json',
};

function task(extra: Partial<Task> = {}): Task {
  return {
    id: 't1',
    kind: 'task',
    name: 'Login',
    instructions: 'Add a login page',
    agent: { type: 'any' },
    dependsOn: [],
    state: 'PENDING',
    createdAt: '2026-12-04T11:00:00Z',
    updatedAt: '2026-12-04T11:00:00Z',
    ...extra,
  };
}

function loaded(extra: Partial<TaskContext> = {}, retryMessage?: string): TaskEntity {
  const entity = new TaskEntity('t1');
  entity.load({ task: task(), dependencies: {}, subtasks: {}, executions: [], ...extra }, retryMessage);
  return entity;
}

/** Start a run as the workflow does and return its execution row. */
function run(entity: TaskEntity, agent: 'claude' | 'gemini' = 'claude', n = 1): Execution {
  return entity.startRun({
    executionId: `run-${n}`,
    agent,
    model: undefined,
    startTime: '2026-12-04T12:00:00Z',
    defaultTimeoutMs: 60_000,
  }).execution;
}

const result = (extra: Partial<AgentRunResult>): AgentRunResult => ({ outcome: 'success', paths: PATHS, ...extra });

describe('TaskEntity.handleRunResult', () => {
  it('success: SUCCEEDED, the pool hears success, the task completes; the summary is kept', () => {
    const entity = loaded();
    const verdict = entity.handleRunResult(result({ summary: 'Done.', sessionId: 's1' }), run(entity), NOW);
    expect(verdict).toEqual({ executionStatus: 'SUCCEEDED', pool: { kind: 'success' }, next: 'complete' });
    expect(entity.summary).toBe('Done.');
    expect(entity.status.sessionId).toBe('s1');
  });

  it('question: QUESTION, neutral for the pool, ask; after the answer the same session resumes on the same agent and host', () => {
    const entity = loaded();
    const execution = run(entity, 'gemini');
    const asked = result({
      outcome: 'question',
      sessionId: 's1',
      hostQueue: 'agents@h1',
      question: { text: 'Which DB?' },
    });
    const verdict = entity.handleRunResult(asked, execution, NOW);
    expect(verdict).toEqual({
      executionStatus: 'QUESTION',
      pool: { kind: 'neutral' },
      next: 'ask',
      question: { text: 'Which DB?' },
    });
    entity.status.state = 'BLOCKED';
    entity.status.question = verdict.next === 'ask' ? verdict.question : undefined;
    expect(entity.answer({ answer: '  postgres ', by: 'ann' })).toEqual({ executionId: 'run-1' });
    expect(entity.answered).toEqual({ text: 'postgres', by: 'ann' });
    entity.resumeWithAnswer(asked, 'gemini', 'postgres');
    expect(entity.pendingResume).toEqual({
      sessionId: 's1',
      answer: 'postgres',
      agent: 'gemini',
      hostQueue: 'agents@h1',
    });
    // An `any` task resumes on the agent that owns the session.
    expect(entity.slotChoice()).toBe('gemini');
    expect(entity.slotWait('agent-pool')).toBe('a gemini slot (agent-pool) to resume its session');
    const next = entity.startRun({
      executionId: 'run-2',
      agent: 'gemini',
      model: undefined,
      startTime: '2026-12-04T12:01:00Z',
      defaultTimeoutMs: 60_000,
    });
    expect(next.input.resume).toEqual({ sessionId: 's1', answer: 'postgres' });
    expect(next.execution).toMatchObject({ sessionId: 's1', resumeAnswer: 'postgres' });
  });

  it('a question without a session: the next run is a fresh one', () => {
    const entity = loaded();
    const asked = result({ outcome: 'question', question: { text: '?' } });
    entity.handleRunResult(asked, run(entity), NOW);
    entity.resumeWithAnswer(asked, 'claude', 'yes');
    expect(entity.pendingResume).toBeUndefined();
    expect(entity.slotChoice()).toBe('any');
  });

  it.each(['rate_limited', 'quota_exhausted'] as const)(
    '%s: RATE_LIMITED, the pool pauses the agent until retryAt, the task queues again to resume its session',
    (outcome) => {
      const entity = loaded();
      const retryAt = '2026-12-04T13:00:00.000Z';
      const verdict = entity.handleRunResult(result({ outcome, sessionId: 's1', retryAt }), run(entity), NOW);
      expect(verdict).toEqual({
        executionStatus: 'RATE_LIMITED',
        pool: { kind: outcome, until: retryAt },
        next: 'requeue',
        error: `claude ${outcome.replace('_', ' ')} until ${retryAt}`,
      });
      expect(entity.pendingResume).toMatchObject({ sessionId: 's1', agent: 'claude' });
      expect(entity.failureHistory).toEqual([]); // not a failure
    },
  );

  it('a rate limit without a reset time: the pool pauses the agent for a minute', () => {
    const entity = loaded();
    const verdict = entity.handleRunResult(result({ outcome: 'rate_limited' }), run(entity), NOW);
    expect(verdict.pool).toEqual({ kind: 'rate_limited', until: new Date(NOW + 60_000).toISOString() });
    expect(entity.pendingResume).toBeUndefined();
  });

  it.each([
    ['failed', 'FAILED', 'FAILED', { kind: 'failed', error: 'boom' }],
    ['timed_out', 'TIMED_OUT', 'TIMED_OUT', { kind: 'neutral' }],
    ['budget_exceeded', 'BUDGET_EXCEEDED', 'BUDGET_EXCEEDED', { kind: 'neutral' }],
  ] as const)(
    '%s: the execution is %s, the task ends %s, and the failure joins the history',
    (outcome, exec, state, pool) => {
      const entity = loaded();
      const verdict = entity.handleRunResult(result({ outcome, error: 'boom', summary: 'I tried.' }), run(entity), NOW);
      expect(verdict).toEqual({ executionStatus: exec, pool, next: 'settle', state, error: 'boom' });
      expect(entity.summary).toBe('I tried.');
      expect(entity.failureHistory).toEqual([expect.objectContaining({ id: 'run-1', status: exec, error: 'boom' })]);
    },
  );

  it('a failure without an error text says what ended it', () => {
    const entity = loaded();
    const verdict = entity.handleRunResult(result({ outcome: 'timed_out' }), run(entity), NOW);
    expect(verdict).toMatchObject({ next: 'settle', error: 'timed out' });
  });

  it('a failed validation run is the code’s fault, not the agent’s: the pool hears neutral', () => {
    const entity = loaded({ task: task({ kind: 'validation' }) });
    const verdict = entity.handleRunResult(result({ outcome: 'failed', error: 'tests fail' }), run(entity), NOW);
    expect(verdict).toMatchObject({ pool: { kind: 'neutral' }, next: 'settle', state: 'FAILED' });
  });

  it('the next fresh run carries the failures in its system prompt', () => {
    const entity = loaded();
    entity.handleRunResult(result({ outcome: 'failed', error: 'npm test failed' }), run(entity), NOW);
    const next = entity.startRun({
      executionId: 'run-2',
      agent: 'claude',
      model: 'opus',
      startTime: '2026-12-04T12:01:00Z',
      defaultTimeoutMs: 60_000,
    });
    expect(next.input.config.systemPromptAppend).toContain('npm test failed');
    expect(next.agentConfig).toEqual({ type: 'claude', model: 'opus' });
    expect(next.input.resume).toBeUndefined();
  });
});

describe('TaskEntity messages and waits', () => {
  it('refuses an answer unless the task is BLOCKED on a question, and an empty one', () => {
    const entity = loaded();
    entity.status.state = 'RUNNING';
    expect(() => entity.validateAnswer({ answer: 'x' })).toThrow(/not waiting for an answer \(it is RUNNING\)/);
    entity.status.state = 'BLOCKED';
    entity.status.question = { text: '?' };
    expect(() => entity.validateAnswer({ answer: '   ' })).toThrow(/empty/);
    expect(() => entity.validateAnswer({ answer: 7 })).toThrow(/empty/);
    expect(() => entity.validateAnswer({ answer: 'yes' })).not.toThrow();
    entity.answer({ answer: 'yes' });
    expect(() => entity.validateAnswer({ answer: 'again' })).toThrow(/not waiting/); // one answer per question
  });

  it('refuses a malformed answer input (what a hand-typed signal or update can send) with the shape to use', () => {
    const entity = loaded();
    entity.status.state = 'BLOCKED';
    entity.status.question = { text: '?' };
    for (const input of [undefined, null, 'postgres', ['postgres']]) {
      expect(() => entity.validateAnswer(input)).toThrow(/must be a JSON object such as \{"answer": "use postgres"/);
    }
    expect(() => entity.validateAnswer({ answer: 'yes', by: 7 })).toThrow(/"by" must be text/);
    expect(() => entity.validateAnswer({ answer: 'yes', by: 'alice' })).not.toThrow();
  });

  it('waits for dependencies by signal, seeing those that settled before it started, and names a broken one', () => {
    const entity = loaded({ task: task({ dependsOn: ['a', 'b', 'c'] }), dependencies: { a: 'READY', b: 'RUNNING' } });
    expect(entity.waitingDependencies()).toEqual(['b', 'c']);
    entity.dependencyFinished({ taskId: 'b', state: 'COMPLETED' });
    expect(entity.waitingDependencies()).toEqual(['c']);
    expect(entity.brokenDependency()).toBeUndefined();
    entity.dependencyFinished({ taskId: 'c', state: 'TIMED_OUT' });
    expect(entity.brokenDependency()).toBe('dependency c ended TIMED_OUT');
  });

  it('starts each new subtask once, and completes when every subtask is COMPLETED', () => {
    const entity = loaded({ task: task({ parentTaskId: undefined }) });
    expect(entity.subtaskChanged({ taskId: 's1', state: 'PENDING' })).toBe(true);
    expect(entity.subtaskChanged({ taskId: 's1', state: 'PENDING' })).toBe(false);
    expect(entity.subtaskChanged({ taskId: 's2', state: 'RUNNING' })).toBe(false); // started by its creator
    entity.subtaskStates({ s1: 'QUEUED', s2: 'RUNNING' });
    expect(entity.subtaskWait()).toEqual({ pending: ['s1', 's2'], failed: [] });
    entity.subtaskChanged({ taskId: 's1', state: 'COMPLETED' });
    entity.subtaskChanged({ taskId: 's2', state: 'FAILED' });
    expect(entity.subtaskWait()).toEqual({ pending: ['s2'], failed: [{ taskId: 's2', state: 'FAILED' }] });
    entity.subtaskChanged({ taskId: 's2', state: 'COMPLETED' });
    expect(entity.subtaskWait().pending).toEqual([]);
    expect(entity.doneState()).toBe('READY');
    expect(loaded({ task: task({ parentTaskId: 'p' }) }).doneState()).toBe('COMPLETED');
  });

  it('a retry with a message resumes the last session on its agent and host; without a session, a fresh run hears it', () => {
    const executions = [
      { id: 'e1', taskId: 't1', status: 'FAILED', agent: 'codex', sessionId: 'th-1', hostQueue: 'q@h2', startTime: '' },
      { id: 'e2', taskId: 't1', status: 'FAILED', agent: 'claude', startTime: '' },
    ] as Execution[];
    const entity = loaded({ executions }, 'try the other port');
    expect(entity.pendingResume).toEqual({
      sessionId: 'th-1',
      answer: 'try the other port',
      agent: 'codex',
      hostQueue: 'q@h2',
    });
    const fresh = loaded({}, 'try the other port');
    expect(fresh.pendingResume).toBeUndefined();
    expect(fresh.prompt).toBe('Add a login page\n\nEarlier in this task a human told you: try the other port');
  });

  it('has no state key for waiters until the task is loaded', () => {
    const entity = new TaskEntity('t1');
    expect(entity.stateKey()).toBeUndefined();
    entity.load({ task: task({ state: 'BLOCKED' }), dependencies: {}, subtasks: {}, executions: [] }, undefined);
    expect(entity.stateKey()).toBe('BLOCKED');
  });
});
