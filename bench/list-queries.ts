/**
 * Benchmark: `task list`, `task show` and `story show` over 10,000 tasks, before and after the task-list
 * index migration, in the same run on the same rows.
 *
 *   npx tsx bench/list-queries.ts [--tasks 10000] [--repeat 30]
 *
 * It creates a scratch Postgres database and migrates it up to, not including, the migration
 * `*_add_task_list_indexes`. Then it writes N tasks through the store, as the activities write them:
 * 1% of them blocked on a question, most completed, each that ran with its execution row (some with two),
 * half of them in 100 stories of 10 projects, 8% subtasks of 2% (4 each). It times what the CLI commands call,
 * through the SDK (`ClaudomatorClient`, store only):
 *
 * - `task list` with no filter and with each of its filters (`--state`, `--story`, `--project`,
 *   `--parent`; the default limit of 1,000);
 * - `task show` (the task, its executions and interactions) and `story show` (the story).
 *
 * Each command runs `--repeat` times after a warm-up (wall time in this process: round trips, rows
 * decoded into objects; no process start, no printing). Every statement it sent is then run under
 * EXPLAIN ANALYZE, to show which index it used. Then the index migration (and any after it) is applied
 * and everything is measured again. The baseline is the schema before the migration, same rows, same run.
 * The statistics are fresh both times (ANALYZE after the writes and after the migration).
 *
 * Target: every command under 200 ms (p95) at 10,000 tasks.
 */
import { readdirSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { runner } from 'node-pg-migrate';
import pg from 'pg';
import { ClaudomatorClient } from '../client/index.js';
import { loadConfig } from '../infra/config.js';
import { ensureDatabase, LOCAL_DATABASE_URL } from '../infra/postgres.js';
import { migrate, migrationsDir } from '../store/migrate.js';
import { Store } from '../store/index.js';
import type { TaskFilter, TaskState } from '../workflows/types.js';
import { dropDatabase, loadLine, positiveInt, summarize, type Summary } from './harness.js';

const { values } = parseArgs({
  options: { tasks: { type: 'string', default: '10000' }, repeat: { type: 'string', default: '30' } },
});
const N = positiveInt('tasks', values.tasks);
const REPEAT = positiveInt('repeat', values.repeat);
const WARMUP = 3;
const TARGET_MS = 200;
const INDEX_MIGRATION = /^\d+_add_task_list_indexes$/;
const PROJECTS = 10;
const STORIES = 100;

// ---- Rows -----------------------------------------------------------------------------------------

/** The state each task ends in, by share of the tasks; the rest are COMPLETED. */
const STATE_MIX: Array<[TaskState, number]> = [
  ['PENDING', 0.02],
  ['QUEUED', 0.01],
  ['RUNNING', 0.01],
  ['BLOCKED', 0.01],
  ['READY', 0.01],
  ['FAILED', 0.05],
  ['CANCELLED', 0.02],
  ['TIMED_OUT', 0.01],
];

/** How a task reaches its state through legal transitions (workflows/states.ts). */
const PATH_TO: Record<TaskState, TaskState[]> = {
  PENDING: [],
  QUEUED: ['QUEUED'],
  RUNNING: ['QUEUED', 'RUNNING'],
  BLOCKED: ['QUEUED', 'RUNNING', 'BLOCKED'],
  READY: ['QUEUED', 'RUNNING', 'READY'],
  COMPLETED: ['QUEUED', 'RUNNING', 'COMPLETED'],
  FAILED: ['QUEUED', 'RUNNING', 'FAILED'],
  CANCELLED: ['QUEUED', 'CANCELLED'],
  TIMED_OUT: ['QUEUED', 'RUNNING', 'TIMED_OUT'],
  BUDGET_EXCEEDED: ['QUEUED', 'RUNNING', 'BUDGET_EXCEEDED'],
};

function stateOf(i: number): TaskState {
  // Spread each state over the whole id range (and so over created_at), not in one block.
  const u = ((i * 7919) % 10_000) / 10_000;
  let edge = 0;
  for (const [state, share] of STATE_MIX) {
    edge += share;
    if (u < edge) return state;
  }
  return 'COMPLETED';
}

const INSTRUCTIONS =
  'Add input validation to the signup form: reject malformed e-mail addresses, passwords shorter than 12 ' +
  'characters and names with control characters; show the error next to the field; cover each case with a ' +
  'unit test and keep the existing tests green. ';

interface Plan {
  id: string;
  storyId?: string;
  projectId?: string;
  parentTaskId?: string;
  state: TaskState;
}

function planTasks(): Plan[] {
  const plans: Plan[] = [];
  const storyTasks = Math.floor(N / 2);
  for (let i = 0; i < N; i++) {
    const id = `t-${String(i).padStart(6, '0')}`;
    const plan: Plan = { id, state: stateOf(i) };
    if (i < storyTasks) {
      // Interleaved across stories, as stories run side by side.
      const story = i % STORIES;
      plan.storyId = `story-${story}`;
      plan.projectId = `project-${story % PROJECTS}`;
    } else if (i % 3 === 0) {
      plan.projectId = `project-${i % PROJECTS}`;
    }
    // Every 50th task is a parent of the next 4 tenths: 8% of the tasks are subtasks.
    if (i % 10 === 0 && i % 50 !== 0) plan.parentTaskId = plans[i - (i % 50)]?.id;
    plans.push(plan);
  }
  return plans;
}

/** Write one task as the task workflow's activities would: the row, its states, its executions, its question. */
async function writeTask(store: Store, plan: Plan): Promise<void> {
  await store.createTask({
    id: plan.id,
    name: `Validate the signup form (${plan.id})`,
    instructions: INSTRUCTIONS.repeat(4),
    agent: { type: 'claude' },
    ...(plan.storyId ? { storyId: plan.storyId, branch: `feature/${plan.storyId}` } : {}),
    ...(plan.projectId ? { projectId: plan.projectId } : {}),
    ...(plan.parentTaskId ? { parentTaskId: plan.parentTaskId } : {}),
  });
  const steps = PATH_TO[plan.state];
  // One task in 20 ran twice (a retry, a resume after an answer).
  const runs = Number(plan.id.slice(2)) % 20 === 0 ? 2 : 1;
  for (const state of steps) {
    await store.updateTaskState(plan.id, state, state === 'FAILED' ? { error: 'claude exited with 1' } : {});
    if (state !== 'RUNNING') continue;
    for (let run = 0; run < runs; run++) {
      const executionId = `${plan.id}-run-${run}`;
      await store.createExecution({
        id: executionId,
        taskId: plan.id,
        status: 'RUNNING',
        agent: 'claude',
        model: 'claude-sonnet-4-5',
        startTime: new Date().toISOString(),
        stdoutPath: `/data/logs/${executionId}/stdout.log`,
        stderrPath: `/data/logs/${executionId}/stderr.log`,
        sandboxDir: `/data/sandboxes/${executionId}`,
        sessionId: `session-${executionId}`,
      });
      const running = plan.state === 'RUNNING' && run === runs - 1;
      if (!running) {
        await store.updateExecution(executionId, {
          status: plan.state === 'BLOCKED' ? 'QUESTION' : plan.state === 'FAILED' ? 'FAILED' : 'SUCCEEDED',
          endTime: new Date().toISOString(),
          costUsd: 0.42,
          summary: 'Added validation and six unit tests.',
        });
      }
    }
  }
  if (plan.state === 'BLOCKED') {
    await store.updateTaskQuestion(plan.id, {
      text: 'Which e-mail validator should I use?',
      options: ['zod', 'validator.js'],
    });
    await store.appendTaskInteraction({
      id: `${plan.id}-q`,
      taskId: plan.id,
      kind: 'question',
      text: 'Which e-mail validator should I use?',
      options: ['zod', 'validator.js'],
      executionId: `${plan.id}-run-${runs - 1}`,
      at: new Date().toISOString(),
    });
  }
}

async function seed(store: Store, plans: Plan[]): Promise<void> {
  for (let p = 0; p < PROJECTS; p++) {
    await store.upsertProject({
      id: `project-${p}`,
      remoteUrl: `https://git.example.com/p${p}.git`,
      defaultBranch: 'main',
    });
  }
  for (let s = 0; s < STORIES; s++) {
    await store.createStory({
      id: `story-${s}`,
      projectId: `project-${s % PROJECTS}`,
      name: `Story ${s}`,
      branch: `feature/story-${s}`,
      maxFixAttempts: 2,
    });
  }
  // Parents before their subtasks: the plans are in id order and a parent's id is lower.
  let next = 0;
  let done = 0;
  let lastReport = performance.now();
  const writer = async (): Promise<void> => {
    for (;;) {
      const plan = plans[next++];
      if (!plan) return;
      if (plan.parentTaskId) await waitFor(() => written.has(plan.parentTaskId as string));
      await writeTask(store, plan);
      written.add(plan.id);
      done++;
      if (performance.now() - lastReport > 30_000) {
        lastReport = performance.now();
        console.error(`… ${done}/${plans.length} tasks written`);
      }
    }
  };
  const written = new Set<string>();
  await Promise.all(Array.from({ length: 8 }, writer));
}

async function waitFor(done: () => boolean): Promise<void> {
  while (!done()) await new Promise((resolve) => setTimeout(resolve, 5));
}

// ---- Measuring ------------------------------------------------------------------------------------

interface Statement {
  text: string;
  values: unknown[];
}

/** A pool that remembers the statements sent through it, for EXPLAIN ANALYZE. */
function recordingPool(connectionString: string): { pool: pg.Pool; take: () => Statement[] } {
  const pool = new pg.Pool({ connectionString, max: 4, application_name: 'claudomator-bench' });
  let recorded: Statement[] = [];
  const query = pool.query.bind(pool) as (...args: unknown[]) => unknown;
  (pool as unknown as { query: (...args: unknown[]) => unknown }).query = (...args: unknown[]) => {
    if (typeof args[0] === 'string') recorded.push({ text: args[0], values: (args[1] as unknown[]) ?? [] });
    return query(...args);
  };
  return {
    pool,
    take: () => {
      const out = recorded;
      recorded = [];
      return out;
    },
  };
}

interface Command {
  label: string;
  run(client: ClaudomatorClient): Promise<number>;
}

function commands(plans: Plan[]): Command[] {
  const parent = plans.find((p) => plans.some((q) => q.parentTaskId === p.id))?.id ?? '';
  const blocked = plans.find((p) => p.state === 'BLOCKED')?.id ?? '';
  const list = (label: string, filter: TaskFilter): Command => ({
    label,
    run: async (client) => (await client.listTasks(filter)).length,
  });
  return [
    list('task list', {}),
    list('task list --state RUNNING', { state: 'RUNNING' }),
    list('task list --state COMPLETED', { state: 'COMPLETED' }),
    list('task list --state queued,running,blocked', { state: ['QUEUED', 'RUNNING', 'BLOCKED'] }),
    list('task list --state failed --project project-3', { state: 'FAILED', projectId: 'project-3' }),
    list('task list --story story-7', { storyId: 'story-7' }),
    list('task list --project project-3', { projectId: 'project-3' }),
    list(`task list --parent ${parent}`, { parentTaskId: parent }),
    {
      label: `task show ${blocked}`,
      run: async (client) => {
        const details = await client.getTask(blocked);
        return 1 + details.executions.length + details.interactions.length;
      },
    },
    { label: 'story show story-7', run: async (client) => ((await client.getStory('story-7')) ? 1 : 0) },
  ];
}

interface Measured {
  label: string;
  rows: number;
  times: Summary;
  /** Per statement: the scans on tables, and the server's execution time. */
  plans: Array<{ scans: string; executionMs: number }>;
}

async function measure(
  client: ClaudomatorClient,
  take: () => Statement[],
  db: pg.Client,
  cmds: Command[],
): Promise<Measured[]> {
  const out: Measured[] = [];
  for (const cmd of cmds) {
    for (let i = 0; i < WARMUP; i++) await cmd.run(client);
    take();
    let rows = 0;
    const times: number[] = [];
    for (let i = 0; i < REPEAT; i++) {
      const started = performance.now();
      rows = await cmd.run(client);
      times.push(performance.now() - started);
    }
    const statements = take();
    const perRun = statements.length / REPEAT;
    const plans = [];
    for (const statement of statements.slice(0, perRun)) plans.push(await explain(db, statement));
    out.push({ label: cmd.label, rows, times: summarize(times), plans });
  }
  return out;
}

interface PlanNode {
  'Node Type': string;
  'Parent Relationship'?: string;
  'Relation Name'?: string;
  'Index Name'?: string;
  Plans?: PlanNode[];
}

async function explain(db: pg.Client, statement: Statement): Promise<{ scans: string; executionMs: number }> {
  const { rows } = await db.query<{ 'QUERY PLAN': Array<{ Plan: PlanNode; 'Execution Time': number }> }>(
    `explain (analyze, format json) ${statement.text}`,
    statement.values,
  );
  const result = rows[0]?.['QUERY PLAN'][0];
  if (!result) throw new Error(`EXPLAIN gave no plan for: ${statement.text}`);
  const steps: string[] = [];
  const walk = (node: PlanNode): void => {
    // Not into subplans: the dependency list of each row is the same primary-key lookup throughout.
    if (node['Parent Relationship'] === 'SubPlan' || node['Parent Relationship'] === 'InitPlan') return;
    const type = node['Node Type'];
    if (node['Index Name']) steps.push(`${type} ${node['Index Name']}`);
    else if (type === 'Seq Scan') steps.push(`Seq Scan ${node['Relation Name'] ?? ''}`);
    else if (/Sort$|^Limit$/.test(type)) steps.push(type);
    for (const child of node.Plans ?? []) walk(child);
  };
  walk(result.Plan);
  return { scans: steps.join(' ← '), executionMs: result['Execution Time'] };
}

// ---- Main -----------------------------------------------------------------------------------------

async function migrateUpTo(databaseUrl: string, count: number): Promise<void> {
  await runner({
    databaseUrl: { connectionString: databaseUrl, connectionTimeoutMillis: 5_000 },
    dir: migrationsDir(),
    direction: 'up',
    count,
    migrationsTable: 'claudomator_migrations',
    checkOrder: true,
    log: () => undefined,
  });
}

async function main(): Promise<void> {
  const migrations = readdirSync(migrationsDir())
    .filter((f) => f.endsWith('.sql'))
    .map((f) => f.slice(0, -4))
    .sort();
  const indexAt = migrations.findIndex((m) => INDEX_MIGRATION.test(m));
  if (indexAt < 0) throw new Error(`no migration named like ${INDEX_MIGRATION} in ${migrationsDir()}`);

  const url = new URL(process.env.DATABASE_URL ?? LOCAL_DATABASE_URL);
  url.pathname = `/claudomator_bench_list_${process.pid}`;
  const databaseUrl = url.toString();
  await ensureDatabase(databaseUrl);
  const recording = recordingPool(databaseUrl);
  const store = new Store(recording.pool);
  const db = new pg.Client({ connectionString: databaseUrl });
  const temporal = new Client({ connection: Connection.lazy({ address: '127.0.0.1:1' }) });
  const client = new ClaudomatorClient(temporal, store, loadConfig({ DATABASE_URL: databaseUrl }));
  try {
    await migrateUpTo(databaseUrl, indexAt);
    await db.connect();
    const plans = planTasks();
    const seedStarted = performance.now();
    await seed(store, plans);
    const seedSeconds = (performance.now() - seedStarted) / 1000;
    await db.query('vacuum analyze');
    const size = await db.query<{ tasks: string; executions: string; all: string }>(
      `select pg_total_relation_size('tasks') as tasks, pg_total_relation_size('executions') as executions,
              pg_database_size(current_database()) as all`,
    );
    const cmds = commands(plans);
    const before = await measure(client, recording.take, db, cmds);
    const applied = await migrate(databaseUrl);
    await db.query('analyze');
    const after = await measure(client, recording.take, db, cmds);

    const counts = await db.query<{ tasks: string; executions: string; interactions: string }>(
      `select (select count(*) from tasks) as tasks, (select count(*) from executions) as executions,
              (select count(*) from task_interactions) as interactions`,
    );
    const c = counts.rows[0];
    const s = size.rows[0];
    const mb = (bytes: string | undefined) => `${(Number(bytes) / 1024 / 1024).toFixed(1)} MB`;
    console.log(
      `\ntask list / task show / story show over ${c?.tasks} tasks, ${c?.executions} executions, ` +
        `${c?.interactions} interactions (written through the store in ${seedSeconds.toFixed(0)} s; ` +
        `tasks ${mb(s?.tasks)}, executions ${mb(s?.executions)}, database ${mb(s?.all)})`,
    );
    console.log(
      `ms per command, ${REPEAT} runs each, through the SDK; baseline: the schema before ${migrations[indexAt]} ` +
        `(applied between the two: ${applied.join(', ')})\n`,
    );
    const head = `${'command'.padEnd(46)} ${'rows'.padStart(5)} ${'before p50'.padStart(10)} ${'p95'.padStart(7)} ${'after p50'.padStart(10)} ${'p95'.padStart(7)} ${'after/before'.padStart(12)}`;
    console.log(head);
    let worst = 0;
    for (const [i, b] of before.entries()) {
      const a = after[i] as Measured;
      worst = Math.max(worst, a.times.p95);
      console.log(
        `${b.label.padEnd(46)} ${String(a.rows).padStart(5)} ${b.times.p50.toFixed(1).padStart(10)} ${b.times.p95.toFixed(1).padStart(7)} ` +
          `${a.times.p50.toFixed(1).padStart(10)} ${a.times.p95.toFixed(1).padStart(7)} ${`${(a.times.p50 / b.times.p50).toFixed(2)}×`.padStart(12)}`,
      );
    }
    console.log('\nEXPLAIN ANALYZE of each statement (server execution time, ms): before → after\n');
    for (const [i, b] of before.entries()) {
      const a = after[i] as Measured;
      console.log(b.label);
      for (const [j, pb] of b.plans.entries()) {
        const pa = a.plans[j];
        console.log(`  ${pb.executionMs.toFixed(2).padStart(7)}  ${pb.scans}`);
        console.log(`  ${(pa?.executionMs ?? NaN).toFixed(2).padStart(7)}  ${pa?.scans ?? '?'}`);
      }
    }
    console.log(
      `\ntarget: every command under ${TARGET_MS} ms (p95) at ${N} tasks → slowest ${worst.toFixed(1)} ms: ` +
        `${worst < TARGET_MS ? 'met' : 'NOT met'}`,
    );
    console.log(loadLine());
  } finally {
    await db.end().catch(() => undefined);
    await store.close().catch(() => undefined);
    await dropDatabase(databaseUrl);
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
