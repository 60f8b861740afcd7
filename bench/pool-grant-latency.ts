/**
 * Benchmark: how long the agent pool takes to hand a freed slot to the next waiter, beside the
 * cheapest thing that could do the same job, a plain signal round trip between two workflows.
 *
 *   npx tsx bench/pool-grant-latency.ts [--grants 500]
 *
 * It starts its own Temporal dev server (in memory) and a scratch Postgres database, runs one worker
 * with the real pool workflow and activities, and measures, from server timestamps in the histories:
 *
 * - baseline: workflow A signals workflow B, B signals A back; A's "signal sent" event → A's "signal
 *   received" event, over N sequential round trips;
 * - pool: N+1 requesters queue for one claude slot (limit 1) behind a holder; the holder releases and
 *   each grant is released at once, so the slot walks down the FIFO; requester i's "release sent"
 *   event → requester i+1's "grant received" event, over N grants.
 *
 * Both paths are two signal hops with one workflow task in the middle (B's, or the pool's), so the
 * target is a ratio within 2×. Figures on a shared machine are noisy: compare the ratio, not the ms.
 */
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import pg from 'pg';
import { ensureAgentPool, getAgentStatuses } from '../infra/agent-pool.js';
import { findBinary, MissingBinaryError } from '../infra/binaries.js';
import { startDevServer } from '../infra/dev-server.js';
import { LOCAL_DATABASE_URL, openStore } from '../infra/postgres.js';
import {
  createPoolWorker,
  bundlePoolWorkflows,
  eventually,
  signalsOf,
} from '../test/workflows/fixtures/pool-harness.js';
import {
  finishSignal,
  grantQuery,
  pingWorkflow,
  pongWorkflow,
  poolRequesterWorkflow,
  stopSignal,
} from '../test/workflows/fixtures/pool-requesters.js';
import { loadLine } from './harness.js';

const { values } = parseArgs({ options: { grants: { type: 'string', default: '500' } } });
const N = Number(values.grants);
const TASK_QUEUE = 'bench-pool';

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const binary = findBinary('temporal', process.env.TEMPORAL_CLI_PATH);
  if (!binary) throw new MissingBinaryError('temporal', 'TEMPORAL_CLI_PATH');

  const scratch = new URL(process.env.DATABASE_URL ?? LOCAL_DATABASE_URL);
  scratch.pathname = `/claudomator_bench_${process.pid}`;
  const [server, bundle, store] = await Promise.all([
    startDevServer({ binary }),
    bundlePoolWorkflows(),
    openStore(scratch.toString()),
  ]);
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace });
  try {
    const worker = await createPoolWorker({
      connection: nativeConnection,
      namespace: server.namespace,
      taskQueue: TASK_QUEUE,
      bundle,
      store,
    });
    await worker.runUntil(async () => {
      // Warm up both paths (worker caches, server shards) before measuring.
      await pingPong(client, 'warmup', 50);
      await poolChain(client, 'warmup', 50);

      const baseline = await pingPong(client, 'run', N);
      const pool = await poolChain(client, 'run', N);

      const b = summarize(baseline);
      const p = summarize(pool.latencies);
      const row = (label: string, s: Summary) =>
        `${label.padEnd(34)} ${s.p50.toFixed(1).padStart(8)} ${s.p95.toFixed(1).padStart(8)} ${s.mean.toFixed(1).padStart(8)} ${String(s.n).padStart(6)}`;
      console.log(`\nagent pool grant latency (${N} grants; ms, from server event timestamps)\n`);
      console.log(
        `${''.padEnd(34)} ${'p50'.padStart(8)} ${'p95'.padStart(8)} ${'mean'.padStart(8)} ${'n'.padStart(6)}`,
      );
      console.log(row('baseline: signal round trip', b));
      console.log(row('pool: release → next grant', p));
      console.log(
        `\nratio pool/baseline: p50 ${(p.p50 / b.p50).toFixed(2)}×, p95 ${(p.p95 / b.p95).toFixed(2)}× (target ≤ 2×)`,
      );
      console.log(
        `pool runs during the chain: ${pool.runs} (continue-as-new ${pool.runs > 1 ? 'happened' : 'did not happen'})`,
      );
      console.log(loadLine());
    });
  } finally {
    await nativeConnection.close();
    await connection.close();
    await server.stop();
    await store.close();
    const admin = new URL(scratch);
    const database = admin.pathname.slice(1);
    admin.pathname = '/postgres';
    const db = new pg.Client({ connectionString: admin.toString() });
    await db.connect();
    await db.query(`drop database if exists ${pg.escapeIdentifier(database)} with (force)`);
    await db.end();
  }
}

/** N sequential ping → pong round trips; each latency is the pinger's signal sent → pong received. */
async function pingPong(client: Client, label: string, rounds: number): Promise<number[]> {
  const pong = await client.workflow.start(pongWorkflow, { taskQueue: TASK_QUEUE, workflowId: `${label}-pong` });
  const pingId = `${label}-ping`;
  await client.workflow.execute(pingWorkflow, {
    taskQueue: TASK_QUEUE,
    workflowId: pingId,
    args: [{ peerId: pong.workflowId, self: pingId, rounds }],
  });
  await pong.signal(stopSignal);
  const signals = await signalsOf(client, pingId);
  const sent = new Map<number, number>();
  const latencies: number[] = [];
  for (const s of signals) {
    if (s.direction === 'sent' && s.name === 'ping') sent.set((s.input as { seq: number }).seq, s.at);
    if (s.direction === 'received' && s.name === 'pong') {
      const at = sent.get(s.input as number);
      if (at !== undefined) latencies.push(s.at - at);
    }
  }
  return latencies;
}

/**
 * A holder and N requesters queued behind it for one slot; the holder lets go and every requester
 * releases as soon as it is granted. Latency i: requester i's release sent → requester i+1's grant received.
 */
async function poolChain(
  client: Client,
  label: string,
  grants: number,
): Promise<{ latencies: number[]; runs: number }> {
  const poolId = `${label}-agent-pool`;
  const pool = await ensureAgentPool(client, {
    workflowId: poolId,
    taskQueue: TASK_QUEUE,
    // Leak checks describe every waiter; kept out of this measurement of the grant path.
    input: { agents: ['claude'], limits: { claude: 1 }, leakCheckIntervalMs: 30 * 60_000 },
  });
  const firstRunId = (await pool.describe()).runId;
  const start = (id: string, hold: 0 | 'signal') =>
    client.workflow.start(poolRequesterWorkflow, {
      taskQueue: TASK_QUEUE,
      workflowId: `${label}-${id}`,
      args: [{ poolWorkflowId: poolId, requestId: `${label}-${id}`, agent: 'claude', hold }],
    });
  const holder = await start('holder', 'signal');
  await eventually('the holder granted', async () => (await holder.query(grantQuery)) ?? undefined);
  // Queue the requesters 50 at a time, each batch in the FIFO before the next starts, so the machine is
  // quiet when the measured chain begins (a shared 2-core box otherwise times out workflow tasks).
  const requesters = [];
  for (let i = 0; i < grants; i += 50) {
    const batch = Array.from({ length: Math.min(50, grants - i) }, (_, j) => start(`r${i + j}`, 0));
    requesters.push(...(await Promise.all(batch)));
    await eventually(
      `${requesters.length} waiting`,
      async () => (await getAgentStatuses(client, { workflowId: poolId }))[0]?.waiting === requesters.length,
      { timeoutMs: 600_000, intervalMs: 250 },
    );
  }
  await holder.signal(finishSignal, { kind: 'success' });
  await holder.result();
  await Promise.all(requesters.map((r) => r.result()));

  // The grant order, from the pool's histories (every run, if it continued as new).
  const order: string[] = [];
  const runs: string[] = [];
  for (let runId: string | undefined = firstRunId; runId;) {
    runs.push(runId);
    for (const s of await signalsOf(client, poolId, runId)) {
      if (s.direction === 'sent' && s.name === 'slotGranted') order.push(s.target as string);
    }
    const described = await client.workflow.getHandle(poolId, runId).describe();
    runId = described.status.name === 'CONTINUED_AS_NEW' ? await nextRun(client, poolId, runId) : undefined;
  }
  const releaseSent = new Map<string, number>();
  const grantReceived = new Map<string, number>();
  for (const workflowId of order) {
    for (const s of await signalsOf(client, workflowId)) {
      if (s.direction === 'sent' && s.name === 'releaseSlot') releaseSent.set(workflowId, s.at);
      if (s.direction === 'received' && s.name === 'slotGranted') grantReceived.set(workflowId, s.at);
    }
  }
  const latencies: number[] = [];
  for (let i = 0; i + 1 < order.length; i++) {
    const released = releaseSent.get(order[i] as string);
    const granted = grantReceived.get(order[i + 1] as string);
    if (released !== undefined && granted !== undefined) latencies.push(granted - released);
  }
  await pool.terminate('benchmark done');
  return { latencies, runs: runs.length };
}

/** The run that `runId` continued as: the one whose history starts with it as the continued run. */
async function nextRun(client: Client, workflowId: string, runId: string): Promise<string | undefined> {
  const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
  const last = history.events?.[history.events.length - 1];
  return last?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
}

interface Summary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
}

function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return { n: sorted.length, p50: at(0.5), p95: at(0.95), mean: sorted.reduce((s, v) => s + v, 0) / sorted.length };
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
