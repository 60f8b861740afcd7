/**
 * Benchmark: a burst of task submissions through the SDK — 1,000 tasks in batches, with a slot for
 * every one — until every task's agent has started, beside a burst of as many one-activity workflows.
 *
 *   npx tsx bench/submit-burst.ts [--tasks 1000] [--batch 100] [--hold 0]
 *
 * It starts its own Temporal dev server (in memory) and a scratch Postgres database, and runs the
 * production workers (role `all`) in this process. The slot limit is the task count
 * (CLAUDOMATOR_AGENT_SLOTS=command=N), so no task waits for a slot. Each task runs the `command` agent:
 * `true`, or `sleep <hold>` with `--hold`. One agent host runs up to 100 agents at once (the SDK's
 * default activity slots), so a hold longer than 100 tasks' worth of the submission rate makes the
 * host, not the stack, the limit.
 *
 * - burst: `client.submitTasks` with `--batch` tasks at a time, one call after another. Started is when
 *   a task's execution row was written (its agent starts right after), by the database clock; "all
 *   started" is the last of them, from the first submission; "all completed" the last task READY. Per
 *   task: created → execution written.
 * - baseline: as many `healthCheckWorkflow` runs (one activity, `select 1`) started by the Temporal
 *   client, `--batch` at a time, until the last one closes: what the same stack does with the cheapest
 *   workflow.
 */
import { parseArgs } from 'node:util';
import type { TaskSpec } from '../client/index.js';
import type { healthCheckWorkflow } from '../workflows/health.js';
import {
  loadLine,
  positiveInt,
  runTimes,
  startBenchEnvironment,
  startWorkersInProcess,
  summarize,
  summaryHeader,
  summaryRow,
} from './harness.js';

const { values } = parseArgs({
  options: {
    tasks: { type: 'string', default: '1000' },
    batch: { type: 'string', default: '100' },
    hold: { type: 'string', default: '0' },
  },
});
const N = positiveInt('tasks', values.tasks);
const BATCH = positiveInt('batch', values.batch);
const HOLD_S = values.hold === '0' ? 0 : positiveInt('hold', values.hold);
const COMMAND = HOLD_S === 0 ? 'true' : `sleep ${HOLD_S}`;
const TIMEOUT_MS = 9 * 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const bench = await startBenchEnvironment('burst', {
    CLAUDOMATOR_AGENT_SLOTS: `command=${N}`,
    CLAUDOMATOR_SHUTDOWN_GRACE: '1s',
  });
  try {
    const workers = await startWorkersInProcess(bench);
    try {
      // Warm up: the pool started, the workers' caches and the server's shards touched.
      await bench.client.submitTasks({
        id: 'warmup',
        name: 'warmup',
        instructions: 'Run true',
        agent: { type: 'command', command: 'true' },
      });
      await bench.client.waitForTask('warmup', { timeoutMs: 120_000 });

      // Baseline: N one-activity workflows at once.
      const baselineStarted = Date.now();
      const ids = Array.from({ length: N }, (_, i) => `baseline-${i}`);
      for (let i = 0; i < N; i += BATCH) {
        await Promise.all(
          ids.slice(i, i + BATCH).map((workflowId) =>
            bench.temporal.workflow.start<typeof healthCheckWorkflow>('healthCheckWorkflow', {
              taskQueue: bench.config.taskQueue,
              workflowId,
              args: ['bench'],
            }),
          ),
        );
      }
      const baselineStartedAll = Date.now();
      await Promise.all(ids.map((id) => bench.temporal.workflow.getHandle(id).result()));
      const baselineTimes = await Promise.all(ids.map((id) => runTimes(bench.temporal, id)));
      const baselineEnd = Math.max(...baselineTimes.map((t) => t.closed));
      const baselineSeconds = (baselineEnd - baselineStarted) / 1000;

      // The burst: N tasks through the SDK, BATCH at a time.
      const specs = Array.from({ length: N }, (_, i): TaskSpec => ({
        id: `burst-${i}`,
        name: `burst ${i}`,
        instructions: `Hold an agent slot for ${HOLD_S} s`,
        agent: { type: 'command', command: `sleep ${HOLD_S}` },
      }));
      const burstStarted = Date.now();
      const batchMs: number[] = [];
      for (let i = 0; i < N; i += BATCH) {
        const t = performance.now();
        await bench.client.submitTasks(specs.slice(i, i + BATCH));
        batchMs.push(performance.now() - t);
      }
      const submitted = Date.now();
      let lastReport = Date.now();
      for (;;) {
        const { rows } = await bench.store.pool.query<{ started: string; completed: string; failed: string }>(
          `select (select count(distinct e.task_id) from executions e where e.task_id like 'burst-%') as started,
                  count(*) filter (where state in ('READY', 'COMPLETED')) as completed,
                  count(*) filter (where state in ('FAILED', 'CANCELLED', 'TIMED_OUT', 'BUDGET_EXCEEDED')) as failed
             from tasks where id like 'burst-%'`,
        );
        const started = Number(rows[0]?.started);
        const completed = Number(rows[0]?.completed);
        if (Number(rows[0]?.failed) > 0) {
          const { rows: ended } = await bench.store.pool.query<{ id: string; state: string; error: string | null }>(
            `select id, state, error from tasks
              where id like 'burst-%' and state in ('FAILED', 'CANCELLED', 'TIMED_OUT', 'BUDGET_EXCEEDED') limit 3`,
          );
          throw new Error(`tasks failed: ${JSON.stringify(ended)}`);
        }
        if (completed === N) break;
        if (Date.now() - burstStarted > TIMEOUT_MS) {
          throw new Error(
            `after ${TIMEOUT_MS / 60_000} min only ${started}/${N} tasks started, ${completed} completed`,
          );
        }
        if (Date.now() - lastReport > 30_000) {
          lastReport = Date.now();
          console.error(`… ${started}/${N} started, ${completed} completed`);
        }
        await sleep(250);
      }
      const { rows: perTask } = await bench.store.pool.query<{ wait_ms: number; started_ms: number; done_ms: number }>(
        `select extract(epoch from (min(e.start_time) - t.created_at)) * 1000 as wait_ms,
                extract(epoch from min(e.start_time)) * 1000 as started_ms,
                extract(epoch from t.updated_at) * 1000 as done_ms
           from tasks t join executions e on e.task_id = t.id
          where t.id like 'burst-%' group by t.id, t.created_at, t.updated_at`,
      );
      const allStarted = Math.max(...perTask.map((r) => Number(r.started_ms)));
      const allDone = Math.max(...perTask.map((r) => Number(r.done_ms)));
      const startedSeconds = (allStarted - burstStarted) / 1000;
      const doneSeconds = (allDone - burstStarted) / 1000;
      const submitSeconds = (submitted - burstStarted) / 1000;
      const waits = summarize(perTask.map((r) => Number(r.wait_ms)));
      const batches = summarize(batchMs);

      console.log(
        `\na burst of ${N} tasks through client.submitTasks (${BATCH} per call), command agent \`${COMMAND}\`, ` +
          `${N} slots, production workers in this process\n`,
      );
      console.log(
        `submitted in ${submitSeconds.toFixed(1)} s (${(N / submitSeconds).toFixed(1)} tasks/s; ` +
          `one submitTasks call of ${BATCH}: p50 ${batches.p50.toFixed(0)} ms, max ${batches.max.toFixed(0)} ms)`,
      );
      console.log(
        `all ${N} started ${startedSeconds.toFixed(1)} s after the first submission: ${(N / startedSeconds).toFixed(1)} tasks/s; ` +
          `all completed after ${doneSeconds.toFixed(1)} s`,
      );
      console.log(
        `baseline: ${N} one-activity workflows started in ${((baselineStartedAll - baselineStarted) / 1000).toFixed(1)} s, ` +
          `all closed ${baselineSeconds.toFixed(1)} s after the first start: ${(N / baselineSeconds).toFixed(1)} workflows/s`,
      );
      console.log(
        `ratio tasks started/s ÷ baseline workflows/s: ${(N / startedSeconds / (N / baselineSeconds)).toFixed(2)}×\n`,
      );
      console.log(summaryHeader());
      console.log(summaryRow('per task: created → agent started', waits));
      console.log(loadLine());
    } finally {
      await workers.stop();
    }
  } finally {
    await bench.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
