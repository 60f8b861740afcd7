/**
 * What the task-workflow benchmarks share: a private Temporal dev server (in memory) and a scratch
 * Postgres database, a claudomator configuration pointing at the fake agent CLIs, the production
 * workers started in this process (worker/factory.ts, as `claudomator worker` creates them), the
 * SDK client, and readers of server timestamps from workflow histories. Everything real but the
 * model behind the agents; everything torn down and dropped at the end.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, realpath, rm, symlink } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { Client, Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { NativeConnection, Worker } from '@temporalio/worker';
import pg from 'pg';
import { ClaudomatorClient } from '../client/index.js';
import { findBinary, MissingBinaryError } from '../infra/binaries.js';
import { loadConfig, type Config, type WorkerRole } from '../infra/config.js';
import { freePort, startDevServer, type DevServer } from '../infra/dev-server.js';
import { LOCAL_DATABASE_URL, openStore } from '../infra/postgres.js';
import type { Store } from '../store/index.js';
import { buildWorkflowBundle } from '../worker/bundle.js';
import { createWorkers, runsOrchestration, type CreatedWorker } from '../worker/factory.js';
import { installRuntime } from '../worker/runtime.js';
import { fakeAgentEnv } from '../test/helpers/fake-agent.js';

// A default import: @temporalio/proto is CommonJS, and Node's ESM loader (tsx) sees no named exports in it.
const EventType = proto.temporal.api.enums.v1.EventType;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

export interface BenchEnvironment {
  server: DevServer;
  /** The environment a worker of this bench gets (also for a worker in another process). */
  env: Record<string, string>;
  config: Readonly<Config>;
  temporal: Client;
  client: ClaudomatorClient;
  store: Store;
  databaseUrl: string;
  /** The prebuilt workflow bundle (CLAUDOMATOR_WORKFLOW_BUNDLE). */
  bundlePath: string;
  /**
   * Close the SDK's database connections (the client can no longer read or submit). A closed
   * connection flushes its Postgres statistics at once; an idle one may hold them for 10 s.
   */
  closeStore(): Promise<void>;
  /** Close connections, stop the server, drop the database, remove the scratch dir. */
  stop(): Promise<void>;
}

/**
 * A dev server, a scratch database (created and migrated), the workflow bundle built once, and a
 * configuration whose agent binaries are the fakes; `env` adds to or overrides the variables.
 */
export async function startBenchEnvironment(
  label: string,
  env: Record<string, string> = {},
): Promise<BenchEnvironment> {
  const binary = findBinary('temporal', process.env.TEMPORAL_CLI_PATH);
  if (!binary) throw new MissingBinaryError('temporal', 'TEMPORAL_CLI_PATH');
  const scratch = await mkdtemp(path.join(os.tmpdir(), `claudomator-bench-${label}-`));
  const database = new URL(process.env.DATABASE_URL ?? LOCAL_DATABASE_URL);
  database.pathname = `/claudomator_bench_${label.replace(/\W/g, '_')}_${process.pid}`;
  const databaseUrl = database.toString();
  const stateDir = path.join(scratch, 'fake-agent-state');
  const bundlePath = path.join(scratch, 'workflow-bundle.js');

  const [server, store] = await Promise.all([
    startDevServer({ binary }),
    openStore(databaseUrl),
    buildWorkflowBundle(bundlePath),
  ]);
  const fullEnv: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? os.homedir(),
    TEMPORAL_ADDRESS: server.address,
    TEMPORAL_NAMESPACE: server.namespace,
    DATABASE_URL: databaseUrl,
    CLAUDOMATOR_DATA_DIR: path.join(scratch, 'data'),
    CLAUDOMATOR_TASK_QUEUE: `bench-${label}`,
    CLAUDOMATOR_AGENT_TASK_QUEUE: `bench-${label}-agents`,
    CLAUDOMATOR_POOL_WORKFLOW_ID: `bench-${label}-pool`,
    CLAUDOMATOR_HOST_ID: 'bench-host',
    CLAUDOMATOR_WORKFLOW_BUNDLE: bundlePath,
    CLAUDOMATOR_LOG_LEVEL: 'WARN',
    ...fakeAgentEnv(stateDir),
    ...env,
  };
  const config = loadConfig(fullEnv);
  // The bench process's own runtime: warnings only, so figures are not lost among log lines.
  installRuntime(config);
  const connection = await Connection.connect({ address: server.address });
  const temporal = new Client({ connection, namespace: server.namespace });
  const client = new ClaudomatorClient(temporal, store, config);
  let storeOpen = true;
  const closeStore = async (): Promise<void> => {
    if (!storeOpen) return;
    storeOpen = false;
    await store.close();
  };

  return {
    server,
    env: fullEnv,
    config,
    temporal,
    client,
    store,
    databaseUrl,
    bundlePath,
    closeStore,
    async stop() {
      await connection.close().catch(() => undefined);
      await closeStore().catch(() => undefined);
      await server.stop();
      await dropDatabase(databaseUrl);
      await rm(scratch, { recursive: true, force: true });
    },
  };
}

export interface InProcessWorkers {
  workers: CreatedWorker[];
  /** Stop polling, let running activities finish, wait for every worker to end. */
  stop(): Promise<void>;
}

/**
 * The production workers of a role (default `all`: orchestration, agent queue, host queue) in this
 * process, on their own connection and store, as `claudomator worker` creates them.
 */
export async function startWorkersInProcess(
  bench: BenchEnvironment,
  role: WorkerRole = 'all',
): Promise<InProcessWorkers> {
  const connection = await NativeConnection.connect({ address: bench.server.address });
  const store = await openStore(bench.databaseUrl);
  const workers = await createWorkers({
    role,
    config: bench.config,
    connection,
    store,
    ...(runsOrchestration(role) ? { workflowBundle: { codePath: bench.bundlePath } } : {}),
  });
  const runs = workers.map(({ worker }) => worker.run());
  return {
    workers,
    async stop() {
      for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      const results = await Promise.allSettled(runs);
      await store.close();
      await connection.close();
      for (const r of results) if (r.status === 'rejected') throw r.reason;
    },
  };
}

export interface WorkerProcess {
  child: ChildProcess;
  pid: number;
  healthPort: number;
  metricsPort: number;
  /** The end of its stderr, for the error when it dies. */
  stderrTail(): string;
}

const ROOT = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');

/**
 * The production worker entry (`worker/main.ts`, or with `dist` the built `dist/worker/main.js`) with
 * `role`, in a process of its own, with health and metrics ports; resolves once /readyz says so.
 * `root` is the checkout whose entry runs (default this one).
 */
export async function startWorkerProcess(
  env: Record<string, string>,
  options: { role: WorkerRole; dist?: boolean; root?: string },
): Promise<WorkerProcess> {
  const root = options.root ?? ROOT;
  const [healthPort, metricsPort] = [await freePort(), await freePort()];
  const args = options.dist
    ? [path.join(root, 'dist', 'worker', 'main.js')]
    : ['--import', 'tsx', path.join(root, 'worker', 'main.ts')];
  const child = spawn(process.execPath, args, {
    cwd: root,
    env: {
      ...env,
      CLAUDOMATOR_WORKER_ROLE: options.role,
      CLAUDOMATOR_HEALTH_PORT: String(healthPort),
      CLAUDOMATOR_METRICS_PORT: String(metricsPort),
    },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let tail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    tail = (tail + chunk.toString()).slice(-4000);
  });
  const worker = { child, pid: child.pid!, healthPort, metricsPort, stderrTail: () => tail };
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the worker exited (${child.exitCode}) before it was ready:\n${tail}`);
    const ready = await fetch(`http://127.0.0.1:${healthPort}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return worker;
    if (Date.now() > deadline) throw new Error(`the worker was not ready within 120 s:\n${tail}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}

/** SIGTERM (the worker drains as in production), SIGKILL after 30 s. */
export async function stopWorkerProcess(worker: WorkerProcess): Promise<void> {
  if (worker.child.exitCode !== null) return;
  const exited = new Promise((resolve) => worker.child.once('exit', resolve));
  worker.child.kill('SIGTERM');
  const timer = setTimeout(() => worker.child.kill('SIGKILL'), 30_000);
  await exited;
  clearTimeout(timer);
}

const execFileAsync = promisify(execFile);

/** Another version of claudomator on the bench's server and database (`startBaselineCode`). */
export interface BaselineCode {
  /** The git ref as given, and the commit it named. */
  ref: string;
  commit: string;
  /** Its configuration: task queues, pool and host of its own. */
  config: Readonly<Config>;
  /** The SDK on this bench's connections, submitting to its task queue. */
  client: ClaudomatorClient;
  /** Stop its worker and remove its checkout. */
  stop(): Promise<void>;
}

/**
 * The code at git `ref`, for a before/after in one run (`--baseline <ref>`): checked out with `git
 * worktree add --detach` into a scratch directory (node_modules and .tools linked from this checkout),
 * its production worker (role `all`, bundling its own workflows at start) in a process of its own, on
 * task queues, an agent pool and a host id of its own, against this bench's dev server and database.
 * Both versions must accept the database's schema (no migration in between).
 */
export async function startBaselineCode(bench: BenchEnvironment, ref: string): Promise<BaselineCode> {
  const commit = (
    await execFileAsync('git', ['rev-parse', '--verify', `${ref}^{commit}`], { cwd: ROOT })
  ).stdout.trim();
  const dir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-baseline-'));
  const remove = async (): Promise<void> => {
    await execFileAsync('git', ['worktree', 'remove', '--force', dir], { cwd: ROOT }).catch(() => undefined);
    await rm(dir, { recursive: true, force: true });
  };
  try {
    await execFileAsync('git', ['worktree', 'add', '--detach', '--quiet', dir, commit], { cwd: ROOT });
    for (const shared of ['node_modules', '.tools']) {
      const target = path.join(ROOT, shared);
      if (existsSync(target)) await symlink(await realpath(target), path.join(dir, shared));
    }
    const queue = bench.env.CLAUDOMATOR_TASK_QUEUE ?? 'bench';
    const { CLAUDOMATOR_WORKFLOW_BUNDLE: _ours, ...rest } = bench.env;
    const env: Record<string, string> = {
      ...rest,
      CLAUDOMATOR_TASK_QUEUE: `${queue}-baseline`,
      CLAUDOMATOR_AGENT_TASK_QUEUE: `${queue}-baseline-agents`,
      CLAUDOMATOR_POOL_WORKFLOW_ID: `${queue}-baseline-pool`,
      CLAUDOMATOR_HOST_ID: 'bench-baseline-host',
      CLAUDOMATOR_DATA_DIR: `${bench.env.CLAUDOMATOR_DATA_DIR ?? path.join(os.tmpdir(), 'claudomator-bench')}-baseline`,
    };
    const worker = await startWorkerProcess(env, { role: 'all', root: dir });
    const config = loadConfig(env);
    return {
      ref,
      commit,
      config,
      client: new ClaudomatorClient(bench.temporal, bench.store, config),
      async stop() {
        await stopWorkerProcess(worker);
        await remove();
      },
    };
  } catch (err) {
    await remove();
    throw err;
  }
}

/** Drop a scratch database (closing whatever is still connected to it). */
export async function dropDatabase(url: string): Promise<void> {
  const admin = new URL(url);
  const name = admin.pathname.slice(1);
  admin.pathname = '/postgres';
  const db = new pg.Client({ connectionString: admin.toString() });
  await db.connect();
  try {
    await db.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
  } finally {
    await db.end();
  }
}

// ---- Histories ------------------------------------------------------------------------------------

/** Server timestamps of one workflow run, read from its history (epoch ms). */
export interface RunTimes {
  /** WorkflowExecutionStarted. */
  started: number;
  /** The closing event (completed, failed, cancelled, …); NaN while open. */
  closed: number;
  /** Activities by type, in schedule order: scheduled, started (picked up by a worker), closed. */
  activities: Array<{ type: string; scheduled: number; started: number; closed: number }>;
  /** Workflow tasks: scheduled, started (picked up by a worker), completed (or failed, timed out). */
  workflowTasks: Array<{ scheduled: number; started: number; completed: number }>;
  /** Signals received, in order. */
  signals: Array<{ name: string; at: number }>;
  /** Signals sent (initiated), in order. */
  signalsSent: Array<{ name: string; target: string; at: number }>;
}

export async function runTimes(temporal: Client, workflowId: string): Promise<RunTimes> {
  const history = await temporal.workflow.getHandle(workflowId).fetchHistory();
  return timesOf(history.events ?? []);
}

function timesOf(events: HistoryEvent[]): RunTimes {
  const out: RunTimes = {
    started: NaN,
    closed: NaN,
    activities: [],
    workflowTasks: [],
    signals: [],
    signalsSent: [],
  };
  const byScheduledId = new Map<number, RunTimes['activities'][number]>();
  for (const event of events) {
    const at = timestampMs(event.eventTime);
    switch (event.eventType) {
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
        out.started = at;
        break;
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
        out.closed = at;
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_SCHEDULED:
        out.workflowTasks.push({ scheduled: at, started: NaN, completed: NaN });
        break;
      case EventType.EVENT_TYPE_WORKFLOW_TASK_STARTED: {
        const task = out.workflowTasks.at(-1);
        if (task) task.started = at;
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED:
      case EventType.EVENT_TYPE_WORKFLOW_TASK_FAILED:
      case EventType.EVENT_TYPE_WORKFLOW_TASK_TIMED_OUT: {
        const task = out.workflowTasks.at(-1);
        if (task) task.completed = at;
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED: {
        const activity = {
          type: event.activityTaskScheduledEventAttributes?.activityType?.name ?? '',
          scheduled: at,
          started: NaN,
          closed: NaN,
        };
        byScheduledId.set(Number(event.eventId), activity);
        out.activities.push(activity);
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED: {
        const activity = byScheduledId.get(Number(event.activityTaskStartedEventAttributes?.scheduledEventId));
        if (activity) activity.started = at;
        break;
      }
      case EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
      case EventType.EVENT_TYPE_ACTIVITY_TASK_FAILED:
      case EventType.EVENT_TYPE_ACTIVITY_TASK_TIMED_OUT:
      case EventType.EVENT_TYPE_ACTIVITY_TASK_CANCELED: {
        const attrs =
          event.activityTaskCompletedEventAttributes ??
          event.activityTaskFailedEventAttributes ??
          event.activityTaskTimedOutEventAttributes ??
          event.activityTaskCanceledEventAttributes;
        const activity = byScheduledId.get(Number(attrs?.scheduledEventId));
        if (activity) activity.closed = at;
        break;
      }
      case EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED:
        out.signals.push({ name: event.workflowExecutionSignaledEventAttributes?.signalName ?? '', at });
        break;
      case EventType.EVENT_TYPE_SIGNAL_EXTERNAL_WORKFLOW_EXECUTION_INITIATED: {
        const attrs = event.signalExternalWorkflowExecutionInitiatedEventAttributes;
        out.signalsSent.push({
          name: attrs?.signalName ?? '',
          target: attrs?.workflowExecution?.workflowId ?? '',
          at,
        });
        break;
      }
      default:
        break;
    }
  }
  return out;
}

function timestampMs(ts: { seconds?: unknown; nanos?: number | null } | null | undefined): number {
  if (!ts) return NaN;
  return Number(ts.seconds ?? 0) * 1000 + (ts.nanos ?? 0) / 1e6;
}

/** The one activity of `type` in `times`; an error naming the workflow if it is missing or unfinished. */
export function activityOf(times: RunTimes, type: string, workflowId: string): RunTimes['activities'][number] {
  const found = times.activities.filter((a) => a.type === type);
  const activity = found[0];
  if (found.length !== 1 || !activity || Number.isNaN(activity.closed)) {
    throw new Error(`${workflowId}: expected one finished ${type} activity, found ${found.length}`);
  }
  return activity;
}

/**
 * How long workflow tasks waited for a worker (scheduled → started) and how long workers took with
 * them (started → completed), over `runs`: the unit cost of every step a workflow takes, which on a
 * busy machine is most of what the benchmarks measure.
 */
export function workflowTaskLine(label: string, runs: RunTimes[]): string {
  const tasks = runs.flatMap((r) => r.workflowTasks).filter((t) => !Number.isNaN(t.completed));
  const dispatch = summarize(tasks.map((t) => t.started - t.scheduled));
  const work = summarize(tasks.map((t) => t.completed - t.started));
  return (
    `${label}: ${tasks.length} workflow tasks, waiting for a worker p50 ${dispatch.p50.toFixed(1)} ms (p95 ${dispatch.p95.toFixed(1)}), ` +
    `in the worker p50 ${work.p50.toFixed(1)} ms (p95 ${work.p95.toFixed(1)})`
  );
}

// ---- Workflow task dispatch ----------------------------------------------------------------------

/**
 * One fresh worker with no claudomator code runs a workflow of `activities` no-op activities in
 * sequence, `runs` times one after another; returns how long each workflow task waited for it
 * (schedule → start, server timestamps): those of its first workflow and those of the later ones.
 */
export async function dispatchWaits(options: {
  connection: NativeConnection;
  client: Client;
  namespace: string;
  taskQueue: string;
  runs: number;
  activities: number;
}): Promise<{ first: number[]; later: number[] }> {
  const worker = await Worker.create({
    connection: options.connection,
    namespace: options.namespace,
    taskQueue: options.taskQueue,
    workflowsPath: new URL('./fixtures/activity-loop-workflow.ts', import.meta.url).pathname,
    activities: { noop: async () => {} },
  });
  const first: number[] = [];
  const later: number[] = [];
  await worker.runUntil(async () => {
    for (let run = 0; run < options.runs; run++) {
      const workflowId = `${options.taskQueue}-${run}`;
      await options.client.workflow.execute('activityLoopWorkflow', {
        taskQueue: options.taskQueue,
        workflowId,
        args: [options.activities],
      });
      const waits = (await runTimes(options.client, workflowId)).workflowTasks.map((t) => t.started - t.scheduled);
      (run === 0 ? first : later).push(...waits);
    }
  });
  return { first, later };
}

// ---- Figures -----------------------------------------------------------------------------------

export interface Summary {
  n: number;
  p50: number;
  p95: number;
  mean: number;
  max: number;
}

export function summarize(values: number[]): Summary {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN;
  return {
    n: sorted.length,
    p50: at(0.5),
    p95: at(0.95),
    mean: sorted.reduce((s, v) => s + v, 0) / sorted.length,
    max: sorted.at(-1) ?? NaN,
  };
}

const LABEL_WIDTH = 44;

/** The header of a p50/p95/mean/max/n table. */
export function summaryHeader(): string {
  const cols = ['p50', 'p95', 'mean', 'max'].map((c) => c.padStart(8)).join(' ');
  return `${''.padEnd(LABEL_WIDTH)} ${cols} ${'n'.padStart(6)}`;
}

/** One row of that table (ms). */
export function summaryRow(label: string, s: Summary): string {
  const cols = [s.p50, s.p95, s.mean, s.max].map((v) => v.toFixed(1).padStart(8)).join(' ');
  return `${label.padEnd(LABEL_WIDTH)} ${cols} ${String(s.n).padStart(6)}`;
}

export const MB = 1024 * 1024;

/** The 1, 5 and 15 minute load averages, for the line every benchmark prints with its figures. */
export function loadLine(): string {
  const [one, five, fifteen] = os.loadavg().map((l) => l.toFixed(1));
  return `load average ${one} / ${five} / ${fifteen} (1 / 5 / 15 min) on ${os.cpus().length} cores`;
}

/** A positive integer flag, or an error naming it. */
export function positiveInt(name: string, raw: string | undefined): number {
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 1) {
    throw new Error(`--${name} must be a positive integer, got "${raw}"`);
  }
  return value;
}
