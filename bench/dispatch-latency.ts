/**
 * Benchmark: the unit cost under every other figure here — how long a workflow task waits for a worker
 * (schedule → start) on this server — for a worker's first workflow and for the ones after it.
 *
 *   npx tsx bench/dispatch-latency.ts [--runs 4] [--activities 20]
 *
 * One worker with no claudomator code, a workflow running N no-op activities in sequence (each
 * completion schedules the next workflow task on the sticky queue), run R times one after another; a
 * second, fresh worker on the same server repeats it. Times are server timestamps from the histories.
 * The baseline is the first run of each worker. On the 2-core machine of bench/README.md the first
 * run dispatches in about 2 ms and every later run in about 40 ms, with any worker option tried
 * (pollers, eager activities, cache, threads) and with one task-queue partition: the wait is in the
 * dev server and SDK, and claudomator's workflows pay it once per workflow task.
 */
import { parseArgs } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { findBinary, MissingBinaryError } from '../infra/binaries.js';
import { startDevServer } from '../infra/dev-server.js';
import { dispatchWaits, loadLine, positiveInt, summarize, summaryHeader, summaryRow } from './harness.js';

const { values } = parseArgs({ options: { runs: { type: 'string' }, activities: { type: 'string' } } });
const RUNS = positiveInt('runs', values.runs ?? '4');
const ACTIVITIES = positiveInt('activities', values.activities ?? '20');

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const binary = findBinary('temporal', process.env.TEMPORAL_CLI_PATH);
  if (!binary) throw new MissingBinaryError('temporal', 'TEMPORAL_CLI_PATH');
  const server = await startDevServer({ binary });
  const connection = await NativeConnection.connect({ address: server.address });
  const clientConnection = await Connection.connect({ address: server.address });
  const client = new Client({ connection: clientConnection, namespace: server.namespace });
  const first: number[] = [];
  const later: number[] = [];
  try {
    for (const round of [1, 2]) {
      const waits = await dispatchWaits({
        connection,
        client,
        namespace: server.namespace,
        taskQueue: `dispatch-${round}`,
        runs: RUNS,
        activities: ACTIVITIES,
      });
      first.push(...waits.first);
      later.push(...waits.later);
    }
  } finally {
    await clientConnection.close();
    await connection.close();
    await server.stop();
  }
  const a = summarize(first);
  const b = summarize(later);
  console.log(
    `\nworkflow task schedule → start (ms), ${ACTIVITIES} activities per workflow, 2 workers × ${RUNS} runs\n`,
  );
  console.log(summaryHeader());
  console.log(summaryRow("baseline: a worker's first workflow", a));
  console.log(summaryRow('every later workflow', b));
  console.log(`\nratio later / first: p50 ${(b.p50 / Math.max(a.p50, 0.1)).toFixed(1)}×`);
  console.log(loadLine());
}

await main();
