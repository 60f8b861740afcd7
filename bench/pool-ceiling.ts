/**
 * Benchmark: the ceiling of one agent pool workflow — grants and releases per second with many
 * requesters at once, through continue-as-new — beside one plain workflow answering signals.
 *
 *   npx tsx bench/pool-ceiling.ts [--requesters 50,200] [--window 45] [--warmup 15] [--limit N] [--can-after N] [--shards N]
 *
 * It starts its own Temporal dev server (in memory) and a scratch Postgres database, and two workers in
 * this process on the same bundle: one for the central workflow (the pool, or the baseline's echo) and
 * one for the requesters, so the central workflow's workflow tasks do not queue behind theirs. For each
 * requester count R:
 *
 * - baseline: R workflows each loop ping → pong with one echo workflow, which answers every ping at
 *   hand with a signal and continues as new when the server suggests it;
 * - pool: R workflows each loop acquire → release of a claude slot through `PoolClient`, as the task
 *   workflow does, against the real agent pool (slot limit `--limit`, default R: nobody waits for a
 *   slot, so the pool itself is the only queue). It continues as new when the server suggests it, or
 *   after `--can-after` history events.
 * - with `--shards N` (2 to 4), also a sharded pool, in the same run: N pool workflows (workflows/pool-shards.ts),
 *   one agent each (claude, gemini, codex, command), and requester i asks for agent i mod N through
 *   `PoolClient`'s sharding, as tasks of N agent types do. Its figures add up over the N shards.
 *
 * Both loop for warm-up + window seconds; everything is counted from the central workflow's histories
 * (every run of it), inside the window, by server timestamps: rounds per second (grants, or pongs),
 * signals in per second, history events and workflow tasks per round, signals per workflow task, how
 * much of the window the central workflow had a workflow task outstanding (scheduled → completed) and
 * in a worker (started → completed), continue-as-new per minute, and for the pool the time from a
 * request received to its grant sent. Requesters loop with no pause, so with every core busy, the rate
 * is what this machine sustains, not a bound of the pool: the occupancy columns say how close the pool
 * itself was to its limit (at 100% it cannot take a workflow task more).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { Client, Connection, type WorkflowHandle } from '@temporalio/client';
import { defaultPayloadConverter, type Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime } from '@temporalio/worker';
import { randomUUID } from 'node:crypto';
import { ensureAgentPool } from '../infra/agent-pool.js';
import { AgentPool, MAX_AGENT_LIMIT, RELEASED_MEMORY } from '../workflows/agent-pool-state.js';
import { AGENT_TYPES } from '../workflows/types.js';
import { findBinary, MissingBinaryError } from '../infra/binaries.js';
import { startDevServer } from '../infra/dev-server.js';
import { LOCAL_DATABASE_URL, openStore } from '../infra/postgres.js';
import { createPoolWorker } from '../test/workflows/fixtures/pool-harness.js';
import { stopSignal } from '../test/workflows/fixtures/pool-requesters.js';
import { poolShards } from '../workflows/pool-shards.js';
import type { AgentType } from '../workflows/types.js';
import type {
  echoWorkflow,
  LoopInput,
  loopingPingWorkflow,
  loopingRequesterWorkflow,
} from './fixtures/pool-ceiling-workflows.js';
import { dropDatabase, loadLine, positiveInt, summarize } from './harness.js';

// A default import: @temporalio/proto is CommonJS, and Node's ESM loader (tsx) sees no named exports in it.
const EventType = proto.temporal.api.enums.v1.EventType;
const WorkflowTaskFailedCause = proto.temporal.api.enums.v1.WorkflowTaskFailedCause;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

const { values } = parseArgs({
  options: {
    requesters: { type: 'string', default: '50,200' },
    window: { type: 'string', default: '45' },
    warmup: { type: 'string', default: '15' },
    limit: { type: 'string' },
    'can-after': { type: 'string' },
    'per-run': { type: 'string', default: '100' },
    shards: { type: 'string', default: '1' },
  },
});
const SHARDS = positiveInt('shards', values.shards);
if (SHARDS > AGENT_TYPES.length) {
  throw new Error(
    `--shards ${SHARDS}: at most ${AGENT_TYPES.length}, one shard per agent type (${AGENT_TYPES.join(', ')})`,
  );
}
const SIZES = (values.requesters ?? '').split(',').map((r) => positiveInt('requesters', r.trim()));
const WINDOW_MS = positiveInt('window', values.window) * 1000;
const WARMUP_MS = positiveInt('warmup', values.warmup) * 1000;
const LIMIT = values.limit === undefined ? undefined : positiveInt('limit', values.limit);
const CAN_AFTER = values['can-after'] === undefined ? undefined : positiveInt('can-after', values['can-after']);
const PER_RUN = positiveInt('per-run', values['per-run']);
const CENTRAL_QUEUE = 'bench-pool-ceiling-central';
const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const CLOCK_TICKS_PER_SECOND = 100;
const LOOP_QUEUE = 'bench-pool-ceiling-loops';

/** What the central workflow's histories say about one window. */
interface Central {
  /** Rounds done: grants sent (pool) or pongs sent (echo). */
  rounds: number;
  signalsIn: number;
  releases: number;
  events: number;
  workflowTasks: number;
  /** Sum of scheduled → completed, and of started → completed, of its workflow tasks (ms). */
  outstandingMs: number;
  inWorkerMs: number;
  continuedAsNew: number;
  /** Per continue-as-new: the first workflow task told to continue as new → the run closed (ms). */
  continueAsNewMs: number[];
  /** Workflow tasks that failed, by cause (a continue-as-new refused because signals came in meanwhile, …). */
  failedWorkflowTasks: Map<string, number>;
  /** Runs whose history was read (the chain from the first run). */
  runs: number;
  /** Pool only: grants sent again by the next run after a continue-as-new (not counted as rounds). */
  resentGrants: number;
  /** Pool only: request received → grant sent, per request (ms), when the same run did both. */
  grantDelays: number[];
  /** The same for requests received by one run and granted by the next (carried across continue-as-new). */
  carriedGrantDelays: number[];
  /** Rounds the requesters did over the whole loop (warm-up included), from their results. */
  requesterRounds: number;
  /** CPU time used inside the window (ms): the central workflow's worker, the dev server, the requesters' worker. */
  cpu: Cpu;
}

interface Cpu {
  central: number;
  server: number;
  loops: number;
}

/** CPU time (user + system, ms) of a process, from /proc/<pid>/stat. */
function processCpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name, which is in parentheses and may hold spaces: utime and stime are 14 and 15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return ((Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND) * 1000;
}

/** The pid of the dev server this process started (a child whose command line is `temporal server start-dev …`). */
function devServerPid(): number {
  for (const task of readdirSync('/proc/self/task')) {
    const children = readFileSync(`/proc/self/task/${task}/children`, 'utf8').trim().split(' ').filter(Boolean);
    for (const pid of children) {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
      if (cmdline.includes('start-dev')) return Number(pid);
    }
  }
  throw new Error('the dev server is not among the child processes of this benchmark');
}

interface Probes {
  centralPid: number;
  serverPid: number;
}

function sampleCpu(probes: Probes): Cpu {
  const own = process.cpuUsage();
  return {
    central: processCpuMs(probes.centralPid),
    server: processCpuMs(probes.serverPid),
    loops: (own.user + own.system) / 1000,
  };
}

/** CPU used between the start and the end of the window, sampled by timers while the loops run. */
function cpuOverWindow(probes: Probes, start: number): Promise<Cpu> {
  return new Promise((resolve) => {
    setTimeout(
      () => {
        const from = sampleCpu(probes);
        setTimeout(
          () => {
            const to = sampleCpu(probes);
            resolve({
              central: to.central - from.central,
              server: to.server - from.server,
              loops: to.loops - from.loops,
            });
          },
          start + WARMUP_MS + WINDOW_MS - Date.now(),
        );
      },
      start + WARMUP_MS - Date.now(),
    );
  });
}

function ms(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  return ts ? Number(ts.seconds ?? 0) * 1000 + (ts.nanos ?? 0) / 1e6 : NaN;
}

function decode(payloads: Payload[] | null | undefined): unknown {
  const first = payloads?.[0];
  return first ? defaultPayloadConverter.fromPayload(first) : undefined;
}

/** Every run's events of `workflowId`, following continue-as-new from `firstRunId`. */
async function chainEvents(client: Client, workflowId: string, firstRunId: string): Promise<HistoryEvent[][]> {
  const runs: HistoryEvent[][] = [];
  for (let runId: string | undefined = firstRunId; runId;) {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    const events: HistoryEvent[] = history.events ?? [];
    runs.push(events);
    runId = events.at(-1)?.workflowExecutionContinuedAsNewEventAttributes?.newExecutionRunId ?? undefined;
  }
  return runs;
}

function countWindow(runs: HistoryEvent[][], from: number, to: number, roundSignal: string): Central {
  const out: Central = {
    rounds: 0,
    signalsIn: 0,
    releases: 0,
    events: 0,
    workflowTasks: 0,
    outstandingMs: 0,
    inWorkerMs: 0,
    continuedAsNew: 0,
    continueAsNewMs: [],
    failedWorkflowTasks: new Map(),
    runs: runs.length,
    resentGrants: 0,
    grantDelays: [],
    carriedGrantDelays: [],
    requesterRounds: 0,
    cpu: { central: 0, server: 0, loops: 0 },
  };
  const requested = new Map<string, { at: number; run: number }>();
  const granted = new Set<string>();
  for (const [run, events] of runs.entries()) {
    let scheduled = NaN;
    let started = NaN;
    let suggested = NaN;
    for (const event of events) {
      const at = ms(event.eventTime);
      const inWindow = at >= from && at < to;
      if (inWindow) out.events++;
      switch (event.eventType) {
        case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
          scheduled = at;
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED:
          started = at;
          // Told to continue as new: by the server, or (--can-after) by the history length the pool checks.
          if (
            Number.isNaN(suggested) &&
            (event.workflowTaskStartedEventAttributes?.suggestContinueAsNew ||
              (CAN_AFTER !== undefined && Number(event.eventId) >= CAN_AFTER))
          ) {
            suggested = at;
          }
          break;
        case EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
        case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
        case EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT:
          if (inWindow && event.eventType === EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED) {
            const code = event.workflowTaskFailedEventAttributes?.cause ?? 0;
            const cause = (WorkflowTaskFailedCause[code] ?? String(code)).replace(/^WORKFLOW_TASK_FAILED_CAUSE_/, '');
            out.failedWorkflowTasks.set(cause, (out.failedWorkflowTasks.get(cause) ?? 0) + 1);
          }
          if (inWindow) {
            out.workflowTasks++;
            // Clipped to the window, so the occupancy can never pass 100%.
            out.outstandingMs += at - Math.max(scheduled, from);
            out.inWorkerMs += at - Math.max(started, from);
          }
          break;
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED: {
          const attrs = event.workflowExecutionSignaledEventAttributes;
          if (attrs?.signalName === 'requestSlot') {
            const input = decode(attrs.input?.payloads) as { requestId?: string } | undefined;
            if (input?.requestId) requested.set(input.requestId, { at, run });
          }
          if (inWindow) {
            out.signalsIn++;
            if (attrs?.signalName === 'releaseSlot') out.releases++;
          }
          break;
        }
        case EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: {
          const attrs = event.signalExternalWorkflowExecutionInitiatedEventAttributes;
          if (attrs?.signalName !== roundSignal) break;
          if (roundSignal !== 'slotGranted') {
            if (inWindow) out.rounds++;
          } else {
            const requestId = (decode(attrs.input?.payloads) as { requestId?: string } | undefined)?.requestId;
            if (requestId === undefined) break;
            // A grant still in flight when the pool continued as new is sent again by the next run: one round.
            const first = !granted.has(requestId);
            granted.add(requestId);
            if (!inWindow) break;
            if (!first) {
              out.resentGrants++;
              break;
            }
            out.rounds++;
            const request = requested.get(requestId);
            if (request) (request.run === run ? out.grantDelays : out.carriedGrantDelays).push(at - request.at);
          }
          break;
        }
        case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
          if (inWindow) {
            out.continuedAsNew++;
            if (!Number.isNaN(suggested)) out.continueAsNewMs.push(at - suggested);
          }
          break;
        default:
          break;
      }
    }
  }
  return out;
}

interface Phase {
  client: Client;
  label: string;
  requesters: number;
  probes: Probes;
}

/** Start `n` loops of `workflowType` against `peerId`; resolves with the rounds each did once all are done. */
async function runLoops(
  phase: Phase,
  workflowType: 'loopingRequesterWorkflow' | 'loopingPingWorkflow',
  peerId: string,
  until: number,
  extra: (i: number) => Partial<LoopInput> = () => ({}),
): Promise<number> {
  const handles: Array<WorkflowHandle<typeof loopingRequesterWorkflow | typeof loopingPingWorkflow>> = [];
  for (let i = 0; i < phase.requesters; i += 25) {
    const batch = Array.from({ length: Math.min(25, phase.requesters - i) }, (_, j) =>
      phase.client.workflow.start<typeof loopingRequesterWorkflow>(workflowType, {
        taskQueue: LOOP_QUEUE,
        workflowId: `${phase.label}-loop-${i + j}`,
        args: [{ peerId, until, perRun: PER_RUN, ...extra(i + j) }],
      }),
    );
    handles.push(...(await Promise.all(batch)));
  }
  // A loop that never ends (a lost signal) fails the benchmark instead of hanging it.
  let timer: NodeJS.Timeout | undefined;
  const overdue = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`${phase.label}: the loops were not done 2 minutes after their deadline`)),
      until + 120_000 - Date.now(),
    );
  });
  try {
    const rounds = await Promise.race([Promise.all(handles.map((h) => h.result())), overdue]);
    return rounds.reduce((a, b) => a + b, 0);
  } finally {
    clearTimeout(timer);
  }
}

async function echoPhase(phase: Phase): Promise<Central> {
  const workflowId = `${phase.label}-echo`;
  const echo = await phase.client.workflow.start<typeof echoWorkflow>('echoWorkflow', {
    taskQueue: CENTRAL_QUEUE,
    workflowId,
    args: [[]],
  });
  const start = Date.now();
  const cpu = cpuOverWindow(phase.probes, start);
  const requesterRounds = await runLoops(phase, 'loopingPingWorkflow', workflowId, start + WARMUP_MS + WINDOW_MS);
  await phase.client.workflow.getHandle(workflowId).signal(stopSignal);
  await phase.client.workflow.getHandle(workflowId).result();
  const runs = await chainEvents(phase.client, workflowId, echo.firstExecutionRunId);
  return {
    ...countWindow(runs, start + WARMUP_MS, start + WARMUP_MS + WINDOW_MS, 'pong'),
    requesterRounds,
    cpu: await cpu,
  };
}

/** The pool in `shards` workflows (1: the unsharded pool, claude only); figures added up over them. */
async function poolPhase(phase: Phase, shards: number): Promise<Central> {
  const agents = AGENT_TYPES.slice(0, shards);
  const layout = { poolWorkflowId: `${phase.label}-pool`, agents, shards };
  const firstRuns = await Promise.all(
    poolShards(layout).map(async (shard) => {
      const agent = shard.agents[0] as AgentType;
      const pool = await ensureAgentPool(phase.client, {
        workflowId: shard.workflowId,
        taskQueue: CENTRAL_QUEUE,
        input: {
          agents: [agent],
          limits: { [agent]: LIMIT ?? phase.requesters },
          ...(CAN_AFTER !== undefined ? { continueAsNewAfterEvents: CAN_AFTER } : {}),
        },
      });
      return { workflowId: shard.workflowId, runId: (await pool.describe()).runId };
    }),
  );
  const start = Date.now();
  const cpu = cpuOverWindow(phase.probes, start);
  const requesterRounds = await runLoops(
    phase,
    'loopingRequesterWorkflow',
    layout.poolWorkflowId,
    start + WARMUP_MS + WINDOW_MS,
    (i) => (shards > 1 ? { agent: agents[i % shards], sharding: { agents, shards } } : {}),
  );
  const counted: Central[] = [];
  for (const { workflowId, runId } of firstRuns) {
    await phase.client.workflow.getHandle(workflowId).terminate('benchmark done');
    const runs = await chainEvents(phase.client, workflowId, runId);
    counted.push(countWindow(runs, start + WARMUP_MS, start + WARMUP_MS + WINDOW_MS, 'slotGranted'));
  }
  return { ...addUp(counted), requesterRounds, cpu: await cpu };
}

/** The figures of several central workflows (the shards) together. */
function addUp(list: Central[]): Central {
  const [first, ...rest] = list as [Central, ...Central[]];
  const total: Central = { ...first, failedWorkflowTasks: new Map(first.failedWorkflowTasks) };
  for (const c of rest) {
    total.rounds += c.rounds;
    total.signalsIn += c.signalsIn;
    total.releases += c.releases;
    total.events += c.events;
    total.workflowTasks += c.workflowTasks;
    total.outstandingMs += c.outstandingMs;
    total.inWorkerMs += c.inWorkerMs;
    total.continuedAsNew += c.continuedAsNew;
    total.continueAsNewMs = [...total.continueAsNewMs, ...c.continueAsNewMs];
    for (const [cause, n] of c.failedWorkflowTasks) {
      total.failedWorkflowTasks.set(cause, (total.failedWorkflowTasks.get(cause) ?? 0) + n);
    }
    total.runs += c.runs;
    total.resentGrants += c.resentGrants;
    total.grantDelays = [...total.grantDelays, ...c.grantDelays];
    total.carriedGrantDelays = [...total.carriedGrantDelays, ...c.carriedGrantDelays];
  }
  return total;
}

function row(label: string, requesters: number, c: Central): string {
  const seconds = WINDOW_MS / 1000;
  const perRound = (v: number) => v / Math.max(c.rounds, 1);
  const cells = [
    String(requesters),
    (c.rounds / seconds).toFixed(1),
    ((c.rounds + c.releases) / seconds).toFixed(1),
    (c.signalsIn / seconds).toFixed(1),
    perRound(c.events).toFixed(2),
    perRound(c.workflowTasks).toFixed(2),
    (c.signalsIn / Math.max(c.workflowTasks, 1)).toFixed(1),
    `${((c.outstandingMs / WINDOW_MS) * 100).toFixed(0)}%`,
    `${((c.inWorkerMs / WINDOW_MS) * 100).toFixed(0)}%`,
    ((c.continuedAsNew / seconds) * 60).toFixed(1),
    perRound(c.cpu.central).toFixed(2),
    perRound(c.cpu.server).toFixed(2),
    perRound(c.cpu.loops).toFixed(2),
  ];
  return `${label.padEnd(26)} ${cells.map((cell, i) => cell.padStart(WIDTHS[i] ?? 8)).join(' ')}`;
}

const HEADERS = [
  'R',
  'rounds/s',
  'grants+rel/s',
  'signals in/s',
  'events/round',
  'WTs/round',
  'signals/WT',
  'WT out',
  'in worker',
  'CAN/min',
  'CPU central',
  'CPU server',
  'CPU loops',
];
const WIDTHS = HEADERS.map((h) => Math.max(h.length, 6));

/** Temporal refuses a payload larger than this (the server's default blob size limit). */
const PAYLOAD_LIMIT = 2 * 1024 * 1024;

/**
 * What continue-as-new carries per slot holder: the pool's own model (agent-pool-state.ts) with every
 * agent at its highest limit, every slot held by a task-shaped requester, and a full memory of
 * released request ids; the JSON the compact snapshot becomes (what runs with the
 * `pool-compact-snapshot` patch carry), minus the same pool with no holders.
 */
function snapshotBytes(): { holders: number; bytes: number; perHolder: number } {
  const fill = (holders: number): number => {
    const pool = new AgentPool({
      agents: AGENT_TYPES,
      limits: Object.fromEntries(AGENT_TYPES.map((a) => [a, MAX_AGENT_LIMIT])),
      clock: () => Date.now(),
      eventIdPrefix: `agent-pool:${randomUUID()}`,
    });
    const request = (i: number) => {
      const workflowId = `task-t-${i.toString(16).padStart(10, '0')}`;
      const runId = randomUUID();
      const requestId = `${workflowId}/${runId}/1`;
      pool.request({
        requestId,
        workflowId,
        runId,
        agent: AGENT_TYPES[i % AGENT_TYPES.length] ?? 'claude',
        taskId: workflowId.slice(5),
      });
      return requestId;
    };
    for (let i = 0; i < RELEASED_MEMORY; i++) pool.release({ requestId: request(i), report: { kind: 'success' } });
    for (let i = 0; i < holders; i++) request(RELEASED_MEMORY + i);
    for (const { id } of pool.takeMessages()) pool.delivered(id);
    return Buffer.byteLength(JSON.stringify(pool.compactSnapshot()));
  };
  const holders = AGENT_TYPES.length * MAX_AGENT_LIMIT;
  const bytes = fill(holders);
  return { holders, bytes, perHolder: (bytes - fill(0)) / holders };
}

interface CentralWorker {
  pid: number;
  stop(): Promise<void>;
}

/** bench/fixtures/central-worker.ts in a process of its own; resolves once it polls. */
async function startCentralWorker(env: Record<string, string>): Promise<CentralWorker> {
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', path.join(ROOT, 'bench', 'fixtures', 'central-worker.ts')],
    { cwd: ROOT, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'inherit'] },
  );
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`the central worker exited (${String(code)}) before it was ready`)));
    child.stdout?.on('data', (chunk: Buffer) => {
      if (chunk.toString().includes('ready')) resolve();
    });
  });
  return {
    pid: child.pid as number,
    async stop() {
      if (child.exitCode !== null) return;
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      await exited;
      clearTimeout(timer);
    },
  };
}

async function main(): Promise<void> {
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const binary = findBinary('temporal', process.env.TEMPORAL_CLI_PATH);
  if (!binary) throw new MissingBinaryError('temporal', 'TEMPORAL_CLI_PATH');
  const scratch = new URL(process.env.DATABASE_URL ?? LOCAL_DATABASE_URL);
  scratch.pathname = `/claudomator_bench_ceiling_${process.pid}`;
  const scratchDir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-bench-ceiling-'));
  const bundlePath = path.join(scratchDir, 'bundle.js');
  const quietLogger = { trace() {}, debug() {}, info() {}, warn() {}, error: console.error, log() {} };
  const [server, bundle, store] = await Promise.all([
    startDevServer({ binary }),
    bundleWorkflowCode({
      workflowsPath: path.join(ROOT, 'bench', 'fixtures', 'pool-ceiling-workflows.ts'),
      logger: quietLogger,
    }),
    openStore(scratch.toString()),
  ]);
  await writeFile(bundlePath, bundle.code);
  const connection = await Connection.connect({ address: server.address });
  const nativeConnection = await NativeConnection.connect({ address: server.address });
  const client = new Client({ connection, namespace: server.namespace });
  const results: Array<{ requesters: number; echo: Central; pool: Central; sharded?: Central }> = [];
  let central: CentralWorker | undefined;
  try {
    central = await startCentralWorker({
      BENCH_TEMPORAL_ADDRESS: server.address,
      BENCH_NAMESPACE: server.namespace,
      BENCH_DATABASE_URL: scratch.toString(),
      BENCH_BUNDLE: bundlePath,
      BENCH_TASK_QUEUE: CENTRAL_QUEUE,
    });
    const probes = { centralPid: central.pid, serverPid: devServerPid() };
    const loops = await createPoolWorker({
      connection: nativeConnection,
      namespace: server.namespace,
      taskQueue: LOOP_QUEUE,
      bundle,
      store,
    });
    await loops.runUntil(async () => {
      for (const requesters of SIZES) {
        const echo = await echoPhase({ client, label: `echo-${requesters}`, requesters, probes });
        const pool = await poolPhase({ client, label: `pool-${requesters}`, requesters, probes }, 1);
        const sharded =
          SHARDS > 1
            ? await poolPhase({ client, label: `shards-${requesters}`, requesters, probes }, SHARDS)
            : undefined;
        results.push({ requesters, echo, pool, ...(sharded ? { sharded } : {}) });
        console.error(`… ${requesters} requesters measured`);
      }
    });
  } finally {
    await central?.stop();
    await nativeConnection.close();
    await connection.close();
    await server.stop();
    await store.close();
    await dropDatabase(scratch.toString());
    await rm(scratchDir, { recursive: true, force: true });
  }

  const seconds = WINDOW_MS / 1000;
  console.log(
    `\none central workflow, R workflows looping at it with no pause; ${seconds} s window after ${WARMUP_MS / 1000} s ` +
      `of warm-up; counted from the central workflow's histories (server timestamps)\n`,
  );
  console.log(`${''.padEnd(26)} ${HEADERS.map((h, i) => h.padStart(WIDTHS[i] ?? 8)).join(' ')}`);
  for (const r of results) {
    console.log(row('baseline: echo ping→pong', r.requesters, r.echo));
    console.log(row('pool: acquire→release', r.requesters, r.pool));
    if (r.sharded) console.log(row(`pool: ${SHARDS} shards`, r.requesters, r.sharded));
  }
  console.log(
    '\n(rounds: pongs or grants sent; grants+rel: grants sent + releases received; WT out: share of the window the ' +
      'central workflow had a workflow task scheduled or running; in worker: started → completed; CPU: ms of CPU per ' +
      "round of the central workflow's worker process, of the dev server, and of the requesters' worker)",
  );
  for (const r of results) {
    const p = r.pool;
    const delay = summarize(p.grantDelays);
    const carried = summarize(p.carriedGrantDelays);
    const can = summarize(p.continueAsNewMs);
    const failed = [...p.failedWorkflowTasks].map(([cause, n]) => `${n} ${cause}`).join(', ') || 'none';
    const grantsPerSecond = p.rounds / seconds;
    const cpuCeiling = 1000 / (p.cpu.central / Math.max(p.rounds, 1));
    console.log(
      `\n${r.requesters} requesters: pool/baseline rounds ${(p.rounds / Math.max(r.echo.rounds, 1)).toFixed(2)}×, ` +
        `CPU of the central worker per round ${(p.cpu.central / Math.max(p.rounds, 1) / (r.echo.cpu.central / Math.max(r.echo.rounds, 1))).toFixed(2)}×`,
    );
    console.log(
      `  request received → grant sent: p50 ${delay.p50.toFixed(0)} ms, p95 ${delay.p95.toFixed(0)} ms (${delay.n} in one run); ` +
        `carried across continue-as-new: ${carried.n === 0 ? 'none' : `p50 ${carried.p50.toFixed(0)} ms, max ${carried.max.toFixed(0)} ms (${carried.n})`}`,
    );
    console.log(
      `  ${p.runs} pool runs, ${p.continuedAsNew} continue-as-new in the window (${(p.rounds / Math.max(p.continuedAsNew, 1)).toFixed(0)} grants per run), ` +
        `told → done p50 ${can.n === 0 ? '-' : `${can.p50.toFixed(0)} ms, max ${can.max.toFixed(0)} ms`}; ` +
        `${p.resentGrants} grants resent by the next run; failed workflow tasks: ${failed}`,
    );
    console.log(
      `  measured: ${grantsPerSecond.toFixed(1)} grants/s keep ${(grantsPerSecond * 300).toFixed(0)} slots busy with ` +
        `5-minute runs, ${(grantsPerSecond * 1800).toFixed(0)} with 30-minute runs (10,000 slots with 5-minute runs need 33.3 grants/s)`,
    );
    console.log(
      `  one core for the pool's worker alone: ${cpuCeiling.toFixed(0)} grants/s at its CPU per grant ` +
        `(${(cpuCeiling * 300).toFixed(0)} slots at 5 min, ${(cpuCeiling * 1800).toFixed(0)} at 30 min)`,
    );
  }
  for (const r of results) {
    const s = r.sharded;
    if (!s) continue;
    const one = r.pool;
    const perSecond = (n: number) => n / seconds;
    console.log(
      `\n${r.requesters} requesters, ${SHARDS} shards together vs one pool in this run: ` +
        `${perSecond(s.rounds).toFixed(1)} vs ${perSecond(one.rounds).toFixed(1)} grants/s ` +
        `(${(s.rounds / Math.max(one.rounds, 1)).toFixed(2)}×), grants + releases ${perSecond(s.rounds + s.releases).toFixed(1)} vs ` +
        `${perSecond(one.rounds + one.releases).toFixed(1)}/s; history events per grant ${(s.events / Math.max(s.rounds, 1)).toFixed(2)} vs ` +
        `${(one.events / Math.max(one.rounds, 1)).toFixed(2)}; continue-as-new ${((s.continuedAsNew / seconds) * 60).toFixed(1)} vs ` +
        `${((one.continuedAsNew / seconds) * 60).toFixed(1)} per minute (all shards); CPU per grant: dev server ` +
        `${(s.cpu.server / Math.max(s.rounds, 1)).toFixed(1)} vs ${(one.cpu.server / Math.max(one.rounds, 1)).toFixed(1)} ms`,
    );
    console.log(
      `  the ${SHARDS} shards keep ${(perSecond(s.rounds) * 300).toFixed(0)} slots busy with 5-minute runs ` +
        `(one pool: ${(perSecond(one.rounds) * 300).toFixed(0)}; 10,000 need 33.3 grants/s)`,
    );
  }
  const snapshot = snapshotBytes();
  console.log(
    `\ncontinue-as-new input with ${snapshot.holders} slots held (every agent at its limit of ${MAX_AGENT_LIMIT}): ` +
      `${(snapshot.bytes / 1024).toFixed(0)} kB, ${snapshot.perHolder.toFixed(0)} bytes per holder; a payload over ` +
      `${PAYLOAD_LIMIT / 1024 / 1024} MB is refused: one pool could carry about ${Math.floor(PAYLOAD_LIMIT / snapshot.perHolder)} holders`,
  );
  console.log(loadLine());
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
