/**
 * A worker process's life: connect (database, Temporal), create the role's workers, run them until
 * asked to stop, then close everything in reverse order. Used by `claudomator worker`,
 * `claudomator up` (through worker/stack.ts) and `worker/main.ts`.
 *
 * Stopping is a drain: each worker stops polling (no new task, no new run), lets running activities
 * finish for the shutdown grace (`CLAUDOMATOR_SHUTDOWN_GRACE`), then cancels what is still running
 * (agent runs checkpoint their session in a heartbeat when cancelled, so the retry on another worker
 * resumes it). Agent hosts that must never cut a run set the grace to the longest run timeout (the
 * manifests do: docs/deploy.md, "Scale-in and rollouts").
 */
import type { Logger, NativeConnection } from '@temporalio/worker';
import type { Config, WorkerRole } from '../infra/config.js';
import { openStore, resolveDatabase, type ResolvedDatabase } from '../infra/postgres.js';
import { connectClient, connectWorkerConnection } from '../infra/temporal.js';
import { ensureAgentPools } from '../infra/agent-pool.js';
import { Store } from '../store/index.js';
import { loadWorkflowBundle } from './bundle.js';
import { killOrphanedRuns } from '../activities/process-tree.js';
import { createWorkers, runsAgents, runsOrchestration, type CreatedWorker } from './factory.js';
import { checkReadiness, startHealthServer, type HealthServer } from './health-server.js';
import { agentUserProblems } from './agent-user.js';
import { ecsTaskProtection } from './task-protection.js';
import { installRuntime, workerLogger } from './runtime.js';

export interface WorkerProcess {
  role: WorkerRole;
  workers: CreatedWorker[];
  database: ResolvedDatabase;
  healthPort: number | undefined;
  /** Where the workflow code came from (orchestration roles). */
  bundleSource: string | undefined;
  /** Resolves when every worker stopped and everything is closed; rejects when a worker failed. */
  done: Promise<void>;
  /** Ask every worker to stop gracefully; `done` settles when they have. Idempotent. */
  shutdown(): void;
}

/** Start the role's workers; returns once they run. */
export async function startWorker(
  config: Readonly<Config>,
  options: { role?: WorkerRole; log?: (line: string) => void } = {},
): Promise<WorkerProcess> {
  const role = options.role ?? config.workerRole;
  installRuntime(config);
  const logger = workerLogger();
  const cleanup: Array<() => Promise<void>> = [];
  const closeAll = async (): Promise<void> => {
    for (const fn of cleanup.reverse()) await fn().catch((err: unknown) => logCloseError(logger, err));
    cleanup.length = 0;
  };

  try {
    const bundle = runsOrchestration(role) ? await loadWorkflowBundle(config.workflowBundlePath) : undefined;
    const database = await resolveDatabase(config, { longLived: true, ...(options.log ? { log: options.log } : {}) });
    cleanup.push(() => database.close());
    // The orchestration role owns migrations; agent hosts only read and write what exists.
    const store = runsOrchestration(role) ? await openStore(database.url) : await Store.connect(database.url);
    cleanup.push(() => store.close());
    const connection: NativeConnection = await connectWorkerConnection(config).catch((err: unknown) => {
      throw new Error(
        `Cannot reach Temporal at ${config.temporal.address} (namespace ${config.temporal.namespace}): ` +
          `${err instanceof Error ? err.message : String(err)}. Start the local stack with \`claudomator up\`, ` +
          'or point TEMPORAL_ADDRESS at your server.',
        { cause: err },
      );
    });
    cleanup.push(() => connection.close());
    const workers = await createWorkers({
      role,
      config,
      connection,
      store,
      ...(bundle ? { workflowBundle: bundle.bundle } : {}),
    });

    let health: HealthServer | undefined;
    if (config.healthPort) {
      health = await startHealthServer(config.healthPort, () => checkReadiness(workers, store));
      const server = health;
      cleanup.push(() => server.close());
    }

    if (runsAgents(role) && config.agentUser) {
      const { problems, warnings } = await agentUserProblems(config.agentUser, config.dataDir);
      if (problems.length > 0)
        throw new Error(`Agents cannot run under their own uid:\n  - ${problems.join('\n  - ')}`);
      for (const warning of warnings) logger.warn('Agent user', { warning });
    }
    // Dedicated agent hosts only: a laptop running every role stops whenever its owner likes.
    if (role === 'agents' && config.shutdownGraceMs < config.defaultTimeoutMs) {
      logger.warn('A stop interrupts agent runs longer than the shutdown grace; they resume from a checkpoint', {
        shutdownGrace: `${config.shutdownGraceMs} ms (CLAUDOMATOR_SHUTDOWN_GRACE)`,
        defaultTimeout: `${config.defaultTimeoutMs} ms (CLAUDOMATOR_DEFAULT_TIMEOUT)`,
      });
    }

    if (runsAgents(role)) {
      // A worker killed outright (SIGKILL, OOM) could not stop its agents, and a run that is cancelled or
      // retried on another host meanwhile never comes back here to end them: do it before taking work.
      // Only processes are touched; the runs themselves are Temporal's to retry.
      const orphans = await killOrphanedRuns(config.hostId, 5_000);
      if (orphans.length > 0)
        logger.warn('Killed agent processes left by a dead worker', { host: config.hostId, pids: orphans });
    }

    if (runsAgents(role) && config.ecsAgentUri) {
      // On ECS a task with runs in flight is protected from scale-in and deployments (worker/task-protection.ts).
      const protection = ecsTaskProtection(config.ecsAgentUri, config.defaultTimeoutMs + 10 * 60_000, logger);
      const inFlight = new Map<string, number>();
      for (const { kind, taskQueue, worker } of workers) {
        if (kind === 'orchestration') continue;
        const subscription = worker.numInFlightActivities$.subscribe((n) => {
          inFlight.set(taskQueue, n);
          protection.update([...inFlight.values()].reduce((a, b) => a + b, 0));
        });
        cleanup.push(() => Promise.resolve(subscription.unsubscribe()));
      }
      cleanup.push(() => protection.stop());
    }

    let draining = false;
    const shutdown = (): void => {
      if (!draining) {
        draining = true;
        logger.info('Draining: no new work; running activities get the shutdown grace', {
          role,
          shutdownGraceMs: config.shutdownGraceMs,
          running: workers.reduce((n, { worker }) => n + worker.getStatus().numInFlightActivities, 0),
        });
      }
      for (const { worker } of workers) {
        if (worker.getState() === 'RUNNING') worker.shutdown();
      }
    };
    const runs = workers.map(({ worker }) =>
      worker.run().catch((err: unknown) => {
        // One worker failing takes the process down with it: a half-working process would look healthy.
        shutdown();
        throw err;
      }),
    );
    const done = Promise.allSettled(runs).then(async (results) => {
      await closeAll();
      const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failure) throw failure.reason;
      logger.info('Worker stopped', { role });
    });

    // The pool would also start on the first slot request; starting it here lets `claudomator agents`
    // answer before any task ran. Not fatal: a task starts it on demand.
    if (runsOrchestration(role)) {
      await ensurePool(config).catch((err: unknown) => {
        logger.warn('Agent pool not started', { error: err instanceof Error ? err.message : String(err) });
      });
    }

    logger.info('Worker started', {
      role,
      taskQueues: workers.map((w) => w.taskQueue),
      namespace: config.temporal.namespace,
      database: database.description,
      ...(bundle ? { workflowBundle: bundle.source } : {}),
      ...(config.buildId ? { deploymentName: config.deploymentName, buildId: config.buildId } : {}),
    });
    return {
      role,
      workers,
      database,
      healthPort: health?.port,
      bundleSource: bundle?.source,
      done,
      shutdown,
    };
  } catch (err) {
    await closeAll();
    throw err;
  }
}

async function ensurePool(config: Readonly<Config>): Promise<void> {
  const client = await connectClient(config);
  try {
    await ensureAgentPools(client, config);
  } finally {
    await client.connection.close();
  }
}

/** Run a worker process until SIGINT/SIGTERM (graceful) or a second signal (immediate exit). */
export async function runWorkerUntilSignal(config: Readonly<Config>, role?: WorkerRole): Promise<void> {
  const stop = stopSignal();
  if (stop.aborted) return;
  const running = await startWorker(config, role ? { role } : {});
  stop.addEventListener('abort', () => running.shutdown(), { once: true });
  if (stop.aborted) running.shutdown();
  await running.done;
}

/**
 * An AbortSignal that fires on the first SIGINT or SIGTERM. A second signal exits at once with
 * status 1, for an operator who does not want to wait for the grace period.
 */
export function stopSignal(): AbortSignal {
  const controller = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    if (!controller.signal.aborted) {
      controller.abort(signal);
      return;
    }
    process.exit(1);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  return controller.signal;
}

function logCloseError(logger: Logger, err: unknown): void {
  logger.warn('Error while closing', { error: err instanceof Error ? err.message : String(err) });
}
