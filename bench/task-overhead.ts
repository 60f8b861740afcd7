/**
 * Benchmark: what the task workflow costs around an agent run, beside the cheapest workflow that runs
 * one activity, measured in the same run on the same server and workers.
 *
 *   npx tsx bench/task-overhead.ts [--tasks 200] [--agent command|claude] [--concurrency 8] [--baseline <git-ref>]
 *
 * It starts its own Temporal dev server (in memory) and a scratch Postgres database, and runs the
 * production workers (role `all`: orchestration, agent queue, host queue) in this process with the
 * real taskWorkflow, agent pool, activities and store. The agent is instant: the `command` agent
 * running `true` (default), or the fake Claude Code CLI (`--agent claude`, which adds the model
 * classifier step). From server timestamps in the histories:
 *
 * - overhead per task: the task workflow's makespan (started → closed) minus its agent run (the
 *   `runAgent` activity, started → closed: sandbox, process, logs, change stats), over N tasks run one
 *   at a time, split into its phases;
 * - baseline: the same for `healthCheckWorkflow` (one activity, `select 1`, on the orchestration
 *   queue), N runs interleaved with the tasks so both see the same machine load;
 * - throughput: N tasks submitted at once, `--concurrency` agent slots: tasks per second from the
 *   first workflow start to the last close;
 * - Postgres: rows and row writes (inserts + updates + deletes, from pg_stat_user_tables) per task,
 *   and table + index size (pg_total_relation_size, growth over the run) scaled to 1,000 tasks.
 *
 * - before/after (`--baseline <git-ref>`): the code at that ref runs too, in a worker process of its
 *   own on task queues and a pool of its own (harness.ts `startBaselineCode`), its tasks interleaved
 *   with this code's and the one-activity runs; both overheads are printed with their ratios to the
 *   one-activity workflow, and the workflow tasks each takes. The burst and the Postgres figures are
 *   then left out (both versions write to the one database).
 *
 * Target: overhead p50 within 3× of the baseline's. Figures on a shared machine are noisy: compare
 * the ratio, not the ms.
 */
import { parseArgs } from 'node:util';
import pg from 'pg';
import type { ClaudomatorClient, TaskSpec } from '../client/index.js';
import { taskWorkflowId } from '../workflows/definitions.js';
import type { healthCheckWorkflow } from '../workflows/health.js';
import {
  activityOf,
  loadLine,
  type BenchEnvironment,
  positiveInt,
  runTimes,
  type RunTimes,
  startBaselineCode,
  startBenchEnvironment,
  startWorkersInProcess,
  summarize,
  summaryHeader,
  summaryRow,
  workflowTaskLine,
} from './harness.js';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '200' },
    agent: { type: 'string', default: 'command' },
    concurrency: { type: 'string', default: '8' },
    baseline: { type: 'string' },
  },
});
const N = positiveInt('tasks', values.tasks);
const CONCURRENCY = positiveInt('concurrency', values.concurrency);
const AGENT = values.agent;
if (AGENT !== 'command' && AGENT !== 'claude') {
  throw new Error(`--agent must be command (runs \`true\`) or claude (the fake Claude Code CLI), got "${AGENT}"`);
}
const WARMUP = 10;

function taskSpec(id: string): TaskSpec {
  return AGENT === 'command'
    ? { id, name: id, instructions: 'Run true', agent: { type: 'command', command: 'true' } }
    : { id, name: id, instructions: 'Add a file [scenario:success]', agent: { type: 'claude' } };
}

async function runTask(bench: BenchEnvironment, id: string, client: ClaudomatorClient = bench.client): Promise<void> {
  await client.submitTasks(taskSpec(id));
  await bench.temporal.workflow.getHandle(taskWorkflowId(id)).result();
}

async function runBaseline(bench: BenchEnvironment, id: string): Promise<void> {
  await bench.temporal.workflow.execute<typeof healthCheckWorkflow>('healthCheckWorkflow', {
    taskQueue: bench.config.taskQueue,
    workflowId: id,
    args: ['bench'],
  });
}

/** Workflow tasks per run, on average. */
function workflowTasksPerRun(runs: RunTimes[]): number {
  return runs.reduce((n, r) => n + r.workflowTasks.length, 0) / runs.length;
}

interface Phases {
  total: number[];
  [phase: string]: number[];
}

function push(phases: Phases, name: string, value: number): void {
  (phases[name] ??= []).push(value);
}

async function taskOverheads(
  bench: BenchEnvironment,
  ids: string[],
): Promise<{ phases: Phases; agent: number[]; runs: RunTimes[] }> {
  const phases: Phases = { total: [] };
  const agent: number[] = [];
  const runs: RunTimes[] = [];
  for (const id of ids) {
    const workflowId = taskWorkflowId(id);
    const t = await runTimes(bench.temporal, workflowId);
    runs.push(t);
    const run = activityOf(t, 'runAgent', workflowId);
    const requested = t.signalsSent.find((s) => s.name === 'requestSlot')?.at ?? NaN;
    const granted = t.signals.find((s) => s.name === 'slotGranted')?.at ?? NaN;
    agent.push(run.closed - run.started);
    phases.total.push(t.closed - t.started - (run.closed - run.started));
    push(phases, 'start → slot requested', requested - t.started);
    push(phases, 'slot requested → granted', granted - requested);
    push(phases, `granted → agent scheduled${AGENT === 'claude' ? ' (+classifier)' : ''}`, run.scheduled - granted);
    push(phases, 'agent scheduled → started', run.started - run.scheduled);
    push(phases, 'agent closed → task closed', t.closed - run.closed);
  }
  return { phases, agent, runs };
}

async function baselineOverheads(
  bench: BenchEnvironment,
  ids: string[],
): Promise<{ phases: Phases; runs: RunTimes[] }> {
  const phases: Phases = { total: [] };
  const runs: RunTimes[] = [];
  for (const id of ids) {
    const t = await runTimes(bench.temporal, id);
    runs.push(t);
    const run = activityOf(t, 'checkHealth', id);
    phases.total.push(t.closed - t.started - (run.closed - run.started));
    push(phases, 'start → activity scheduled', run.scheduled - t.started);
    push(phases, 'activity scheduled → started', run.started - run.scheduled);
    push(phases, 'activity closed → workflow closed', t.closed - run.closed);
  }
  return { phases, runs };
}

interface TableFigures {
  table: string;
  rows: number;
  writes: number;
  bytes: number;
}

/** Row counts, row writes and total size of claudomator's tables (its migrations table aside). */
async function tableFigures(databaseUrl: string): Promise<TableFigures[]> {
  const db = new pg.Client({ connectionString: databaseUrl });
  await db.connect();
  try {
    const stats = await db.query<{ table: string; writes: string; bytes: string }>(
      `select relname as table, n_tup_ins + n_tup_upd + n_tup_del as writes, pg_total_relation_size(relid) as bytes
         from pg_stat_user_tables
        where schemaname = 'public' and relname <> 'claudomator_migrations'
        order by relname`,
    );
    const out: TableFigures[] = [];
    for (const row of stats.rows) {
      const count = await db.query<{ n: string }>(`select count(*) as n from ${pg.escapeIdentifier(row.table)}`);
      out.push({
        table: row.table,
        rows: Number(count.rows[0]?.n),
        writes: Number(row.writes),
        bytes: Number(row.bytes),
      });
    }
    return out;
  } finally {
    await db.end();
  }
}

async function main(): Promise<void> {
  const bench = await startBenchEnvironment('overhead', { CLAUDOMATOR_AGENT_SLOTS: `${AGENT}=${CONCURRENCY}` });
  try {
    const before = await tableFigures(bench.databaseUrl);
    const workers = await startWorkersInProcess(bench);
    const code = values.baseline ? await startBaselineCode(bench, values.baseline) : undefined;
    let throughput: { tasksPerSecond: number; spanMs: number; workflowTasks: number } | undefined;
    let tasks: Awaited<ReturnType<typeof taskOverheads>>;
    let codeTasks: Awaited<ReturnType<typeof taskOverheads>> | undefined;
    let baseline: Awaited<ReturnType<typeof baselineOverheads>>;
    try {
      // Warm up every path (pool start, worker caches, server shards) before measuring.
      for (let i = 0; i < WARMUP; i++) {
        await runBaseline(bench, `warmup-baseline-${i}`);
        await runTask(bench, `warmup-${i}`);
        if (code) await runTask(bench, `warmup-before-${i}`, code.client);
      }

      // One at a time, interleaved, so no path queues and all see the same load.
      const taskIds: string[] = [];
      const codeIds: string[] = [];
      const baselineIds: string[] = [];
      for (let i = 0; i < N; i++) {
        baselineIds.push(`baseline-${i}`);
        await runBaseline(bench, `baseline-${i}`);
        taskIds.push(`seq-${i}`);
        await runTask(bench, `seq-${i}`);
        if (code) {
          codeIds.push(`before-${i}`);
          await runTask(bench, `before-${i}`, code.client);
        }
      }
      tasks = await taskOverheads(bench, taskIds);
      if (code) codeTasks = await taskOverheads(bench, codeIds);
      baseline = await baselineOverheads(bench, baselineIds);

      // All at once: how fast the stack drains a burst with CONCURRENCY agent slots.
      if (!code) {
        const burst = Array.from({ length: N }, (_, i) => `burst-${i}`);
        await bench.client.submitTasks(burst.map(taskSpec));
        await Promise.all(burst.map((id) => bench.temporal.workflow.getHandle(taskWorkflowId(id)).result()));
        const spans = await Promise.all(burst.map((id) => runTimes(bench.temporal, taskWorkflowId(id))));
        const spanMs = Math.max(...spans.map((t) => t.closed)) - Math.min(...spans.map((t) => t.started));
        const workflowTasks = spans.reduce((n, t) => n + t.workflowTasks.length, 0);
        throughput = { spanMs, tasksPerSecond: N / (spanMs / 1000), workflowTasks };
      }
    } finally {
      await code?.stop();
      await workers.stop();
      await bench.closeStore();
    }
    const after = await tableFigures(bench.databaseUrl);

    const t = summarize(tasks.phases.total);
    const b = summarize(baseline.phases.total);
    const agentRun = summarize(tasks.agent);
    const agentLabel = AGENT === 'command' ? 'command agent running `true`' : 'fake Claude Code CLI';
    console.log(
      `\ntask orchestration overhead (${N} tasks one at a time, ${agentLabel}; ms, from server event timestamps)\n`,
    );
    console.log(summaryHeader());
    console.log(summaryRow('baseline: one-activity workflow', b));
    for (const [phase, v] of Object.entries(baseline.phases)) {
      if (phase !== 'total') console.log(summaryRow(`  ${phase}`, summarize(v)));
    }
    console.log(summaryRow('task: makespan − agent run', t));
    for (const [phase, v] of Object.entries(tasks.phases)) {
      if (phase !== 'total') console.log(summaryRow(`  ${phase}`, summarize(v)));
    }
    console.log(summaryRow('(agent run: runAgent started → closed)', agentRun));
    const codeLabel = code ? `before: ${code.ref} (${code.commit.slice(0, 7)})` : '';
    if (code && codeTasks) {
      console.log(summaryRow(`${codeLabel}: makespan − agent run`, summarize(codeTasks.phases.total)));
      for (const [phase, v] of Object.entries(codeTasks.phases)) {
        if (phase !== 'total') console.log(summaryRow(`  ${phase}`, summarize(v)));
      }
    }
    console.log(`\n${workflowTaskLine('baseline', baseline.runs)}`);
    console.log(workflowTaskLine('tasks', tasks.runs));
    if (codeTasks) console.log(workflowTaskLine(codeLabel, codeTasks.runs));
    const ratio = t.p50 / b.p50;
    console.log(
      `ratio task/baseline: p50 ${ratio.toFixed(2)}×, p95 ${(t.p95 / b.p95).toFixed(2)}× ` +
        `(target ≤ 3× → ${ratio <= 3 ? 'met' : 'NOT met'})`,
    );
    if (code && codeTasks) {
      const c = summarize(codeTasks.phases.total);
      console.log(`\nbefore/after, ${N} tasks each, interleaved with the one-activity runs:`);
      for (const [label, s, runs] of [
        [codeLabel, c, codeTasks.runs],
        ['after: this checkout', t, tasks.runs],
      ] as const) {
        console.log(
          `  ${label}: overhead p50 ${s.p50.toFixed(0)} ms (${(s.p50 / b.p50).toFixed(2)}× the one-activity workflow's ` +
            `${b.p50.toFixed(0)} ms), p95 ${s.p95.toFixed(0)} ms; ${workflowTasksPerRun(runs).toFixed(1)} workflow tasks per task`,
        );
      }
      console.log(`  after/before: p50 ${(t.p50 / c.p50).toFixed(2)}×, p95 ${(t.p95 / c.p95).toFixed(2)}×`);
    }
    if (throughput) {
      console.log(
        `throughput: ${N} tasks submitted at once, ${CONCURRENCY} ${AGENT} slots: ` +
          `${throughput.tasksPerSecond.toFixed(1)} tasks/s (first start → last close ${(throughput.spanMs / 1000).toFixed(1)} s), ` +
          `${(throughput.workflowTasks / (throughput.spanMs / 1000)).toFixed(0)} workflow tasks/s of the task workflows ` +
          `(${(throughput.workflowTasks / N).toFixed(1)} per task; the pool's come on top)`,
      );
    }
    if (code) {
      console.log('(no burst and no Postgres figures with --baseline: both versions write to the one database)');
      console.log(loadLine());
      return;
    }

    const taskCount = after.find((f) => f.table === 'tasks')?.rows ?? 0;
    console.log(`\nPostgres, per task (${taskCount} tasks in the database; size growth scaled to 1,000 tasks)\n`);
    console.log(`${'table'.padEnd(22)} ${'rows'.padStart(8)} ${'writes'.padStart(8)} ${'MB/1k tasks'.padStart(12)}`);
    let rows = 0;
    let writes = 0;
    let bytes = 0;
    for (const f of after) {
      const grown = f.bytes - (before.find((x) => x.table === f.table)?.bytes ?? 0);
      rows += f.rows;
      writes += f.writes;
      bytes += grown;
      console.log(
        `${f.table.padEnd(22)} ${(f.rows / taskCount).toFixed(2).padStart(8)} ${(f.writes / taskCount).toFixed(2).padStart(8)} ` +
          `${(((grown / taskCount) * 1000) / 1024 / 1024).toFixed(2).padStart(12)}`,
      );
    }
    console.log(
      `${'all tables'.padEnd(22)} ${(rows / taskCount).toFixed(2).padStart(8)} ${(writes / taskCount).toFixed(2).padStart(8)} ` +
        `${(((bytes / taskCount) * 1000) / 1024 / 1024).toFixed(2).padStart(12)}`,
    );
    console.log('(writes: rows inserted + updated + deleted; size: tables + indexes, dead row versions included)');
    console.log(loadLine());
  } finally {
    await bench.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
