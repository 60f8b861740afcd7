/**
 * Benchmark: the dispatch floor — dispatch-latency's workflow task schedule → start, measured with this
 * TypeScript worker and with the Temporal Python SDK against the same dev server, side by side.
 *
 *   npx tsx bench/dispatch-floor.ts [--runs 4] [--activities 20] [--rounds 2]
 *
 * Each round runs a fresh TypeScript worker (harness.ts `dispatchWaits`, as dispatch-latency does) and
 * then a fresh Python worker (bench/dispatch_latency.py in a process of its own, from the venv that
 * `bash scripts/install-bench-tools.sh` makes in .tools/bench; this benchmark runs that script first,
 * which returns at once when the venv is there). Both run R workflows of N no-op activities in
 * sequence on the same server, interleaved so both see the same machine load. Times are server
 * timestamps from the histories. The baseline is the Python worker: if it waits as long as the
 * TypeScript one, the wait is the server's (or the Rust core's, which both SDKs share), not Node's.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs, promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import { DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { findBinary, MissingBinaryError } from '../infra/binaries.js';
import { startDevServer } from '../infra/dev-server.js';
import { dispatchWaits, loadLine, positiveInt, summarize, summaryHeader, summaryRow } from './harness.js';

const { values } = parseArgs({
  options: { runs: { type: 'string' }, activities: { type: 'string' }, rounds: { type: 'string' } },
});
const RUNS = positiveInt('runs', values.runs ?? '4');
const ACTIVITIES = positiveInt('activities', values.activities ?? '20');
const ROUNDS = positiveInt('rounds', values.rounds ?? '2');
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const PYTHON = path.join(ROOT, '.tools', 'bench', 'bin', 'python');
const run = promisify(execFile);

async function pythonWaits(
  address: string,
  namespace: string,
  round: number,
): Promise<{ first: number[]; later: number[] }> {
  const { stdout } = await run(
    PYTHON,
    [
      path.join(ROOT, 'bench', 'dispatch_latency.py'),
      ...['--address', address, '--namespace', namespace],
      ...['--runs', String(RUNS), '--activities', String(ACTIVITIES), '--label', `py-${round}`],
    ],
    // No __pycache__ in bench/: the workflow sandbox imports the script again as a module.
    { cwd: ROOT, timeout: 300_000, env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } },
  );
  const last = stdout.trim().split('\n').at(-1) ?? '';
  const parsed = JSON.parse(last) as { first?: unknown; later?: unknown };
  if (!Array.isArray(parsed.first) || !Array.isArray(parsed.later)) {
    throw new Error(`bench/dispatch_latency.py printed no {first, later} line:\n${stdout}`);
  }
  return { first: parsed.first as number[], later: parsed.later as number[] };
}

async function main(): Promise<void> {
  await run('bash', [path.join(ROOT, 'scripts', 'install-bench-tools.sh')], { cwd: ROOT, timeout: 600_000 });
  if (!existsSync(PYTHON)) throw new Error(`${PYTHON} is missing: run bash scripts/install-bench-tools.sh`);
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const binary = findBinary('temporal', process.env.TEMPORAL_CLI_PATH);
  if (!binary) throw new MissingBinaryError('temporal', 'TEMPORAL_CLI_PATH');
  const server = await startDevServer({ binary });
  const connection = await NativeConnection.connect({ address: server.address });
  const clientConnection = await Connection.connect({ address: server.address });
  const client = new Client({ connection: clientConnection, namespace: server.namespace });
  const ts = { first: [] as number[], later: [] as number[] };
  const py = { first: [] as number[], later: [] as number[] };
  try {
    for (let round = 1; round <= ROUNDS; round++) {
      const t = await dispatchWaits({
        connection,
        client,
        namespace: server.namespace,
        taskQueue: `ts-${round}-dispatch`,
        runs: RUNS,
        activities: ACTIVITIES,
      });
      ts.first.push(...t.first);
      ts.later.push(...t.later);
      const p = await pythonWaits(server.address, server.namespace, round);
      py.first.push(...p.first);
      py.later.push(...p.later);
    }
  } finally {
    await clientConnection.close();
    await connection.close();
    await server.stop();
  }
  const rows = {
    tsFirst: summarize(ts.first),
    tsLater: summarize(ts.later),
    pyFirst: summarize(py.first),
    pyLater: summarize(py.later),
  };
  console.log(
    `\nworkflow task schedule → start (ms), ${ACTIVITIES} activities per workflow, ` +
      `${ROUNDS} rounds × (a TypeScript worker, a Python worker) × ${RUNS} runs, one dev server\n`,
  );
  console.log(summaryHeader());
  console.log(summaryRow("TypeScript: a worker's first workflow", rows.tsFirst));
  console.log(summaryRow('TypeScript: every later workflow', rows.tsLater));
  console.log(summaryRow("baseline: Python, a worker's first workflow", rows.pyFirst));
  console.log(summaryRow('baseline: Python, every later workflow', rows.pyLater));
  const ratio = (a: number, b: number) => `${(a / Math.max(b, 0.1)).toFixed(2)}×`;
  console.log(
    `\nratio TypeScript / Python, later workflows: p50 ${ratio(rows.tsLater.p50, rows.pyLater.p50)}, ` +
      `p95 ${ratio(rows.tsLater.p95, rows.pyLater.p95)}; first workflows: p50 ${ratio(rows.tsFirst.p50, rows.pyFirst.p50)}`,
  );
  console.log(
    `ratio later / first: TypeScript p50 ${ratio(rows.tsLater.p50, rows.tsFirst.p50)}, ` +
      `Python p50 ${ratio(rows.pyLater.p50, rows.pyFirst.p50)}`,
  );
  console.log(loadLine());
}

await main();
