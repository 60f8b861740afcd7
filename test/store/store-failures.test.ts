/**
 * Store errors leave the bookkeeping activities as non-retryable `ApplicationFailure`s typed by
 * `FailureType` (the constants BOOKKEEPING's retry policy names), never by class name; any other
 * error (a lost connection) passes through unchanged, to be retried.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { MockActivityEnvironment } from '@temporalio/testing';
import { describe, expect, it } from 'vitest';
import { createPoolActivities } from '../../activities/pool.js';
import { createRecordActivities } from '../../activities/record.js';
import { createStoryActivities } from '../../activities/story.js';
import { loadConfig } from '../../infra/config.js';
import { Store } from '../../store/index.js';
import { BOOKKEEPING } from '../../workflows/activity-options.js';
import { FailureType } from '../../workflows/failures.js';
import { useTestDatabase } from '../helpers/fixtures.js';

const db = useTestDatabase();
const record = () => createRecordActivities({ store: db.current.store });
let seq = 0;

/** What running `fn` as an activity threw. */
async function failureOf(fn: () => Promise<unknown>): Promise<unknown> {
  return new MockActivityEnvironment().run(fn).then(
    () => expect.fail('expected the activity to fail'),
    (err: unknown) => err,
  );
}

function expectTypedFailure(err: unknown, type: FailureType, message: RegExp): void {
  expect(err).toBeInstanceOf(ApplicationFailure);
  const failure = err as ApplicationFailure;
  expect(failure.type).toBe(type);
  expect(failure.nonRetryable).toBe(true);
  expect(failure.message).toMatch(message);
  expect(BOOKKEEPING.retry?.nonRetryableErrorTypes).toContain(type);
}

describe('store errors in activities', () => {
  it('an unknown task is a non-retryable NotFound failure', async () => {
    const err = await failureOf(() => record().loadTaskContext('ghost-task'));
    expectTypedFailure(err, FailureType.NotFound, /^No task with id "ghost-task"\.$/);
  });

  it('an unknown story, in the story activities too, is NotFound', async () => {
    const err = await failureOf(() => record().loadStoryContext('ghost-story'));
    expectTypedFailure(err, FailureType.NotFound, /^No story with id "ghost-story"\.$/);
    const explain = await failureOf(() =>
      createStoryActivities({ store: db.current.store }).explainTaskWait({ taskId: 'ghost', poolWorkflowId: 'p' }),
    );
    expectTypedFailure(explain, FailureType.NotFound, /No task with id "ghost"/);
  });

  it('a state change the transition table refuses is a non-retryable IllegalTransition failure', async () => {
    const id = `failures-task-${++seq}`;
    await db.current.store.createTask({ id, name: 'Task', instructions: 'Do it', agent: { type: 'claude' } });
    const err = await failureOf(() => record().recordTaskState({ taskId: id, state: 'COMPLETED' }));
    expectTypedFailure(
      err,
      FailureType.IllegalTransition,
      new RegExp(`^Illegal task state transition for "${id}": PENDING → COMPLETED$`),
    );
    expect((await db.current.store.getTask(id)).state).toBe('PENDING');
  });

  it('a different task under a story task id is a non-retryable Conflict failure', async () => {
    const store = db.current.store;
    const project = `failures-project-${++seq}`;
    await store.upsertProject({ id: project, remoteUrl: '/tmp/none.git', defaultBranch: 'main' });
    const { story } = await store.createStory({
      id: `failures-story-${seq}`,
      projectId: project,
      name: 'Story',
      branch: 'story/x',
      maxFixAttempts: 1,
    });
    await store.createTask({
      id: `${story.id}-validate-1`,
      name: 'Squatter',
      instructions: 'x',
      agent: { type: 'claude' },
    });
    const err = await failureOf(() => record().createStoryTask({ storyId: story.id, kind: 'validation', number: 1 }));
    expectTypedFailure(err, FailureType.Conflict, /^A different task with id ".*-validate-1" already exists/);
  });

  it('any other error passes through unchanged, so the retry policy retries it', async () => {
    const closed = await Store.connect(db.current.url, { max: 1 });
    await closed.close();
    const pool = createPoolActivities({ store: closed, config: loadConfig({}) });
    const event = { id: 'failures-event', agent: 'claude', event: 'resumed' as const, at: new Date().toISOString() };
    const err = await failureOf(() => pool.recordAgentEvent(event));
    expect(err).not.toBeInstanceOf(ApplicationFailure);
    expect((err as Error).message).toMatch(/pool after calling end/);
  });
});
