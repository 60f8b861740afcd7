/**
 * Benchmark: dependency release latency, from a dependency finishing to its dependent's agent
 * starting, over a chain of tasks with instant agents, beside what the seed's 5-second poll gives
 * the same chain.
 *
 *   npx tsx bench/dependency-chain.ts [--depth 50] [--baseline <git-ref>]
 *
 * It starts its own Temporal dev server (in memory) and a scratch Postgres database, and runs the
 * production workers (role `all`) in this process with the real taskWorkflow, agent pool,
 * activities and store. The chain is depth + 1 tasks of the `command` agent running `true`, each
 * depending on the one before. The agent is paused in the pool while the chain is submitted, so
 * every dependent is running and waiting for its dependency's signal before the head starts; then
 * it is resumed and the chain runs through.
 *
 * Per hop: the dependency's final state written (its `tasks.updated_at` in Postgres, the moment the
 * seed's poll could first have seen it) → the dependent's `runAgent` activity started (server
 * timestamp in its history), with the steps in between. The seed polled every 5 s, so a hop waited
 * 2.5 s on average (uniform over 0–5 s: p50 2.5 s, p95 4.75 s) before anything else happened.
 *
 * Before/after (`--baseline <git-ref>`): the code at that ref runs too, in a worker process of its own
 * on task queues and a pool of its own (harness.ts `startBaselineCode`); two chains of each, in the
 * order this, that, that, this, and the hops of both printed side by side.
 *
 * Target: p50 under 100 ms per hop on the dev server. Figures on a shared machine are noisy.
 */
import { parseArgs } from 'node:util';
import { taskStatusQuery, taskWorkflowId } from '../workflows/definitions.js';
import type { ClaudomatorClient, TaskSpec } from '../client/index.js';
import type { taskWorkflow } from '../workflows/task.js';
import {
  activityOf,
  loadLine,
  type BenchEnvironment,
  positiveInt,
  runTimes,
  type RunTimes,
  startBaselineCode,
  startBenchEnvironment,
  type Summary,
  startWorkersInProcess,
  summarize,
  summaryHeader,
  summaryRow,
  workflowTaskLine,
} from './harness.js';

const { values } = parseArgs({
  options: { depth: { type: 'string', default: '50' }, baseline: { type: 'string' } },
});
const DEPTH = positiveInt('depth', values.depth);
const SEED_POLL_MS = 5_000;
const WARMUP_DEPTH = 5;

/** A chain of depth + 1 instant tasks named `<prefix>-0` … `<prefix>-<depth>`, each on the one before. */
function chain(prefix: string, depth: number): TaskSpec[] {
  return Array.from({ length: depth + 1 }, (_, i) => ({
    id: `${prefix}-${i}`,
    name: `${prefix} ${i}`,
    instructions: 'Run true',
    agent: { type: 'command' as const, command: 'true' },
    dependsOn: i === 0 ? [] : [`${prefix}-${i - 1}`],
  }));
}

async function waitUntil(what: string, check: () => Promise<boolean>, timeoutMs = 120_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  // A workflow that has not run its first task yet cannot answer a query: not yet, rather than an error.
  while (!(await check().catch(() => false))) {
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}

async function runChain(
  bench: BenchEnvironment,
  client: ClaudomatorClient,
  prefix: string,
  depth: number,
  gated: boolean,
): Promise<string[]> {
  const specs = chain(prefix, depth);
  const ids = specs.map((s) => s.id!);
  if (gated) await client.pauseAgent('command', { reason: 'benchmark: hold the head until the chain waits' });
  await client.submitTasks(specs);
  if (gated) {
    // Every dependent waits for its dependency's signal (not on a start racing its dependency's end).
    await waitUntil('every dependent to wait for its dependency', async () => {
      const statuses = await Promise.all(
        ids.slice(1).map((id) => bench.temporal.workflow.getHandle(taskWorkflowId(id)).query(taskStatusQuery)),
      );
      return statuses.every((s) => s.state === 'PENDING' && s.waitingFor?.startsWith('dependencies'));
    });
    await client.resumeAgent('command');
  }
  const last = await bench.temporal.workflow.getHandle<typeof taskWorkflow>(taskWorkflowId(ids.at(-1)!)).result();
  if (last.state !== 'READY') throw new Error(`the chain's last task ended ${last.state}`);
  return ids;
}

type Hops = Record<string, number[]>;

/** The hops of one chain (`ids` in order), from its histories and its tasks' records. */
async function chainHops(
  bench: BenchEnvironment,
  ids: string[],
): Promise<{ hops: Hops; times: RunTimes[]; span: number }> {
  const hops: Hops = {
    total: [],
    'dependency written → signal received': [],
    'signal received → slot granted': [],
    'slot granted → agent scheduled': [],
    'agent scheduled → started': [],
  };
  const times = await Promise.all(ids.map((id) => runTimes(bench.temporal, taskWorkflowId(id))));
  const finished = await Promise.all(
    ids.map(async (id) => Date.parse((await bench.client.getTask(id)).task.updatedAt)),
  );
  for (let i = 1; i < ids.length; i++) {
    const t = times[i]!;
    const done = finished[i - 1]!;
    const run = activityOf(t, 'runAgent', taskWorkflowId(ids[i]!));
    const signalled = t.signals.find((s) => s.name === 'dependencyFinished')?.at ?? NaN;
    const granted = t.signals.find((s) => s.name === 'slotGranted')?.at ?? NaN;
    hops.total!.push(run.started - done);
    hops['dependency written → signal received']!.push(signalled - done);
    hops['signal received → slot granted']!.push(granted - signalled);
    hops['slot granted → agent scheduled']!.push(run.scheduled - granted);
    hops['agent scheduled → started']!.push(run.started - run.scheduled);
  }
  const headStart = activityOf(times[0]!, 'runAgent', taskWorkflowId(ids[0]!)).started;
  const tailStart = activityOf(times.at(-1)!, 'runAgent', taskWorkflowId(ids.at(-1)!)).started;
  return { hops, times, span: tailStart - headStart };
}

function merge(into: Hops, from: Hops): void {
  for (const [step, v] of Object.entries(from)) (into[step] ??= []).push(...v);
}

async function main(): Promise<void> {
  const bench = await startBenchEnvironment('chain');
  try {
    const workers = await startWorkersInProcess(bench);
    const code = values.baseline ? await startBaselineCode(bench, values.baseline) : undefined;
    const ours: string[][] = [];
    const theirs: string[][] = [];
    try {
      await runChain(bench, bench.client, 'warmup', WARMUP_DEPTH, false);
      if (code) {
        await runChain(bench, code.client, 'warmup-before', WARMUP_DEPTH, false);
        ours.push(await runChain(bench, bench.client, 'chain-a', DEPTH, true));
        theirs.push(await runChain(bench, code.client, 'before-a', DEPTH, true));
        theirs.push(await runChain(bench, code.client, 'before-b', DEPTH, true));
        ours.push(await runChain(bench, bench.client, 'chain-b', DEPTH, true));
      } else ours.push(await runChain(bench, bench.client, 'chain', DEPTH, true));
    } finally {
      await code?.stop();
      await workers.stop();
    }

    const measure = async (chains: string[][]): Promise<{ hops: Hops; times: RunTimes[]; spans: number[] }> => {
      const hops: Hops = {};
      const times: RunTimes[] = [];
      const spans: number[] = [];
      for (const ids of chains) {
        const one = await chainHops(bench, ids);
        merge(hops, one.hops);
        times.push(...one.times);
        spans.push(one.span);
      }
      return { hops, times, spans };
    };
    const after = await measure(ours);
    const before = code ? await measure(theirs) : undefined;
    const codeLabel = code ? `before: ${code.ref} (${code.commit.slice(0, 7)})` : '';

    const h = summarize(after.hops.total!);
    // The seed's poll: a hop waits uniformly 0–5 s for the next tick.
    const seed = { p50: SEED_POLL_MS / 2, p95: SEED_POLL_MS * 0.95, mean: SEED_POLL_MS / 2 };
    console.log(
      `\ndependency release latency, ${DEPTH}-deep chain of instant tasks${code ? ', two chains each' : ''} (ms; dependency written in Postgres → dependent's agent started)\n`,
    );
    console.log(summaryHeader());
    console.log(
      `${'seed: 5 s poll (expected)'.padEnd(44)} ${[seed.p50, seed.p95, seed.mean].map((v) => v.toFixed(1).padStart(8)).join(' ')}`,
    );
    const rows = (label: string, hops: Hops): void => {
      console.log(summaryRow(label, summarize(hops.total!)));
      for (const [step, v] of Object.entries(hops)) {
        if (step !== 'total') console.log(summaryRow(`  ${step}`, summarize(v)));
      }
    };
    if (before) rows(`${codeLabel}: per hop`, before.hops);
    rows(code ? 'after: this checkout, per hop' : 'signals: dependency → dependent', after.hops);
    console.log('');
    if (before) console.log(workflowTaskLine(codeLabel, before.times));
    console.log(workflowTaskLine(code ? 'after' : 'chain', after.times));
    console.log(
      `ratio signals/seed: p50 ${(h.p50 / seed.p50).toFixed(3)}×, mean ${(h.mean / seed.mean).toFixed(3)}× ` +
        `(${(seed.mean / h.mean).toFixed(0)}× faster on average)`,
    );
    const spanLine = (spans: number[]): string => spans.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ');
    console.log(
      `chain, head's agent started → last agent started: ${spanLine(after.spans)} ` +
        `(the seed's polls alone: ${((DEPTH * seed.mean) / 1000).toFixed(0)} s expected)`,
    );
    if (before) {
      const b: Summary = summarize(before.hops.total!);
      console.log(`${codeLabel}: ${spanLine(before.spans)}`);
      console.log(
        `before/after: hop p50 ${b.p50.toFixed(1)} → ${h.p50.toFixed(1)} ms (${(h.p50 / b.p50).toFixed(2)}×), ` +
          `p95 ${b.p95.toFixed(1)} → ${h.p95.toFixed(1)} ms`,
      );
    }
    console.log(`target: p50 < 100 ms per hop → ${h.p50.toFixed(1)} ms ${h.p50 < 100 ? 'met' : 'NOT met'}`);
    console.log(loadLine());
  } finally {
    await bench.stop();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
