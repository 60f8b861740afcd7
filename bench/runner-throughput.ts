/**
 * Benchmark: stream 200 MB of agent output through the runner's process and log path (AgentProcess:
 * pipes, log files, line splitting, the Claude parser and transcript) and compare with `cat` of the same
 * bytes into a file, measured in the same run. Also reports how much the runner's memory grew.
 *
 *   npx tsx bench/runner-throughput.ts [megabytes] [rounds]
 *
 * Targets: throughput at least 0.5× cat's; memory growth under 64 MB.
 */
import { spawn } from 'node:child_process';
import { closeSync, createWriteStream, mkdirSync, mkdtempSync, openSync, rmSync, statSync } from 'node:fs';
import { once } from 'node:events';
import os from 'node:os';
import path from 'node:path';
import { applyLine, emptyTranscript, readLine } from '../agents/adapter.js';
import { claudeAdapter } from '../agents/claude.js';
import { AgentProcess } from '../activities/process.js';

const MB = 1024 * 1024;
const targetMb = Number(process.argv[2] ?? 200);
const rounds = Number(process.argv[3] ?? 3);
const dir = mkdtempSync(path.join(os.tmpdir(), 'claudomator-bench-'));

/** Claude stream-json as an agent writes it: small events and large tool results, all valid lines. */
async function writeAgentOutput(file: string, bytes: number): Promise<number> {
  const session = '6f1c2a4e-8f7b-4c1d-9e2a-3b4c5d6e7f80';
  const sizes = [120, 800, 4_000, 16_000, 64_000, 300];
  const lines = sizes.map((size, i) =>
    i % 2 === 0
      ? `${JSON.stringify({
          type: 'assistant',
          message: { id: `msg_${i}`, role: 'assistant', content: [{ type: 'text', text: 'x'.repeat(size) }] },
          session_id: session,
        })}\n`
      : `${JSON.stringify({
          type: 'user',
          message: {
            role: 'user',
            content: [{ type: 'tool_result', tool_use_id: `toolu_${i}`, content: 'y'.repeat(size) }],
          },
          session_id: session,
        })}\n`,
  );
  const block = Buffer.from(
    `${JSON.stringify({ type: 'system', subtype: 'init', session_id: session })}\n${lines.join('')}`,
  );
  const out = createWriteStream(file);
  let written = 0;
  while (written < bytes) {
    if (!out.write(block)) await once(out, 'drain');
    written += block.length;
  }
  const result = `${JSON.stringify({ type: 'result', subtype: 'success', is_error: false, result: 'done', session_id: session, total_cost_usd: 1.5 })}\n`;
  out.end(result);
  await once(out, 'finish');
  return statSync(file).size;
}

async function timeCat(input: string, output: string): Promise<number> {
  const fd = openSync(output, 'w');
  const started = process.hrtime.bigint();
  const child = spawn('cat', [input], { stdio: ['ignore', fd, 'inherit'] });
  await once(child, 'exit');
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  closeSync(fd);
  return ms;
}

/** How the runner reads stdout: not at all (logs only), as it does for Claude, or decoding every line. */
type Reading = 'logs only' | 'as run' | 'every line';

async function timeRunner(
  input: string,
  outDir: string,
  reading: Reading,
): Promise<{ ms: number; rssGrowth: number; heapGrowth: number; ok: boolean }> {
  rmSync(outDir, { recursive: true, force: true });
  mkdirSync(outDir, { recursive: true });
  const transcript = emptyTranscript();
  const rss0 = process.memoryUsage().rss;
  const heap0 = process.memoryUsage().heapUsed;
  let rssPeak = rss0;
  let heapPeak = heap0;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    rssPeak = Math.max(rssPeak, m.rss);
    heapPeak = Math.max(heapPeak, m.heapUsed);
  }, 10);
  const started = process.hrtime.bigint();
  const proc = await AgentProcess.spawn({
    file: 'cat',
    args: [input],
    cwd: outDir,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin' },
    stdoutPath: path.join(outDir, 'stdout.log'),
    stderrPath: path.join(outDir, 'stderr.log'),
    marker: { name: 'CLAUDOMATOR_RUN_ID', value: `bench-${process.pid}` },
    onLine:
      reading === 'logs only'
        ? undefined
        : reading === 'as run'
          ? (line) => readLine(claudeAdapter, transcript, line)
          : (line) => applyLine(transcript, claudeAdapter.parseLine(line.toString('utf8'))),
  });
  await proc.done;
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  clearInterval(sampler);
  const m = process.memoryUsage();
  rssPeak = Math.max(rssPeak, m.rss);
  heapPeak = Math.max(heapPeak, m.heapUsed);
  const ok =
    statSync(path.join(outDir, 'stdout.log')).size === statSync(input).size &&
    (reading === 'logs only' || transcript.result?.ok === true);
  return { ms, rssGrowth: rssPeak - rss0, heapGrowth: heapPeak - heap0, ok };
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? NaN;
}

async function main(): Promise<void> {
  const input = path.join(dir, 'agent-output.jsonl');
  const size = await writeAgentOutput(input, targetMb * MB);
  await timeCat(input, '/dev/null'); // warm the page cache

  const readings: Reading[] = ['logs only', 'as run', 'every line'];
  const cat: number[] = [];
  const runner = new Map<Reading, number[]>(readings.map((r) => [r, []]));
  let rssGrowth = 0;
  let heapGrowth = 0;
  let allOk = true;
  for (let i = 0; i < rounds; i++) {
    cat.push(await timeCat(input, path.join(dir, 'cat-out.jsonl')));
    rmSync(path.join(dir, 'cat-out.jsonl'), { force: true });
    for (const reading of readings) {
      const r = await timeRunner(input, path.join(dir, 'runner-out'), reading);
      runner.get(reading)?.push(r.ms);
      rssGrowth = Math.max(rssGrowth, r.rssGrowth);
      heapGrowth = Math.max(heapGrowth, r.heapGrowth);
      allOk &&= r.ok;
    }
  }

  const mbps = (ms: number): number => size / MB / (ms / 1000);
  const catMs = median(cat);
  const asRunMs = median(runner.get('as run') ?? []);
  const row = (label: string, ms: number): string =>
    `${label.padEnd(44)} ${ms.toFixed(0).padStart(7)} ms  ${mbps(ms).toFixed(0).padStart(6)} MB/s  ${(catMs / ms).toFixed(2)}× cat`;
  console.log(`runner throughput: ${(size / MB).toFixed(1)} MB of Claude stream-json, median of ${rounds} rounds`);
  console.log(row('cat > file (baseline)', catMs));
  console.log(row('runner: log files only', median(runner.get('logs only') ?? [])));
  console.log(row('runner: as run (claude: ignored events sniffed)', asRunMs));
  console.log(row('runner: decoding and parsing every line', median(runner.get('every line') ?? [])));
  console.log(
    `runner memory growth (peak during a run): rss ${(rssGrowth / MB).toFixed(1)} MB, heap ${(heapGrowth / MB).toFixed(1)} MB`,
  );
  console.log(
    `targets: >= 0.50x cat -> ${(catMs / asRunMs).toFixed(2)}x ${catMs / asRunMs >= 0.5 ? 'met' : 'NOT met'}; ` +
      `memory < 64 MB -> ${(rssGrowth / MB).toFixed(1)} MB ${rssGrowth < 64 * MB ? 'met' : 'NOT met'}; ` +
      `logs complete and result parsed: ${allOk ? 'yes' : 'NO'}`,
  );
}

main()
  .catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  })
  .finally(() => rmSync(dir, { recursive: true, force: true }));
