/**
 * runAgent through a real worker on the dev server: cancelling the workflow kills the agent's whole
 * process tree before the activity confirms the cancellation, and a worker that goes away mid-run is
 * followed by an attempt that resumes the session from the last heartbeat the server kept.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { WorkflowFailedError } from '@temporalio/client';
import { CancelledFailure } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { bundleWorkflowCode, Worker, type WorkflowBundleWithSourceMap } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAgentActivities, INTERRUPTED_PROMPT } from '../../activities/run-agent.js';
import type { AgentRunProgress } from '../../workflows/types.js';
import {
  fakeAgentConfig,
  groupMembers,
  isAlive,
  makeBareRepo,
  markedProcesses,
  newRun,
  readCalls,
  readPids,
  tempDir,
  waitFor,
} from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import { runAgentTestWorkflow } from '../workflows/fixtures/run-agent-workflow.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let bundle: WorkflowBundleWithSourceMap;
let root: { dir: string; remove: () => void };
let remote: string;

beforeAll(async () => {
  root = tempDir('run-agent-worker');
  remote = makeBareRepo(root.dir);
  env = await devServerEnv();
  bundle = await bundleWorkflowCode({
    workflowsPath: fileURLToPath(new URL('../workflows/fixtures/run-agent-workflow.ts', import.meta.url)),
    logger: { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} },
  });
});
afterAll(async () => {
  await env?.teardown();
  root?.remove();
});

function worker(taskQueue: string, scenario: string, stateDir: string): Promise<Worker> {
  const config = fakeAgentConfig({ dataDir: path.join(root.dir, 'data'), stateDir, scenario });
  return Worker.create({
    connection: env.nativeConnection,
    namespace: env.namespace ?? 'default',
    taskQueue,
    workflowBundle: bundle,
    activities: createAgentActivities({ store: db.current.store, config, killGraceMs: 1_000 }),
  });
}

describe('runAgent on a real worker', () => {
  it('cancelling the workflow kills the agent and its grandchildren, then the activity reports the cancellation', async () => {
    const taskQueue = uniqueName();
    const stateDir = path.join(root.dir, taskQueue);
    const w = await worker(taskQueue, 'hang', stateDir);
    const input = await newRun(db.current.store, {
      agent: 'claude',
      repository: { url: remote, branch: `task/${taskQueue}` },
    });

    await w.runUntil(async () => {
      const handle = await env.client.workflow.start(runAgentTestWorkflow, {
        taskQueue,
        workflowId: taskQueue,
        args: [input],
      });
      const pids = await waitFor('the fake to start its grandchildren', () => readPids(stateDir)[0]);
      await handle.cancel();
      const err = await handle.result().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(WorkflowFailedError);
      expect((err as WorkflowFailedError).cause).toBeInstanceOf(CancelledFailure);

      for (const pid of [pids.cli, ...pids.children])
        expect({ pid, alive: isAlive(pid) }).toEqual({ pid, alive: false });
      expect(groupMembers(pids.cli)).toEqual([]);
      expect(markedProcesses(input.executionId)).toEqual([]);
      // EVENT_TYPE_ACTIVITY_TASK_CANCELED (16): the activity confirmed the cancellation after the kill.
      const types = (await handle.fetchHistory()).events?.map((e) => e.eventType) ?? [];
      expect(types).toContain(16);
    });
  });

  it('a worker that shuts down mid-run: the next attempt resumes the session from the last heartbeat', async () => {
    const taskQueue = uniqueName();
    const stateDir = path.join(root.dir, taskQueue);
    const input = await newRun(db.current.store, {
      agent: 'claude',
      repository: { url: remote, branch: `task/${taskQueue}` },
    });
    const handle = await env.client.workflow.start(runAgentTestWorkflow, {
      taskQueue,
      workflowId: taskQueue,
      args: [input, 2],
    });

    const first = await worker(taskQueue, 'interrupt', stateDir);
    const running = first.run();
    // Wait until the server holds a heartbeat with the session id and some output.
    const beat = await waitFor(
      'a heartbeat with output on the server',
      async () => {
        const pending = (await handle.describe()).raw.pendingActivities?.[0];
        const data = pending?.heartbeatDetails?.payloads?.[0]?.data;
        if (!data) return undefined;
        const progress = JSON.parse(Buffer.from(data).toString('utf8')) as AgentRunProgress;
        return progress.sessionId && progress.bytes > 0 ? progress : undefined;
      },
      20_000,
    );
    first.shutdown();
    await running;
    const firstCli = readCalls(stateDir)[0]!.pid;
    expect(isAlive(firstCli)).toBe(false);

    const second = await worker(taskQueue, 'interrupt', stateDir);
    const result = await second.runUntil(handle.result());
    expect(result).toMatchObject({ outcome: 'success', sessionId: beat.sessionId });
    const calls = readCalls(stateDir);
    expect(calls).toHaveLength(2);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', beat.sessionId]));
    expect(calls[1]!.argv.at(-1)).toBe(INTERRUPTED_PROMPT);
    expect(calls[1]!.env.CLAUDOMATOR_RUN_ID).toBe(`${input.executionId}:2`);
  });
});
