/**
 * `answer` (task) and `acknowledgeAgent` (pool) by signal as well as by update, sent the way the
 * README tells people to: with the `temporal` CLI and the README's exact JSON. A refused signal is
 * recorded in Postgres and listed in the current details, and the workflow goes on.
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it } from 'vitest';
import { taskStatusQuery, taskWorkflowId } from '../../workflows/definitions.js';
import type { AgentStatus } from '../../workflows/types.js';
import { readCalls } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { recordHistory } from '../helpers/histories.js';
import { startTestStack, type TestStack } from '../helpers/stack.js';
import { devServerEnv } from '../helpers/temporal.js';
import { eventually } from './fixtures/pool-harness.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
let stack: TestStack | undefined;

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  await stack?.stop();
  stack = undefined;
});
afterAll(async () => {
  await env?.teardown();
});

// The JSON inputs exactly as the README's "Answer from the Web UI" section gives them.
const ANSWER_INPUT = '{"answer": "postgres", "by": "alice"}';
const ACKNOWLEDGE_INPUT = '{"agent": "claude", "by": "alice"}';

/** The `temporal` CLI against the test's dev server, as a person would run it. */
async function temporal(...args: string[]): Promise<string> {
  const { stdout } = await execa(inject('temporalCliPath'), [
    ...args,
    '--address',
    inject('temporalAddress'),
    '--namespace',
    inject('temporalNamespace'),
  ]);
  return stdout;
}

const signal = (workflowId: string, name: string, input: string) =>
  temporal('workflow', 'signal', '--workflow-id', workflowId, '--name', name, '--input', input);
const update = (workflowId: string, name: string, input: string, ...more: string[]) =>
  temporal('workflow', 'update', 'execute', '--workflow-id', workflowId, '--name', name, '--input', input, ...more);

/** The workflow's current details, as the Web UI shows them. */
async function currentDetails(workflowId: string): Promise<string> {
  const meta = await env.client.workflow
    .getHandle(workflowId)
    .query<{ currentDetails: string }>('__temporal_workflow_metadata');
  return meta.currentDetails;
}

async function submit(s: TestStack, suffix: string, scenario: string, extra: Record<string, unknown> = {}) {
  const [task] = await s.client.submitTasks({
    id: `${s.name}-${suffix}`,
    name: `task ${suffix}`,
    instructions: `Do it [scenario:${scenario}]`,
    ...extra,
  });
  return task!;
}

describe('answer and acknowledgeAgent by signal', () => {
  it('answers by signal or by update; refused answer signals are recorded and shown, and the task goes on', async () => {
    stack = await startTestStack(env, db.current.store, { env: { FAKE_AGENT_SLOW_LINES: '100' } });
    const busy = await submit(stack, 'busy', 'slow', { agent: { type: 'codex' } });
    const bySignal = await submit(stack, 'by-signal', 'question');
    const byUpdate = await submit(stack, 'by-update', 'question');

    // A task that is not blocked: the signal is refused, recorded, shown, and the run goes on.
    await stack.client.waitForTask(busy.id, { until: ['RUNNING'], timeoutMs: 30_000 });
    await signal(taskWorkflowId(busy.id), 'answer', ANSWER_INPUT);
    const busyDetails = await eventually('the refusal in the busy task details', async () => {
      const details = await currentDetails(taskWorkflowId(busy.id));
      return details.includes('Rejected signals') && details;
    });
    expect(busyDetails).toContain('**RUNNING**');
    expect(busyDetails).toContain(`Task ${busy.id} is not waiting for an answer (it is RUNNING`);

    // Blocked on its question: an empty answer and a malformed input are refused; the task stays blocked.
    await stack.client.waitForTask(bySignal.id, { until: ['BLOCKED'], timeoutMs: 60_000 });
    const workflowId = taskWorkflowId(bySignal.id);
    await signal(workflowId, 'answer', '{"answer": "   "}');
    await signal(workflowId, 'answer', '"postgres"');
    const rejected = await eventually('two refusals in Postgres', async () => {
      const rows = await db.current.store.listRejectedSignals({ taskId: bySignal.id });
      return rows.length === 2 && rows;
    });
    expect(rejected.map((r) => [r.signal, r.input, r.workflowId])).toEqual([
      ['answer', { answer: '   ' }, workflowId],
      ['answer', 'postgres', workflowId],
    ]);
    expect(rejected[0]!.reason).toBe('The answer is empty: say what the agent should do.');
    expect(rejected[1]!.reason).toMatch(/^The input must be a JSON object such as \{"answer": "use postgres"/);
    const details = await currentDetails(workflowId);
    expect(details).toContain('**BLOCKED** — waiting for an answer');
    expect(details).toContain('**Question:** Which database should I use?');
    expect(details).toContain('Send an Update (or Send a Signal) `answer` with `{"answer": "<answer>"}`');
    expect(details).toContain('The answer is empty');
    expect(details).toContain('The input must be a JSON object');
    expect(await env.client.workflow.getHandle(workflowId).query(taskStatusQuery)).toMatchObject({
      state: 'BLOCKED',
      question: { text: 'Which database should I use?' },
    });

    // The README's signal: the task resumes its session with the answer. A second answer is refused.
    await signal(workflowId, 'answer', ANSWER_INPUT);
    await signal(workflowId, 'answer', '{"answer": "sqlite"}');
    const done = await stack.client.waitForTask(bySignal.id, { timeoutMs: 60_000 });
    expect(done.state).toBe('READY');
    const { executions, interactions } = await stack.client.getTask(bySignal.id);
    expect(executions.map((e) => [e.status, e.resumeAnswer])).toEqual([
      ['QUESTION', undefined],
      ['SUCCEEDED', 'postgres'],
    ]);
    expect(interactions.map((i) => [i.kind, i.text])).toEqual([
      ['question', 'Which database should I use?'],
      ['answer', 'postgres'],
    ]);
    const calls = readCalls(stack.stateDir).filter((c) => c.env.CLAUDOMATOR_TASK_ID === bySignal.id);
    expect(calls[1]!.argv).toEqual(expect.arrayContaining(['--resume', executions[0]!.sessionId!]));
    const all = await eventually('the second answer refused', async () => {
      const rows = await db.current.store.listRejectedSignals({ workflowId });
      return rows.length === 3 && rows;
    });
    expect(all[2]).toMatchObject({ input: { answer: 'sqlite' }, taskId: bySignal.id });
    expect(all[2]!.reason).toContain('is not waiting for an answer');

    // The README's update, on the other task: it answers with the execution id and the task resumes.
    await stack.client.waitForTask(byUpdate.id, { until: ['BLOCKED'], timeoutMs: 60_000 });
    expect(await update(taskWorkflowId(byUpdate.id), 'answer', ANSWER_INPUT)).toMatch(/executionId/);
    expect((await stack.client.waitForTask(byUpdate.id, { timeoutMs: 60_000 })).state).toBe('READY');
    expect((await stack.client.getTask(byUpdate.id)).executions[1]).toMatchObject({ resumeAnswer: 'postgres' });
    expect(await db.current.store.listRejectedSignals({ taskId: byUpdate.id })).toEqual([]);

    // The busy task was never disturbed by the refused signal.
    expect((await stack.client.waitForTask(busy.id, { timeoutMs: 60_000 })).state).toBe('READY');
    expect(await db.current.store.listRejectedSignals({ taskId: busy.id })).toHaveLength(1);
    await recordHistory(env.client.workflow.getHandle(workflowId), 'task-answer-signal');
  });

  it('acknowledges a drained agent by signal or update; an unknown agent is recorded as refused', async () => {
    stack = await startTestStack(env, db.current.store);
    const poolId = stack.config.poolWorkflowId;
    const statusOf = async (agent: string): Promise<AgentStatus> =>
      (await stack!.client.agentStatuses()).find((s) => s.agent === agent)!;

    // Two failed runs drain claude; a third task waits for it.
    for (const suffix of ['crash-1', 'crash-2']) {
      const crashed = await submit(stack, suffix, 'crash');
      expect((await stack.client.waitForTask(crashed.id, { timeoutMs: 60_000 })).state).toBe('FAILED');
    }
    expect(await statusOf('claude')).toMatchObject({ drained: true, consecutiveFailures: 2 });
    const waiting = await submit(stack, 'waiting', 'success');
    await eventually('the task waiting for claude', async () => (await statusOf('claude')).waiting === 1);

    // An agent the pool does not run, and no input at all: refused, recorded, shown; the pool goes on.
    await signal(poolId, 'acknowledgeAgent', '{"agent": "claud", "by": "alice"}');
    await temporal('workflow', 'signal', '--workflow-id', poolId, '--name', 'acknowledgeAgent');
    const rejected = await eventually('two refusals in Postgres', async () => {
      const rows = await db.current.store.listRejectedSignals({ workflowId: poolId });
      return rows.length === 2 && rows;
    });
    expect(rejected.map((r) => [r.signal, r.input, r.taskId])).toEqual([
      ['acknowledgeAgent', { agent: 'claud', by: 'alice' }, undefined],
      ['acknowledgeAgent', null, undefined],
    ]);
    expect(rejected[0]!.reason).toMatch(/claud/);
    const details = await eventually('the refusals in the pool details', async () => {
      const text = await currentDetails(poolId);
      return text.includes('Rejected signals') && text;
    });
    expect(details).toContain('**claude is drained**');
    expect(details).toContain(rejected[0]!.reason);
    expect(details).toContain(rejected[1]!.reason);
    expect(await statusOf('claude')).toMatchObject({ drained: true, waiting: 1 });

    // The README's signal undrains claude, and the waiting task gets it.
    await signal(poolId, 'acknowledgeAgent', ACKNOWLEDGE_INPUT);
    expect((await stack.client.waitForTask(waiting.id, { timeoutMs: 60_000 })).state).toBe('READY');
    expect(await statusOf('claude')).toMatchObject({ drained: false, consecutiveFailures: 0 });
    await eventually('the acknowledged event in Postgres', async () => {
      const events = await db.current.store.listAgentEvents({ agent: 'claude' });
      return events.some((e) => e.id.startsWith(poolId) && e.event === 'acknowledged' && e.reason === 'by alice');
    });

    // The README's update: an acknowledgement of an agent that is not drained answers its status and changes nothing.
    const answered = JSON.parse(await update(poolId, 'acknowledgeAgent', ACKNOWLEDGE_INPUT, '--output', 'json')) as {
      result: AgentStatus;
    };
    expect(answered.result).toMatchObject({ agent: 'claude', drained: false, consecutiveFailures: 0 });
    expect(await db.current.store.listRejectedSignals({ workflowId: poolId })).toHaveLength(2);
    await recordHistory(env.client.workflow.getHandle(poolId), 'pool-acknowledge-signal');
  });
});
