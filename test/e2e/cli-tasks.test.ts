/**
 * The operator's day with the real `claudomator` binary: every command under test runs as a
 * subprocess (client/cli.ts under tsx) against the run's Temporal dev server, this file's database and
 * one `claudomator worker` subprocess shared by the file, whose agents are the fake CLIs. What the
 * commands print and how they exit is checked, and what they did is checked in Postgres.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AgentStatus, Task, TaskDetails, TaskLogEntry } from '../../client/index.js';
import { tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv } from '../helpers/temporal.js';
import { startDeployment, type Deployment } from '../helpers/worker-process.js';
import { runCli, startCli, waitForOutput, type CliEnv, type CliResult } from './cli-process.js';

const db = useTestDatabase();
const scratch = tempDir('cli-tasks');
let env: TestWorkflowEnvironment;
let deployment: Deployment;
let cliEnv: CliEnv;
/** Task ids are workflow ids on the shared dev server: prefixed with this file's unique name. */
let prefix: string;

/** `slow_text` runs write "step 0" … "step 39", one every 400 ms (16 s in all: a CLI started under load still sees the run going). */
const SLOW_LINES = 40;

beforeAll(async () => {
  env = await devServerEnv();
  deployment = await startDeployment(env, db.current.store, {
    databaseUrl: db.current.url,
    label: 'cli-tasks',
    env: {
      CLAUDOMATOR_AGENT_HEARTBEAT_TIMEOUT: '10s',
      CLAUDOMATOR_SHUTDOWN_GRACE: '2s',
      FAKE_AGENT_SLOW_LINES: String(SLOW_LINES),
      FAKE_AGENT_SLOW_MS: '400',
    },
  });
  const host = deployment.host('cli');
  cliEnv = deployment.envOf(host);
  prefix = deployment.name;
  await deployment.start('all', host);
});
afterAll(async () => {
  await deployment?.stop();
  await env?.teardown();
  scratch.remove();
});

const cli = (...args: string[]): Promise<CliResult> => runCli(args, cliEnv);

function json<T>(result: CliResult): T {
  expect(result.exitCode, `${result.stderr}\n${result.stdout}`).toBe(0);
  return JSON.parse(result.stdout) as T;
}

async function submit(suffix: string, scenario: string, ...flags: string[]): Promise<string> {
  const id = `${prefix}-${suffix}`;
  const result = await cli(
    'task',
    'submit',
    '--id',
    id,
    '--name',
    `task ${suffix}`,
    '--instructions',
    `Add the feature [scenario:${scenario}]`,
    '--json',
    ...flags,
  );
  expect(json<Task>(result)).toMatchObject({
    id,
    state: expect.stringMatching(/^(PENDING|QUEUED|RUNNING)$/) as unknown,
  });
  return id;
}

/** What Postgres holds that bad input must not change. */
async function snapshot(): Promise<{ tasks: string[]; interactions: number }> {
  const tasks = await db.current.store.listTasks();
  const interactions = await Promise.all(tasks.map((t) => db.current.store.listTaskInteractions(t.id)));
  return { tasks: tasks.map((t) => t.id).sort(), interactions: interactions.flat().length };
}

function specFile(name: string, yaml: string): string {
  const file = path.join(scratch.dir, name);
  writeFileSync(file, yaml);
  return file;
}

describe('claudomator task: submit, wait, show, logs', () => {
  it('submit → wait → show --json: READY, with the execution, its session, changes, cost and logs', async () => {
    const id = await submit('done', 'success');

    const waited = await cli('task', 'wait', id, '--timeout', '60s', '--json');
    expect(json<Task>(waited)).toMatchObject({ id, state: 'READY', summary: 'Added feature.txt with three lines.' });

    const shown = json<TaskDetails & { url: string }>(await cli('task', 'show', id, '--json'));
    expect(shown.task).toMatchObject({ id, state: 'READY', agent: { type: 'claude' }, dependsOn: [] });
    expect(shown.executions).toHaveLength(1);
    const [execution] = shown.executions;
    expect(execution).toMatchObject({
      taskId: id,
      status: 'SUCCEEDED',
      agent: 'claude',
      sessionId: expect.stringMatching(/^[0-9a-f-]{36}$/) as unknown,
      costUsd: 0.00035,
      changeStats: { filesChanged: 2, insertions: 5, deletions: 0 },
      stdoutPath: expect.stringContaining(`/executions/${id}/`) as unknown,
    });
    expect(existsSync(execution!.stdoutPath!)).toBe(true);
    expect(shown.url).toMatch(new RegExp(`/workflows/task-${id}$`));

    // The same run, as a person reads it.
    const logs = await cli('task', 'logs', id);
    expect(logs.exitCode, logs.stderr).toBe(0);
    expect(logs.stdout.split('\n')).toEqual([
      expect.stringMatching(new RegExp(`^── execution ${execution!.id}: claude, started `)),
      expect.stringMatching(new RegExp(`^session: ${execution!.sessionId} `)),
      "assistant: I'll add the feature file.",
      expect.stringMatching(/^tool Write: .*\/feature\.txt$/),
      'assistant: Added feature.txt with three lines.',
      'result: success $0.0003 (2 turns)',
      `── execution ${execution!.id} ended SUCCEEDED ($0.0003, 2 files +5 -0)`,
      `task ${id} is READY: Added feature.txt with three lines.`,
    ]);

    // --raw: stdout is the agent's stream as written; --json: one entry per line, with the event read.
    const [raw, entries] = await Promise.all([cli('task', 'logs', id, '--raw'), cli('task', 'logs', id, '--json')]);
    expect(raw.exitCode, raw.stderr).toBe(0);
    expect(`${raw.stdout}\n`).toBe(readFileSync(execution!.stdoutPath!, 'utf8'));
    expect(raw.stderr).toContain(`task ${id} is READY`);
    const parsed = entries.stdout.split('\n').map((l) => JSON.parse(l) as TaskLogEntry);
    expect(parsed.find((e) => e.kind === 'result')).toMatchObject({
      taskId: id,
      executionId: execution!.id,
      text: 'result: success $0.0003 (2 turns)',
      event: { kind: 'result', result: { ok: true, costUsd: 0.00035 } },
    });
    expect(parsed.at(-1)).toMatchObject({ kind: 'state', state: 'READY' });
  });

  it('a question answered from the CLI: the same session resumes and the task finishes', async () => {
    const id = await submit('asks', 'question');

    const blocked = await cli('task', 'wait', id, '--timeout', '60s');
    expect(blocked.exitCode, blocked.stderr).toBe(0);
    expect(blocked.stdout).toContain(`task ${id} is BLOCKED`);
    expect(blocked.stdout).toContain('question: Which database should I use? (postgres / sqlite)');
    expect(blocked.stdout).toContain(`next: claudomator task answer ${id} "<answer>"`);

    // Following a task that waits for an answer ends at once, with the question and how to answer it.
    const logs = await cli('task', 'logs', id, '--follow');
    expect(logs.exitCode, logs.stderr).toBe(0);
    expect(logs.stdout.split('\n').slice(-4)).toEqual([
      expect.stringMatching(/ended QUESTION/),
      `task ${id} is BLOCKED`,
      'question: Which database should I use? (postgres / sqlite)',
      `answer it: claudomator task answer ${id} "<answer>"`,
    ]);

    const answered = await cli('task', 'answer', id, 'use', 'postgres', '--by', 'ops');
    expect(answered.exitCode, answered.stderr).toBe(0);
    expect(answered.stdout).toContain(`answered task ${id}`);

    expect(json<Task>(await cli('task', 'wait', id, '--timeout', '60s', '--json')).state).toBe('READY');
    const { executions, interactions } = json<TaskDetails>(await cli('task', 'show', id, '--json'));
    expect(executions.map((e) => e.status)).toEqual(['QUESTION', 'SUCCEEDED']);
    expect(executions[1]!.resumeAnswer).toBe('use postgres');
    expect(executions[1]!.sessionId).toBe(executions[0]!.sessionId);
    expect(interactions.map((i) => [i.kind, i.text])).toEqual([
      ['question', 'Which database should I use?'],
      ['answer', 'use postgres'],
    ]);

    // The latest run is the resumed one.
    const resumed = await cli('task', 'logs', id);
    expect(resumed.stdout).toContain(`── execution ${executions[1]!.id}: claude, started`);
    expect(resumed.stdout).toContain('resumed with "use postgres"');
    expect(resumed.stdout).toContain(`session: ${executions[0]!.sessionId}`);
    expect(resumed.stdout).not.toContain(executions[0]!.id);
  });

  it('logs -f follows a running task: lines from before and after it started, and it exits when the task settles', async () => {
    const id = await submit('streams', 'slow_text');
    // Start following once the run is a few lines in.
    const stdoutPath = await waitFor(
      'the run to write "step 1"',
      async () => {
        const [execution] = await db.current.store.listExecutions(id);
        const file = execution?.stdoutPath;
        return file && existsSync(file) && readFileSync(file, 'utf8').includes('"step 1"') ? file : undefined;
      },
      30_000,
    );
    const follow = startCli(['task', 'logs', id, '-f'], cliEnv);
    await waitForOutput(follow, /^assistant: step \d+$/);
    // The run was still going when the first lines came out: what the file held then was not all of it.
    const writtenThen = readFileSync(stdoutPath, 'utf8');
    expect(writtenThen).not.toContain(`"step ${SLOW_LINES - 1}"`);
    expect((await db.current.store.getTask(id)).state).toBe('RUNNING');

    const result = await follow;
    expect(result.exitCode, result.stderr).toBe(0);
    const lines = result.stdout.split('\n');
    // Every step once, in order: the ones written before it started and the ones after.
    expect(lines.filter((l) => l.startsWith('assistant: step'))).toEqual(
      Array.from({ length: SLOW_LINES }, (_, n) => `assistant: step ${n}`),
    );
    expect(lines).toContain('tool Bash: npm run dev');
    expect(lines.slice(-3)).toEqual([
      'result: success $0.0003 (2 turns)',
      expect.stringMatching(/ended SUCCEEDED/),
      `task ${id} is READY: Added feature.txt with three lines.`,
    ]);
    expect((await db.current.store.getTask(id)).state).toBe('READY');
  });

  it('logs -f waits for the first run and continues with the next: a rate-limited run, then the run after it', async () => {
    // Claude paused, so that following starts before the task has run at all.
    expect((await cli('agents', 'pause', 'claude', '--reason', 'test')).exitCode).toBe(0);
    const id = await submit('limited', 'rate_limit,success');
    const follow = startCli(['task', 'logs', id, '-f'], cliEnv);
    const interrupted = startCli(['task', 'logs', id, '-f'], cliEnv);
    try {
      const waiting = new RegExp(`^task ${id} is QUEUED: waiting for its first agent run$`);
      await Promise.all([waitForOutput(follow, waiting), waitForOutput(interrupted, waiting)]);
      // Ctrl-C stops following; that is not an error.
      interrupted.kill('SIGINT');
      const stopped = await interrupted;
      expect([stopped.exitCode, stopped.stderr]).toEqual([0, '']);
    } finally {
      expect((await cli('agents', 'resume', 'claude')).exitCode).toBe(0);
    }
    const result = await follow;
    expect(result.exitCode, result.stderr).toBe(0);
    const executions = await db.current.store.listExecutions(id);
    expect(executions.map((e) => e.status)).toEqual(['RATE_LIMITED', 'SUCCEEDED']);
    const lines = result.stdout.split('\n');
    const at = (pattern: RegExp): number => lines.findIndex((l) => pattern.test(l));
    const order = [
      at(new RegExp(`^── execution ${executions[0]!.id}: claude, started`)),
      at(/^retry: API error 429, waiting 3s/),
      at(/^result: failed: API Error: Request rejected \(429\)/),
      at(new RegExp(`^── execution ${executions[0]!.id} ended RATE_LIMITED`)),
      at(new RegExp(`^task ${id} is QUEUED: claude rate limited until`)),
      at(new RegExp(`^── execution ${executions[1]!.id}: claude, started`)),
      at(/^result: success/),
      at(new RegExp(`^task ${id} is READY`)),
    ];
    expect(
      order.every((i) => i >= 0),
      lines.join('\n'),
    ).toBe(true);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(lines.at(-1)).toBe(`task ${id} is READY: Added feature.txt with three lines.`);
  });

  it('submit --file: a YAML file of several tasks with dependencies runs them in dependency order', async () => {
    const file = specFile(
      'pipeline.yaml',
      `tasks:
  - id: ${prefix}-schema
    name: Write the schema
    instructions: "Create the tables [scenario:success]"
  - id: ${prefix}-api
    name: Build the API
    instructions: Serve the tables
    agent: { type: command, command: "echo served 3 tables" }
    dependsOn: [${prefix}-schema]
  - id: ${prefix}-docs
    name: Document it
    instructions: "Describe the API [scenario:success]"
    agent: { type: codex }
    dependsOn: [${prefix}-schema, ${prefix}-api]
`,
    );
    const submitted = json<Task[]>(await cli('task', 'submit', '--file', file, '--json'));
    expect(submitted.map((t) => [t.id, [...t.dependsOn].sort()])).toEqual([
      [`${prefix}-schema`, []],
      [`${prefix}-api`, [`${prefix}-schema`]],
      [`${prefix}-docs`, [`${prefix}-api`, `${prefix}-schema`]],
    ]);

    expect(json<Task>(await cli('task', 'wait', `${prefix}-docs`, '--timeout', '90s', '--json')).state).toBe('READY');
    const runs = await Promise.all(
      ['schema', 'api', 'docs'].map(async (s) => (await db.current.store.listExecutions(`${prefix}-${s}`))[0]!),
    );
    expect(runs.map((r) => [r.agent, r.status])).toEqual([
      ['claude', 'SUCCEEDED'],
      ['command', 'SUCCEEDED'],
      ['codex', 'SUCCEEDED'],
    ]);
    // Each started after the one it depends on had finished.
    expect(Date.parse(runs[1]!.startTime)).toBeGreaterThanOrEqual(Date.parse(runs[0]!.endTime!));
    expect(Date.parse(runs[2]!.startTime)).toBeGreaterThanOrEqual(Date.parse(runs[1]!.endTime!));

    // The command agent's output is plain text: its log shows it as it is.
    const logs = await cli('task', 'logs', `${prefix}-api`);
    expect(logs.stdout.split('\n').slice(1, 3)).toEqual([
      'served 3 tables',
      expect.stringMatching(new RegExp(`^── execution ${runs[1]!.id} ended SUCCEEDED`)),
    ]);

    const listed = json<Task[]>(await cli('task', 'list', '--state', 'READY', '--json'));
    expect(listed.map((t) => t.id)).toEqual(expect.arrayContaining(submitted.map((t) => t.id)));
  });
});

describe('claudomator agents', () => {
  it('shows an agent drained by two failed runs in a row, with the ack hint; agents ack clears it', async () => {
    // Gemini, so the other tests' claude is not drained.
    const crashes = [
      await submit('gemini-crash-1', 'crash', '--agent', 'gemini'),
      await submit('gemini-crash-2', 'crash', '--agent', 'gemini'),
    ];
    for (const [id, failed] of crashes.map((id) => [id, cli('task', 'wait', id, '--timeout', '60s')] as const)) {
      const result = await failed;
      expect(result.exitCode).toBe(1);
      expect(result.stdout).toContain(`task ${id} is FAILED`);
      expect(result.stdout).toContain(`next: claudomator task show ${id}, then claudomator task retry ${id}`);
    }

    // The pool counts a failure as the run's slot comes back, just after the task's state is written.
    await waitFor('gemini to be drained', async () =>
      (await deployment.client.agentStatuses()).some((s) => s.agent === 'gemini' && s.drained),
    );
    const drained = json<AgentStatus[]>(await cli('agents', '--json')).find((s) => s.agent === 'gemini');
    expect(drained).toMatchObject({
      drained: true,
      consecutiveFailures: 2,
      drainReason: expect.stringContaining('TypeError') as unknown,
    });

    const table = await cli('agents');
    expect(table.exitCode, table.stderr).toBe(0);
    const gemini = table.stdout.split('\n').find((l) => l.startsWith('gemini '));
    expect(gemini).toMatch(/\byes\s+2\s+\d+$/);
    expect(table.stdout.split('\n')[0]).toMatch(/^AGENT\s+ACTIVE\s+WAITING\s+RATE LIMITED UNTIL\s+PAUSED\s+DRAINED/);
    expect(table.stdout).toContain('gemini is drained after 2 failures in a row');
    expect(table.stdout).toContain('next: fix the cause, then claudomator agents ack gemini');

    const acked = await cli('agents', 'ack', 'gemini', '--by', 'ops');
    expect(acked.exitCode, acked.stderr).toBe(0);
    expect(acked.stdout).toMatch(/^gemini acknowledged: /);
    const after = json<AgentStatus[]>(await cli('agents', '--json')).find((s) => s.agent === 'gemini');
    expect(after).toMatchObject({ drained: false, consecutiveFailures: 0 });
  });
});

describe('bad input: a non-zero exit, a message a person understands, nothing changed', () => {
  it('an unknown task: exit 3 for show, logs, answer and wait', async () => {
    const before = await snapshot();
    const calls = [
      ['task', 'show', 'no-such-task'],
      ['task', 'logs', 'no-such-task', '-f'],
      ['task', 'answer', 'no-such-task', 'yes'],
      ['task', 'wait', 'no-such-task'],
    ];
    const results = await Promise.all(calls.map((args) => cli(...args)));
    for (const [i, result] of results.entries()) {
      expect(result.exitCode, calls[i]!.join(' ')).toBe(3);
      expect(result.stderr).toContain('error: No task with id "no-such-task".');
      expect(result.stderr).toContain('next:  List tasks with `claudomator task list`.');
      expect(result.stdout).toBe('');
    }
    expect(await snapshot()).toEqual(before);
  });

  it('an invalid spec file: exit 2, each bad field named', async () => {
    const before = await snapshot();
    const file = specFile(
      'invalid.yaml',
      `tasks:
  - id: ${prefix}-ok
    name: Fine
    instructions: "Fine [scenario:success]"
  - id: ${prefix}-bad
    name: Bad
    instructions: "Bad"
    agent: { type: gpt }
    dependOn: [${prefix}-ok]
`,
    );
    const result = await cli('task', 'submit', '--file', file);
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/tasks\[1\]\.agent\.type: .*claude, gemini, codex, command/);
    expect(result.stderr).toMatch(/tasks\[1\].*dependOn/);
    expect(await snapshot()).toEqual(before);
  });

  it('a dependency cycle in a spec file: exit 2, the cycle spelled out', async () => {
    const before = await snapshot();
    const [a, b, c] = ['a', 'b', 'c'].map((s) => `${prefix}-cycle-${s}`);
    const file = specFile(
      'cycle.yaml',
      `- { id: ${a}, name: A, instructions: "A", dependsOn: [${c}] }
- { id: ${b}, name: B, instructions: "B", dependsOn: [${a}] }
- { id: ${c}, name: C, instructions: "C", dependsOn: [${b}] }
`,
    );
    const result = await cli('task', 'submit', '--file', file, '--json');
    expect(result.exitCode).toBe(2);
    expect(result.stderr).toMatch(/would close a dependency cycle: (\S+ → ){3}\S+ \(each waits for the next\)/);
    for (const id of [a, b, c]) expect(result.stderr).toContain(id);
    expect(JSON.parse(result.stdout)).toMatchObject({ error: { code: 'INVALID' } });
    expect(await snapshot()).toEqual(before);
  });

  it('an answer to a task that is not blocked: exit 1 (a conflict), no answer recorded', async () => {
    const id = await submit('never-asks', 'success');
    expect(json<Task>(await cli('task', 'wait', id, '--timeout', '60s', '--json')).state).toBe('READY');
    const before = await snapshot();

    const result = await cli('task', 'answer', id, 'postgres');
    expect(result.exitCode).toBe(1);
    expect(result.stderr).toMatch(
      new RegExp(`error: .*(${id} is READY and not waiting for an answer|no question)`, 'i'),
    );
    expect(result.stderr).toContain(`next:  See the task with \`claudomator task show ${id}\`.`);
    expect(await snapshot()).toEqual(before);
    expect(await db.current.store.listTaskInteractions(id)).toEqual([]);
  });
});
