import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import {
  DatabaseUnreachableError,
  IllegalTransitionError,
  NotFoundError,
  ConflictError,
  Store,
} from '../../store/index.js';
import { migrate, migrationsDir } from '../../store/migrate.js';
import { TASK_STATES, type Execution, type TaskState } from '../../workflows/types.js';
import { TASK_TRANSITIONS } from '../../workflows/states.js';
import { useTestDatabase } from '../helpers/fixtures.js';

const db = useTestDatabase();
const store = (): Store => db.current.store;
let seq = 0;
const id = (label: string): string => `${label}-${++seq}`;

async function seedProjectAndStory(): Promise<{ projectId: string; storyId: string }> {
  const projectId = id('proj');
  await store().upsertProject({ id: projectId, remoteUrl: '/srv/git/app.git', defaultBranch: 'main' });
  const storyId = id('story');
  await store().createStory({ id: storyId, projectId, name: 'Story', branch: 'feature/x', maxFixAttempts: 2 });
  return { projectId, storyId };
}

async function newTask(extra: Partial<Parameters<Store['createTask']>[0]> = {}) {
  const { task } = await store().createTask({
    id: id('task'),
    name: 'Do a thing',
    instructions: 'Change the file',
    agent: { type: 'claude' },
    ...extra,
  });
  return task;
}

async function countRows(table: string, where = 'true', params: unknown[] = []): Promise<number> {
  const { rows } = await store().pool.query<{ n: string }>(`select count(*) as n from ${table} where ${where}`, params);
  return Number(rows[0]!.n);
}

describe('migrations', () => {
  it('running them again is a no-op, also concurrently', async () => {
    const results = await Promise.all([migrate(db.current.url), migrate(db.current.url)]);
    expect(results).toEqual([[], []]);
    expect(await countRows('claudomator_migrations')).toBe(readdirSync(migrationsDir()).length);
  });
});

describe('projects and stories', () => {
  it('upserts a project idempotently and reads it back', async () => {
    const spec = {
      id: id('proj'),
      remoteUrl: 'https://example.com/app.git',
      defaultBranch: 'main',
      deployCommand: 'make deploy',
      validation: { command: 'npm test' },
    };
    const first = await store().upsertProject(spec);
    const second = await store().upsertProject(spec);
    expect(second).toEqual(first);
    expect(await store().getProject(spec.id)).toMatchObject({
      deployCommand: 'make deploy',
      validation: { command: 'npm test' },
    });
    expect((await store().listProjects()).map((p) => p.id)).toContain(spec.id);
  });

  it('creates a story once; a different story under the same id is a conflict', async () => {
    const { projectId, storyId } = await seedProjectAndStory();
    const again = await store().createStory({
      id: storyId,
      projectId,
      name: 'Story',
      branch: 'feature/x',
      maxFixAttempts: 2,
    });
    expect(again.created).toBe(false);
    await expect(
      store().createStory({ id: storyId, projectId, name: 'Story', branch: 'other', maxFixAttempts: 2 }),
    ).rejects.toBeInstanceOf(ConflictError);
    expect(await countRows('stories', 'id = $1', [storyId])).toBe(1);
  });

  it('updates story status along allowed transitions, refuses others naming both states', async () => {
    const { storyId } = await seedProjectAndStory();
    await store().updateStoryStatus(storyId, 'IN_PROGRESS', 'running 2 tasks');
    const again = await store().updateStoryStatus(storyId, 'IN_PROGRESS');
    expect(again).toMatchObject({ status: 'IN_PROGRESS', detail: 'running 2 tasks' });
    const err = await store()
      .updateStoryStatus(storyId, 'REVIEW_READY')
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(IllegalTransitionError);
    expect((err as Error).message).toContain('IN_PROGRESS → REVIEW_READY');
    expect((await store().getStory(storyId)).status).toBe('IN_PROGRESS');
    expect((await store().listStories({ status: 'IN_PROGRESS' })).map((s) => s.id)).toContain(storyId);
  });

  it('getProject/getStory of an unknown id is NotFoundError', async () => {
    await expect(store().getProject('nope')).rejects.toBeInstanceOf(NotFoundError);
    await expect(store().getStory('nope')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('tasks', () => {
  it('creates a task with dependencies once, however often it is called', async () => {
    const dep = await newTask();
    const spec = {
      id: id('task'),
      name: 'B',
      instructions: 'do B',
      agent: { type: 'claude' as const },
      dependsOn: [dep.id],
    };
    const first = await store().createTask(spec);
    const second = await store().createTask(spec);
    expect(first.created).toBe(true);
    expect(second.created).toBe(false);
    expect(second.task).toEqual(first.task);
    expect(first.task).toMatchObject({ state: 'PENDING', dependsOn: [dep.id] });
    expect(await countRows('tasks', 'id = $1', [spec.id])).toBe(1);
    expect(await countRows('task_dependencies', 'task_id = $1', [spec.id])).toBe(1);
  });

  it('returns the first task for a repeated idempotency key, and refuses a different task under a used id', async () => {
    const key = id('key');
    const first = await store().createTask({
      id: id('task'),
      name: 'K',
      instructions: 'k',
      agent: { type: 'any' },
      idempotencyKey: key,
    });
    const second = await store().createTask({
      id: id('task'),
      name: 'K',
      instructions: 'k',
      agent: { type: 'any' },
      idempotencyKey: key,
    });
    expect(second).toEqual({ task: first.task, created: false });
    await expect(
      store().createTask({ id: first.task.id, name: 'other', instructions: 'x', agent: { type: 'claude' } }),
    ).rejects.toBeInstanceOf(ConflictError);
  });

  it('rejects unknown dependencies, parents, stories and projects as NotFoundError', async () => {
    await expect(newTask({ dependsOn: ['ghost'] })).rejects.toThrow(/No task with id "ghost"/);
    await expect(newTask({ parentTaskId: 'ghost-parent' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(newTask({ storyId: 'ghost-story' })).rejects.toThrow(/No story/);
    await expect(newTask({ projectId: 'ghost-project' })).rejects.toThrow(/No project/);
  });

  it('gets, lists and filters tasks; lists subtasks, dependents, tasks by story', async () => {
    const { projectId, storyId } = await seedProjectAndStory();
    const parent = await newTask({ storyId, projectId });
    const child = await newTask({ parentTaskId: parent.id, storyId });
    const dependent = await newTask({ dependsOn: [parent.id] });
    await store().updateTaskState(child.id, 'QUEUED');

    expect(await store().getTask(parent.id)).toEqual(parent);
    expect(await store().findTask('ghost')).toBeUndefined();
    await expect(store().getTask('ghost')).rejects.toBeInstanceOf(NotFoundError);
    expect((await store().listSubtasks(parent.id)).map((t) => t.id)).toEqual([child.id]);
    expect((await store().listDependents(parent.id)).map((t) => t.id)).toEqual([dependent.id]);
    expect((await store().listTasksByStory(storyId)).map((t) => t.id)).toEqual([parent.id, child.id]);
    expect((await store().listTasks({ state: 'QUEUED', storyId })).map((t) => t.id)).toEqual([child.id]);
    expect((await store().listTasks({ projectId })).map((t) => t.id)).toEqual([parent.id]);
    const some = await store().listTasks({ state: ['PENDING', 'QUEUED'], limit: 2 });
    expect(some).toHaveLength(2);
  });

  it('walks the dependency closure for cycle checks', async () => {
    const a = await newTask();
    const b = await newTask({ dependsOn: [a.id] });
    const c = await newTask({ dependsOn: [b.id] });
    const edges = await store().listDependencyClosure([c.id]);
    expect(edges).toEqual([
      { taskId: b.id, dependsOn: a.id },
      { taskId: c.id, dependsOn: b.id },
    ]);
  });

  it('follows every allowed transition and refuses every other one, naming both states', async () => {
    for (const from of TASK_STATES) {
      for (const to of TASK_STATES) {
        const task = await newTask();
        await driveTo(task.id, from);
        const allowed = from === to || TASK_TRANSITIONS[from].includes(to);
        const result = await store()
          .updateTaskState(task.id, to)
          .catch((e: unknown) => e);
        if (allowed) {
          expect(result, `${from} → ${to}`).toEqual({ from });
          expect((await store().getTask(task.id)).state).toBe(to);
        } else {
          expect(result, `${from} → ${to}`).toBeInstanceOf(IllegalTransitionError);
          expect((result as Error).message).toContain(`${from} → ${to}`);
          expect((await store().getTask(task.id)).state).toBe(from);
        }
      }
    }
  });

  it('records and clears the last error with a state change; repeating a state change is a no-op', async () => {
    const task = await newTask();
    await driveTo(task.id, 'RUNNING');
    await store().updateTaskState(task.id, 'FAILED', { error: 'boom' });
    await store().updateTaskState(task.id, 'FAILED', { error: 'boom' });
    expect(await store().getTask(task.id)).toMatchObject({ state: 'FAILED', error: 'boom' });
    await store().updateTaskState(task.id, 'QUEUED', { error: null });
    expect((await store().getTask(task.id)).error).toBeUndefined();
    await expect(store().updateTaskState('ghost', 'QUEUED')).rejects.toBeInstanceOf(NotFoundError);
  });

  it('stores question, summary and agent; appends interactions once each', async () => {
    const task = await newTask();
    await store().updateTaskQuestion(task.id, { text: 'Which DB?', options: ['pg', 'sqlite'] });
    await store().updateTaskSummary(task.id, 'Did it');
    await store().updateTaskAgent(task.id, { type: 'claude', model: 'sonnet' });
    expect(await store().getTask(task.id)).toMatchObject({
      question: { text: 'Which DB?', options: ['pg', 'sqlite'] },
      summary: 'Did it',
      agent: { type: 'claude', model: 'sonnet' },
    });
    await store().updateTaskQuestion(task.id, null);
    expect((await store().getTask(task.id)).question).toBeUndefined();

    const question = {
      id: `${task.id}:q1`,
      taskId: task.id,
      kind: 'question' as const,
      text: 'Which DB?',
      options: ['pg'],
      at: new Date().toISOString(),
    };
    const answer = {
      id: `${task.id}:a1`,
      taskId: task.id,
      kind: 'answer' as const,
      text: 'pg',
      at: new Date(Date.now() + 1000).toISOString(),
    };
    await store().appendTaskInteraction(question);
    await store().appendTaskInteraction(question);
    await store().appendTaskInteraction(answer);
    const history = await store().listTaskInteractions(task.id);
    expect(history.map((i) => [i.kind, i.text])).toEqual([
      ['question', 'Which DB?'],
      ['answer', 'pg'],
    ]);
    await expect(store().updateTaskSummary('ghost', 'x')).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('executions', () => {
  it('creates once, updates fields and change stats, lists in order', async () => {
    const task = await newTask();
    const exec: Execution = {
      id: `${task.id}:run-1`,
      taskId: task.id,
      status: 'RUNNING',
      agent: 'claude',
      startTime: '2026-01-01T00:00:00.000Z',
      stdoutPath: '/data/x/stdout.log',
      stderrPath: '/data/x/stderr.log',
      artifactDir: '/data/x',
    };
    const created = await store().createExecution(exec);
    await store().createExecution({ ...exec, status: 'FAILED' });
    expect(created).toEqual(exec);
    expect(await countRows('executions', 'task_id = $1', [task.id])).toBe(1);

    const patch = {
      status: 'SUCCEEDED' as const,
      endTime: '2026-01-01T00:05:00.000Z',
      sessionId: 'sess-1',
      costUsd: 0.42,
      summary: 'done',
    };
    await store().updateExecution(exec.id, patch);
    await store().updateExecution(exec.id, patch);
    await store().updateExecutionChangestats(exec.id, { filesChanged: 2, insertions: 3, deletions: 1 });
    await store().createExecution({ ...exec, id: `${task.id}:run-2`, startTime: '2026-01-01T01:00:00.000Z' });

    const list = await store().listExecutions(task.id);
    expect(list.map((e) => e.id)).toEqual([exec.id, `${task.id}:run-2`]);
    expect(list[0]).toEqual({ ...exec, ...patch, changeStats: { filesChanged: 2, insertions: 3, deletions: 1 } });
    await expect(store().updateExecution('ghost', { status: 'FAILED' })).rejects.toBeInstanceOf(NotFoundError);
    await expect(
      store().updateExecutionChangestats('ghost', { filesChanged: 0, insertions: 0, deletions: 0 }),
    ).rejects.toBeInstanceOf(NotFoundError);
  });
});

describe('agent events', () => {
  it('records each event once and lists newest first', async () => {
    const agent = id('agent');
    const limited = {
      id: `${agent}:1`,
      agent,
      event: 'rate_limited' as const,
      at: '2026-01-01T00:00:00.000Z',
      until: '2026-01-01T00:01:00.000Z',
      reason: 'transient',
    };
    const available = { id: `${agent}:2`, agent, event: 'available' as const, at: '2026-01-01T00:01:00.000Z' };
    await store().recordAgentEvent(limited);
    await store().recordAgentEvent(limited);
    await store().recordAgentEvent(available);
    expect(await store().listAgentEvents({ agent })).toEqual([available, limited]);
  });
});

describe('an unreachable database', () => {
  it('fails within seconds with a message naming where and what to do', async () => {
    const started = Date.now();
    // Port 1 on loopback refuses at once; 10.255.255.1 is unroutable and exercises the connect timeout.
    for (const url of [
      'postgres://postgres@127.0.0.1:1/claudomator',
      'postgres://postgres@10.255.255.1:5432/claudomator',
    ]) {
      const err = await Store.connect(url).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DatabaseUnreachableError);
      expect((err as Error).message).toMatch(/Cannot reach Postgres at .*:\d+\/claudomator.*DATABASE_URL/);
    }
    expect(Date.now() - started).toBeLessThan(15_000);
  });
});

/** Move a fresh PENDING task to `state` along allowed transitions. */
async function driveTo(taskId: string, state: TaskState): Promise<void> {
  const path: Record<TaskState, TaskState[]> = {
    PENDING: [],
    QUEUED: ['QUEUED'],
    RUNNING: ['QUEUED', 'RUNNING'],
    BLOCKED: ['QUEUED', 'RUNNING', 'BLOCKED'],
    READY: ['QUEUED', 'RUNNING', 'READY'],
    COMPLETED: ['QUEUED', 'RUNNING', 'COMPLETED'],
    FAILED: ['QUEUED', 'RUNNING', 'FAILED'],
    TIMED_OUT: ['QUEUED', 'RUNNING', 'TIMED_OUT'],
    CANCELLED: ['QUEUED', 'RUNNING', 'CANCELLED'],
    BUDGET_EXCEEDED: ['QUEUED', 'RUNNING', 'BUDGET_EXCEEDED'],
  };
  for (const step of path[state]) await store().updateTaskState(taskId, step);
}
