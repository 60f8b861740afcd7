/**
 * The summary of a run that did not succeed: the agent's last message, for a failed, timed-out,
 * over-budget and cancelled run, as the execution row and the task hold it once the task workflow's
 * bookkeeping (recordOutcome, called here as the workflow calls it) has recorded the outcome.
 * The fake Claude replays the CLI's recorded lines (test/fixtures/claude/).
 */
import path from 'node:path';
import { CancelledFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRecordActivities } from '../../activities/record.js';
import { createAgentActivities } from '../../activities/run-agent.js';
import { executionStatusFor, failureStateFor } from '../../workflows/task-state.js';
import type { AgentRunInput, AgentRunResult } from '../../workflows/types.js';
import {
  fakeAgentConfig,
  makeBareRepo,
  markedProcesses,
  newRun,
  readPids,
  runIn,
  tempDir,
  waitFor,
} from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';

const db = useTestDatabase();
let root: { dir: string; remove: () => void };
let remote: string;
let n = 0;

beforeAll(() => {
  root = tempDir('run-agent-summary');
  remote = makeBareRepo(root.dir);
});
afterAll(() => root.remove());

async function setup(scenario: string, options: { timeoutMs?: number; maxBudgetUsd?: number } = {}) {
  n += 1;
  const stateDir = path.join(root.dir, `state-${n}`);
  const config = fakeAgentConfig({ dataDir: path.join(root.dir, 'data'), stateDir, scenario });
  const { runAgent } = createAgentActivities({ store: db.current.store, config, killGraceMs: 1_000 });
  const input = await newRun(db.current.store, {
    agent: 'claude',
    repository: { url: remote, branch: `task/summary-${scenario}-${n}` },
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    ...(options.maxBudgetUsd ? { config: { maxBudgetUsd: options.maxBudgetUsd } } : {}),
  });
  // Where the task workflow has the task while its agent runs.
  await db.current.store.updateTaskState(input.taskId, 'QUEUED');
  await db.current.store.updateTaskState(input.taskId, 'RUNNING');
  return { stateDir, input, runAgent };
}

/** What the task workflow records for a run that ended `failed`, `timed_out` or `budget_exceeded`. */
async function recordFailure(input: AgentRunInput, result: AgentRunResult): Promise<void> {
  const { outcome, paths: _paths, ...rest } = result;
  if (outcome !== 'failed' && outcome !== 'timed_out' && outcome !== 'budget_exceeded') {
    throw new Error(`expected a failure outcome, got ${outcome}`);
  }
  await createRecordActivities({ store: db.current.store }).recordOutcome({
    taskId: input.taskId,
    executionId: input.executionId,
    status: executionStatusFor(outcome),
    taskState: failureStateFor(outcome),
    result: { ...rest, paths: result.paths },
    error: result.error ?? outcome,
  });
}

async function summaries(input: AgentRunInput): Promise<{ execution?: string; task?: string }> {
  const [execution, task] = await Promise.all([
    db.current.store.getExecution(input.executionId),
    db.current.store.getTask(input.taskId),
  ]);
  return { execution: execution.summary, task: task.summary };
}

describe('a run that did not succeed records the agent’s last message as its summary', () => {
  it('failed (the CLI crashed after a tool call): the message before the tool call', async () => {
    const { input, runAgent } = await setup('crash');
    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    expect(result).toMatchObject({ outcome: 'failed', summary: 'Looking at the failing test.' });
    expect(result.error).toContain('TypeError');

    await recordFailure(input, result);
    expect(await summaries(input)).toEqual({
      execution: 'Looking at the failing test.',
      task: 'Looking at the failing test.',
    });
    expect((await db.current.store.getExecution(input.executionId)).status).toBe('FAILED');
  });

  it('timed_out (a tool that never returns): the message before it', async () => {
    const { stateDir, input, runAgent } = await setup('hang', { timeoutMs: 1_500 });
    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    expect(result).toMatchObject({ outcome: 'timed_out', summary: 'Starting the dev server to check the page.' });
    expect(readPids(stateDir)).toHaveLength(1);

    await recordFailure(input, result);
    expect(await summaries(input)).toEqual({
      execution: 'Starting the dev server to check the page.',
      task: 'Starting the dev server to check the page.',
    });
    expect(markedProcesses(input.executionId)).toEqual([]);
  });

  it('budget_exceeded (error_max_budget_usd): the message of the turn that spent it', async () => {
    const { input, runAgent } = await setup('budget', { maxBudgetUsd: 0.5 });
    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    expect(result).toMatchObject({ outcome: 'budget_exceeded', summary: 'Refactoring the parser module.' });

    await recordFailure(input, result);
    expect(await summaries(input)).toEqual({
      execution: 'Refactoring the parser module.',
      task: 'Refactoring the parser module.',
    });
  });

  it('cancelled: the runner writes it to the execution and the task before it rethrows; the workflow’s CANCELLED record keeps it', async () => {
    const { stateDir, input, runAgent } = await setup('hang');
    const env = new MockActivityEnvironment();
    const running = runIn(env, runAgent, input);
    await waitFor('the fake to start its grandchildren', () => readPids(stateDir)[0]);
    env.cancel();
    await expect(running).rejects.toBeInstanceOf(CancelledFailure);
    expect(markedProcesses(input.executionId)).toEqual([]);
    expect(await summaries(input)).toEqual({
      execution: 'Starting the dev server to check the page.',
      task: 'Starting the dev server to check the page.',
    });

    // What the task workflow records when the cancellation reaches it.
    await createRecordActivities({ store: db.current.store }).recordOutcome({
      taskId: input.taskId,
      executionId: input.executionId,
      status: 'CANCELLED',
      taskState: 'CANCELLED',
      error: 'cancelled',
    });
    const execution = await db.current.store.getExecution(input.executionId);
    expect(execution).toMatchObject({ status: 'CANCELLED', summary: 'Starting the dev server to check the page.' });
  });

  it('a failed run whose agent said nothing has no summary', async () => {
    const { input, runAgent } = await setup('garbage');
    const result = await runIn(new MockActivityEnvironment(), runAgent, input);
    expect(result.outcome).toBe('failed');
    expect(result.summary).toBeUndefined();
    await recordFailure(input, result);
    expect(await summaries(input)).toEqual({ execution: undefined, task: undefined });
  });
});
