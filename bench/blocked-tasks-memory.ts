/**
 * Benchmark: the memory of an orchestration worker holding N tasks blocked on questions at once,
 * beside the same worker idle, measured in the same run.
 *
 *   npx tsx bench/blocked-tasks-memory.ts [--tasks 1000] [--slots 8]
 *
 * It starts its own Temporal dev server (in memory) and a scratch Postgres database. The
 * orchestration worker runs in a process of its own (bench/worker-child.ts: `startWorker`, as
 * `claudomator worker --role orchestration`), so its RSS is the worker's alone; the agent host runs in
 * this process with `--slots` fake Claude Code slots. Every task's agent asks a question and stops
 * (the fake CLI's `question` scenario), so each task workflow ends up BLOCKED, waiting for an answer.
 *
 * Figures (from /proc/<pid>/status and the worker's own status): RSS idle (the pool workflow only),
 * RSS with all N BLOCKED, peak RSS while they were filled, heap, and how many workflows the worker
 * caches. Each is taken as the process stands and again after a forced garbage collection. The
 * blocked tasks are not answered: the server and database are thrown away at the end.
 *
 * Target: under 500 MB RSS with 1,000 blocked. The worker runs under tsx's loader (as `npm run
 * worker` does), which costs some memory that a worker built with `npm run build` does not have;
 * the idle figure carries the same cost.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { once } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { TaskSpec } from '../client/index.js';
import { MB, positiveInt, startBenchEnvironment, startWorkersInProcess } from './harness.js';
import type { WorkerMessage, WorkerRequest, WorkerStats } from './worker-child.js';

const { values } = parseArgs({
  options: { tasks: { type: 'string', default: '1000' }, slots: { type: 'string', default: '8' } },
});
const N = positiveInt('tasks', values.tasks);
const SLOTS = positiveInt('slots', values.slots);
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const SETTLE_MS = 5_000;

/** The orchestration worker in its own node process, answering memory questions over IPC. */
async function startWorkerProcess(env: Record<string, string>): Promise<ChildProcess> {
  const child = fork(path.join(ROOT, 'bench', 'worker-child.ts'), ['orchestration'], {
    cwd: ROOT,
    env,
    execArgv: ['--import', 'tsx', '--expose-gc'],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = once(child, 'exit').then(([code]) => {
    throw new Error(`the worker process exited (${String(code)}) before it was ready`);
  });
  const ready = new Promise<void>((resolve) => {
    const onMessage = (message: WorkerMessage): void => {
      if (message.type !== 'ready') return;
      child.off('message', onMessage);
      resolve();
    };
    child.on('message', onMessage);
  });
  await Promise.race([ready, exited]);
  return child;
}

async function statsOf(child: ChildProcess, gc: boolean): Promise<WorkerStats> {
  return new Promise((resolve) => {
    const onMessage = (message: WorkerMessage): void => {
      if (message.type !== 'stats') return;
      child.off('message', onMessage);
      resolve(message.stats);
    };
    child.on('message', onMessage);
    child.send({ type: 'stats', gc } satisfies WorkerRequest);
  });
}

async function stopWorkerProcess(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = once(child, 'exit');
  child.send({ type: 'stop' } satisfies WorkerRequest);
  const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

async function main(): Promise<void> {
  const bench = await startBenchEnvironment('memory', {
    CLAUDOMATOR_AGENT_SLOTS: `claude=${SLOTS}`,
    FAKE_AGENT_SCENARIO: 'question',
  });
  let child: ChildProcess | undefined;
  try {
    child = await startWorkerProcess(bench.env);
    const agents = await startWorkersInProcess(bench, 'agents');
    try {
      await sleep(SETTLE_MS);
      const idle = await statsOf(child, false);
      const idleGc = await statsOf(child, true);

      const started = performance.now();
      const ids = Array.from({ length: N }, (_, i) => `blocked-${i}`);
      const specs = ids.map((id): TaskSpec => ({ id, name: id, instructions: 'Pick a database [scenario:question]' }));
      for (let i = 0; i < specs.length; i += 100) await bench.client.submitTasks(specs.slice(i, i + 100));
      let lastReport = 0;
      for (;;) {
        const { rows } = await bench.store.pool.query<{ state: string; n: string }>(
          'select state, count(*) as n from tasks group by state',
        );
        const count = (state: string): number => Number(rows.find((r) => r.state === state)?.n ?? 0);
        const settledOtherwise = rows.filter((r) => !['PENDING', 'QUEUED', 'RUNNING', 'BLOCKED'].includes(r.state));
        if (settledOtherwise.length > 0) {
          throw new Error(
            `tasks ended other than BLOCKED: ${settledOtherwise.map((r) => `${r.n} ${r.state}`).join(', ')}`,
          );
        }
        if (count('BLOCKED') === N) break;
        if (performance.now() - lastReport > 30_000) {
          lastReport = performance.now();
          console.error(`… ${count('BLOCKED')}/${N} blocked`);
        }
        await sleep(1_000);
      }
      const fillSeconds = (performance.now() - started) / 1000;
      await sleep(SETTLE_MS);
      const blocked = await statsOf(child, false);
      const blockedGc = await statsOf(child, true);

      const mb = (bytes: number) => `${(bytes / MB).toFixed(1).padStart(8)} MB`;
      const row = (label: string, a: number, b: number) => `${label.padEnd(40)} ${mb(a)} ${mb(b)} ${mb(b - a)}`;
      console.log(
        `\norchestration worker memory, ${N} tasks BLOCKED on a question (filled in ${fillSeconds.toFixed(0)} s with ${SLOTS} fake claude slots)\n`,
      );
      console.log(`${''.padEnd(40)} ${'idle'.padStart(11)} ${'blocked'.padStart(11)} ${'growth'.padStart(11)}`);
      console.log(row('RSS', idle.rss, blocked.rss));
      console.log(row('RSS after a forced GC', idleGc.rss, blockedGc.rss));
      console.log(row('V8 heap used', idle.heapUsed, blocked.heapUsed));
      console.log(row('V8 heap used after a forced GC', idleGc.heapUsed, blockedGc.heapUsed));
      console.log(row('external (buffers outside the heap)', idleGc.external, blockedGc.external));
      console.log(`peak RSS while filling: ${mb(blockedGc.peakRss).trim()}`);
      const perTaskKb = (blockedGc.rss - idleGc.rss) / N / 1024;
      console.log(
        `workflows cached by the worker: idle ${idle.cachedWorkflows}, blocked ${blocked.cachedWorkflows} ` +
          `(${N} tasks + the pool); RSS growth per blocked task after GC: ${perTaskKb.toFixed(0)} kB`,
      );
      console.log(
        `target: RSS under 500 MB with ${N} blocked → ${mb(blocked.rss).trim()} ${blocked.rss < 500 * MB ? 'met' : 'NOT met'}`,
      );
    } finally {
      await stopWorkerProcess(child);
      await agents.stop();
    }
  } finally {
    if (child && child.exitCode === null) child.kill('SIGKILL');
    await bench.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
