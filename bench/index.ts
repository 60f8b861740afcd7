/**
 * Runs the benchmarks one after another, each in a process of its own (each starts its own Temporal
 * server and scratch database, and a process can install the Temporal runtime only once).
 *
 *   npm run bench                                  every benchmark at its default size
 *   npm run bench -- --quick                       every benchmark at a smoke-test size
 *   npm run bench -- task-overhead                 one (or several, by name)
 *   npm run bench -- task-overhead --tasks 50      one, with its own arguments
 *   npm run bench -- --list                        names and what they measure
 *
 * The default sizes are the ones the targets are stated for and run in about 25 minutes on
 * a 2-core machine; run nothing else meanwhile if the figures matter. See bench/README.md.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

interface Bench {
  name: string;
  what: string;
  /** Arguments for `--quick`. */
  quick: string[];
}

/** The known benchmarks, in run order (cheap ones first); any other bench/*.ts file runs after them. */
const KNOWN: Bench[] = [
  { name: 'embedded-postgres', what: 'store operations/s, embedded PGlite vs local Postgres', quick: ['100'] },
  { name: 'runner-throughput', what: "agent output through the runner's pipes and logs vs cat", quick: ['50', '1'] },
  {
    name: 'pool-grant-latency',
    what: 'agent pool: released slot → next grant vs a signal round trip',
    quick: ['--grants', '100'],
  },
  {
    name: 'task-overhead',
    what: 'task workflow makespan − agent run vs a one-activity workflow; throughput; Postgres per task',
    quick: ['--tasks', '30'],
  },
  {
    name: 'dependency-chain',
    what: "dependency finished → dependent's agent started, vs the seed's 5 s poll",
    quick: ['--depth', '10'],
  },
  {
    name: 'blocked-tasks-memory',
    what: 'orchestration worker RSS with N tasks blocked on questions vs idle',
    quick: ['--tasks', '100'],
  },
  {
    name: 'pool-ceiling',
    what: 'one agent pool: grants + releases per second with many requesters vs an echo workflow',
    quick: ['--requesters', '20', '--window', '15', '--warmup', '5'],
  },
  {
    name: 'submit-burst',
    what: '1,000 tasks submitted through the SDK: time until all started vs one-activity workflows',
    quick: ['--tasks', '100'],
  },
  {
    name: 'list-queries',
    what: 'task list / task show / story show over 10,000 tasks, before vs after the index migration',
    quick: ['--tasks', '2000', '--repeat', '10'],
  },
  {
    name: 'dispatch-latency',
    what: "workflow task schedule → start on this server: a worker's first workflow vs later ones",
    quick: ['--runs', '2'],
  },
  {
    name: 'dispatch-floor',
    what: 'dispatch-latency with the TypeScript and the Python SDK side by side on one server',
    quick: ['--runs', '2', '--rounds', '1'],
  },
  {
    name: 'agent-cli-footprint',
    what: 'peak RSS and CPU of one real Claude Code run vs a bare Node process',
    quick: ['--runs', '1'],
  },
];

/** Modules in bench/ that are not benchmarks. */
const HELPERS = new Set(['index', 'harness']);

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/** The known benchmarks present, then any other file in bench/ (described by the first line of its header). */
function discover(): Bench[] {
  const files = readdirSync(path.join(ROOT, 'bench'))
    .filter((f) => f.endsWith('.ts'))
    .map((f) => f.slice(0, -3));
  const extra = files
    .filter((name) => !HELPERS.has(name) && !KNOWN.some((b) => b.name === name))
    .sort()
    .map((name): Bench => {
      const header = /\/\*\*\s*\n\s*\*\s*(.+)/.exec(readFileSync(path.join(ROOT, 'bench', `${name}.ts`), 'utf8'));
      return { name, what: (header?.[1] ?? '').replace(/^Benchmark:\s*/, ''), quick: [] };
    });
  return [...KNOWN.filter((b) => files.includes(b.name)), ...extra];
}

const BENCHES = discover();

function usage(): string {
  return [
    'usage: npm run bench -- [--quick] [--list] [name …] [arguments of the one named bench]',
    '',
    ...BENCHES.map((b) => `  ${b.name.padEnd(22)} ${b.what}`),
  ].join('\n');
}

async function run(bench: Bench, args: string[]): Promise<{ ok: boolean; seconds: number }> {
  const file = path.join('bench', `${bench.name}.ts`);
  console.log(`\n=== ${bench.name}: npx tsx ${[file, ...args].join(' ')}`);
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd: ROOT, stdio: 'inherit' });
  const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
  const seconds = (performance.now() - started) / 1000;
  const ok = code === 0;
  console.log(
    `=== ${bench.name}: ${ok ? 'done' : `FAILED (${signal ?? `exit ${String(code)}`})`} in ${seconds.toFixed(0)} s`,
  );
  return { ok, seconds };
}

async function main(): Promise<number> {
  const argv = process.argv.slice(2);
  if (argv.includes('--list') || argv.includes('--help') || argv.includes('-h')) {
    console.log(usage());
    return 0;
  }
  const quick = argv.includes('--quick');
  const rest = argv.filter((a) => a !== '--quick');
  const names: string[] = [];
  while (rest[0] !== undefined && !rest[0].startsWith('-')) names.push(rest.shift()!);
  const unknown = names.filter((n) => !BENCHES.some((b) => b.name === n));
  if (unknown.length > 0) {
    console.error(`unknown benchmark ${unknown.map((n) => `"${n}"`).join(', ')}\n\n${usage()}`);
    return 2;
  }
  if (rest.length > 0 && names.length !== 1) {
    console.error(`arguments (${rest.join(' ')}) go to one benchmark: name exactly one before them\n\n${usage()}`);
    return 2;
  }
  const chosen = names.length > 0 ? BENCHES.filter((b) => names.includes(b.name)) : BENCHES;

  const results: Array<{ name: string; ok: boolean; seconds: number }> = [];
  for (const bench of chosen) {
    const args = rest.length > 0 ? rest : quick ? bench.quick : [];
    results.push({ name: bench.name, ...(await run(bench, args)) });
  }
  if (results.length > 1) {
    console.log('\n=== summary');
    for (const r of results)
      console.log(`  ${r.name.padEnd(22)} ${r.ok ? 'done' : 'FAILED'} in ${r.seconds.toFixed(0)} s`);
  }
  return results.every((r) => r.ok) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
