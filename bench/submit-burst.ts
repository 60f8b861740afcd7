/**
 * Benchmark: a burst of task submissions through the SDK — 1,000 tasks in batches, with enough agent
 * slots for all — until every one has its agent running, beside a burst of as many one-activity workflows.
 *
 *   npx tsx bench/submit-burst.ts [--tasks 1000] [--batch 100] [--hold 600]
 *
 * It starts its own Temporal dev server (in memory) and a scratch Postgres database. The production
 * workers run in this process: one orchestration worker, and as many agent hosts as it takes to run
 * every task at once (an agent host runs up to 100 activities at a time, the SDK's default), all on
 * one connection and one store. The slot limit is the task count (CLAUDOMATOR_AGENT_SLOTS=command=N).
 * Each task runs the `command` agent `sleep <hold>`, so it stays RUNNING once started.
 *
 * - burst: `client.submitTasks` with `--batch` tasks at a time, one batch after another, as fast as
 *   they return. All-running is when the last task's execution row was written (the agent starts
 *   right after), by the database clock. Per task: created → execution written.
 * - baseline: as many `healthCheckWorkflow` runs (one activity, `select 1`) started at once by the
 *   Temporal client, until the last one closes: what the same stack does with the cheapest workflow.
 *
 * At the end the workers stop with a 1 s grace, which cancels the running agents (their processes are
 * killed), and the server and database are thrown away.
 */
import { parseArgs } from 'node:util';
import type { TaskSpec } from '../client/index.js';
import type { healthCheckWorkflow } from '../workflows/health.js';
import { createWorkers } from '../worker/factory.js';
import { NativeConnection } from '@temporalio/worker';
import { openStore } from '../infra/postgres.js';
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
    hold: { type: 'string', default: '600' },
  },
});
const N = positiveInt('tasks', values.tasks);
const BATCH = positiveInt('batch', values.batch);
const HOLD_S = positiveInt('hold', values.hold);
/** The SDK's default maxConcurrentActivityTaskExecutions: what one agent host runs at once. */
const ACTIVITIES_PER_HOST = 100;
const TIMEOUT_MS = 9 * 60_000;

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const bench = await startBenchEnvironment('burst', {
    CLAUDOMATOR_AGENT_SLOTS: `command=${N}`,
    CLAUDOMATOR_SHUTDOWN_GRACE: '1s',
  });
  const hosts = Math.ceil(N / ACTIVITIES_PER_HOST);
  try {
    const orchestration = await startWorkersInProcess(bench, 'orchestration');
    const connection = await NativeConnection.connect({ address: bench.server.address });
    const hostStore = await openStore(bench.databaseUrl);
    const agentWorkers = (
      await Promise.all(
        Array.from({ length: hosts }, () =>
          createWorkers({ role: 'agents', config: bench.config, connection, store: hostStore }),
        ),
      )
    ).flat();
    const agentRuns = agentWorkers.map(({ worker }) => worker.run());
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
        const { rows } = await bench.store.pool.query<{ started: string; failed: string }>(
          `select count(distinct e.task_id) as started,
                  (select count(*) from tasks where id like 'burst-%' and state not in ('PENDING', 'QUEUED', 'RUNNING')) as failed
             from executions e where e.task_id like 'burst-%'`,
        );
        const started = Number(rows[0]?.started);
        if (Number(rows[0]?.failed) > 0) {
          const { rows: ended } = await bench.store.pool.query<{ state: string; error: string | null }>(
            `select state, error from tasks where id like 'burst-%' and state not in ('PENDING', 'QUEUED', 'RUNNING') limit 3`,
          );
          throw new Error(`tasks ended before all were running: ${JSON.stringify(ended)}`);
        }
        if (started === N) break;
        if (Date.now() - burstStarted > TIMEOUT_MS)
          throw new Error(`only ${started}/${N} tasks running after ${TIMEOUT_MS / 60_000} min`);
        if (Date.now() - lastReport > 30_000) {
          lastReport = Date.now();
          console.error(`… ${started}/${N} running`);
        }
        await sleep(250);
      }
      const { rows: perTask } = await bench.store.pool.query<{ wait_ms: number; started_ms: number }>(
        `select extract(epoch from (min(e.start_time) - t.created_at)) * 1000 as wait_ms,
                extract(epoch from min(e.start_time)) * 1000 as started_ms
           from tasks t join executions e on e.task_id = t.id
          where t.id like 'burst-%' group by t.id, t.created_at`,
      );
      const { rows: running } = await bench.store.pool.query<{ n: string }>(
        `select count(*) as n from tasks where id like 'burst-%' and state = 'RUNNING'`,
      );
      const allRunning = Math.max(...perTask.map((r) => Number(r.started_ms)));
      const burstSeconds = (allRunning - burstStarted) / 1000;
      const waits = summarize(perTask.map((r) => Number(r.wait_ms)));
      const batches = summarize(batchMs);

      console.log(
        `\na burst of ${N} tasks through client.submitTasks (${BATCH} per call), command agent \`sleep ${HOLD_S}\`, ` +
          `${N} slots on ${hosts} agent hosts in this process\n`,
      );
      console.log(
        `submitted in ${((submitted - burstStarted) / 1000).toFixed(1)} s ` +
          `(${(N / ((submitted - burstStarted) / 1000)).toFixed(0)} tasks/s; one submitTasks call of ${BATCH}: ` +
          `p50 ${batches.p50.toFixed(0)} ms, max ${batches.max.toFixed(0)} ms)`,
      );
      console.log(
        `all ${N} running ${burstSeconds.toFixed(1)} s after the first submission: ${(N / burstSeconds).toFixed(1)} tasks/s ` +
          `(${running[0]?.n} RUNNING at the end)`,
      );
      console.log(
        `baseline: ${N} one-activity workflows started in ${((baselineStartedAll - baselineStarted) / 1000).toFixed(1)} s, ` +
          `all closed ${baselineSeconds.toFixed(1)} s after the first start: ${(N / baselineSeconds).toFixed(1)} workflows/s`,
      );
      console.log(`ratio tasks/s ÷ baseline workflows/s: ${(N / burstSeconds / (N / baselineSeconds)).toFixed(2)}×\n`);
      console.log(summaryHeader());
      console.log(summaryRow('per task: created → execution written', waits));
      console.log(loadLine());
    } finally {
      for (const { worker } of agentWorkers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(agentRuns);
      await orchestration.stop();
      await hostStore.close();
      await connection.close();
    }
  } finally {
    await bench.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
