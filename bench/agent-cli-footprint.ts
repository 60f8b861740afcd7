/**
 * Benchmark: what one running agent CLI costs an agent host — peak memory (RSS of its whole process
 * group) and CPU time — for sizing hosts (docs/deploy.md). The baseline, measured in the same run the
 * same way, is a bare Node process living as long, the floor of any Node-based CLI.
 *
 *   npx tsx bench/agent-cli-footprint.ts [--runs 5]
 *
 * The agent is the real Claude Code CLI (`@anthropic-ai/claude-code`, a dev dependency), started with
 * the argument vector claudomator's adapter builds, in a scratch git repository, talking to a local
 * scripted Messages API (test/helpers/messages-api.ts): a tool call that writes a file, then a final
 * answer. Model latency is absent, so the CPU figure is the CLI's own work per short run; a real run's
 * memory grows with its context. Gemini and Codex CLIs are not installed here and are not measured.
 *
 * Sampling: /proc every 20 ms, summing RSS over the process group; CPU is utime + stime of every
 * process seen, at its last sample.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { execa } from 'execa';
import { claudeAdapter } from '../agents/claude.js';
import { listProcesses } from '../activities/process-tree.js';
import { MessagesApiServer } from '../test/helpers/messages-api.js';

const { values } = parseArgs({ options: { runs: { type: 'string', default: '5' } } });
const RUNS = Number(values.runs);
const CLAUDE_BIN = fileURLToPath(new URL('../node_modules/.bin/claude', import.meta.url));
const PAGE = 4096;
const TICKS = 100; // USER_HZ on Linux

interface Footprint {
  peakRssMb: number;
  cpuSeconds: number;
  wallSeconds: number;
}

/** Run `file args` in its own process group and sample its group until it exits. */
async function measure(file: string, args: string[], options: { cwd: string; env: Record<string, string> }) {
  const started = performance.now();
  const child = execa(file, args, { ...options, extendEnv: false, detached: true, reject: false, stdin: 'ignore' });
  const pgid = child.pid!;
  let peak = 0;
  const cpuByPid = new Map<number, number>();
  let running = true;
  void child.finally(() => (running = false));
  while (running) {
    let rss = 0;
    for (const proc of listProcesses() ?? []) {
      if (proc.pgrp !== pgid) continue;
      rss += proc.rssPages * PAGE;
      cpuByPid.set(proc.pid, proc.cpuTicks);
    }
    peak = Math.max(peak, rss);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  const result = await child;
  const footprint: Footprint = {
    peakRssMb: peak / 2 ** 20,
    cpuSeconds: [...cpuByPid.values()].reduce((a, b) => a + b, 0) / TICKS,
    wallSeconds: (performance.now() - started) / 1000,
  };
  return { result, footprint };
}

async function claudeRun(dir: string, api: MessagesApiServer, run: number): Promise<Footprint> {
  const cwd = path.join(dir, `repo-${run}`);
  await execa('git', ['init', '--quiet', cwd]);
  api.push(
    { text: 'Writing it.', toolUse: { name: 'Write', input: { file_path: `${cwd}/hello.txt`, content: 'hello\n' } } },
    { text: 'Created hello.txt.' },
  );
  const invocation = claudeAdapter.invocation({
    bin: CLAUDE_BIN,
    config: { type: 'claude' },
    cwd,
    systemPrompt: 'You are running under claudomator.',
    writableDirs: [],
    run: { prompt: 'Create hello.txt containing "hello".', sessionId: crypto.randomUUID() },
    isRoot: process.getuid?.() === 0,
  });
  const home = path.join(dir, `home-${run}`);
  const { result, footprint } = await measure(invocation.file, invocation.args, {
    cwd,
    env: {
      PATH: process.env.PATH ?? '',
      HOME: home,
      CLAUDE_CONFIG_DIR: path.join(home, '.claude'),
      ANTHROPIC_BASE_URL: api.url,
      ANTHROPIC_API_KEY: 'sk-ant-scripted-bench-key',
      CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC: '1',
      ...invocation.env,
    },
  });
  if (result.exitCode !== 0 || !/"is_error":false/.test(String(result.stdout))) {
    throw new Error(
      `claude run ${run} did not succeed (exit ${String(result.exitCode)}):\n${String(result.stdout).slice(-2000)}`,
    );
  }
  return footprint;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

async function main(): Promise<void> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-bench-cli-'));
  const api = await MessagesApiServer.start();
  try {
    const claude: Footprint[] = [];
    const node: Footprint[] = [];
    for (let run = 0; run < RUNS; run++) {
      const c = await claudeRun(dir, api, run);
      claude.push(c);
      // The baseline lives as long as the claude run did.
      const idle = await measure(
        process.execPath,
        ['-e', `setTimeout(() => {}, ${Math.round(c.wallSeconds * 1000)})`],
        {
          cwd: dir,
          env: { PATH: process.env.PATH ?? '' },
        },
      );
      node.push(idle.footprint);
    }
    api.assertDone();

    const row = (label: string, runs: Footprint[]) =>
      `${label.padEnd(28)} ${median(runs.map((r) => r.peakRssMb))
        .toFixed(0)
        .padStart(8)} MB ${Math.max(...runs.map((r) => r.peakRssMb))
        .toFixed(0)
        .padStart(8)} MB ${median(runs.map((r) => r.cpuSeconds))
        .toFixed(2)
        .padStart(8)} s ${median(runs.map((r) => r.wallSeconds))
        .toFixed(2)
        .padStart(8)} s`;
    console.log(`agent CLI footprint, ${RUNS} runs each (median peak RSS, max peak RSS, median CPU, median wall)`);
    console.log(row('bare node (baseline)', node));
    console.log(row('claude (1 tool call + answer)', claude));
    console.log(
      `ratio claude / node: memory ${(median(claude.map((r) => r.peakRssMb)) / median(node.map((r) => r.peakRssMb))).toFixed(1)}×, CPU ${(median(claude.map((r) => r.cpuSeconds)) / Math.max(median(node.map((r) => r.cpuSeconds)), 0.01)).toFixed(1)}×`,
    );
  } finally {
    await api.close();
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
