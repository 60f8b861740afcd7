/**
 * The orchestration role as an AWS Lambda handler, for Temporal Serverless Workers: Temporal
 * invokes the function when this build's orchestration queue has work and no worker polls it. Each
 * invocation runs one worker — the workflows and the store/git bookkeeping activities, exactly what
 * `claudomator worker --role orchestration` runs (`orchestrationWork` in worker/factory.ts), with
 * the Lambda-tuned worker options of @temporalio/lambda-worker — until shortly before the
 * invocation's deadline, then stops gracefully. Agent runs never come here: they go to the agent
 * queue, which only the long-lived agent hosts poll.
 *
 * The invocation's life is written here rather than taken from the package's `runWorker`: in
 * 1.23.0 that measures the polling window before it connects and creates the worker, so their time
 * (1–5 s on a cold or busy environment) comes out of the margin kept for stopping, and an
 * invocation can overrun its deadline. Here the window is measured once the worker exists.
 *
 * Configuration is every worker's (infra/config.ts), read once per execution environment, plus:
 * - CLAUDOMATOR_BUILD_ID is required: Serverless Workers are always versioned. The deployment
 *   version is CLAUDOMATOR_DEPLOYMENT_NAME / CLAUDOMATOR_BUILD_ID, the default behaviour PINNED,
 *   as for every orchestration worker (docs/decisions/worker-versioning.md).
 * - DATABASE_URL is required (no local or embedded fallback in a Lambda); migrations are a deploy
 *   step (`claudomator migrate`), never an invocation's.
 * - The Temporal connection comes from @temporalio/envconfig, as for every worker (infra/temporal.ts):
 *   TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, TEMPORAL_API_KEY (or TLS), or a TOML profile
 *   (TEMPORAL_CONFIG_FILE, e.g. /var/task/temporal.toml).
 * - CLAUDOMATOR_SHUTDOWN_GRACE bounds how long running activities may finish once the worker
 *   stops; the worker stops that long (plus margins for cancelling and closing) before the deadline.
 * - The workflow bundle is prebuilt (`npm run build` → dist/workflow-bundle.js, or
 *   CLAUDOMATOR_WORKFLOW_BUNDLE): bundling at a cold start would take seconds.
 *
 * The function's entry is worker/lambda.ts (handler string `dist/worker/lambda.handler`), deployed
 * by infra/serverless/lambda (docs/deploy.md).
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Context } from 'aws-lambda';
import type { LambdaHandler } from '@temporalio/lambda-worker';
import { LAMBDA_WORKER_DEFAULTS } from '@temporalio/lambda-worker/lib/defaults';
import { Worker } from '@temporalio/worker';
import { ConfigError, loadConfig, type Config, type ConfigProblem } from '../infra/config.js';
import { connectWorkerConnection } from '../infra/temporal.js';
import { Store } from '../store/index.js';
import { prebuiltWorkflowBundle } from './bundle.js';
import { DEFAULT_VERSIONING_BEHAVIOR, deploymentVersion, orchestrationWork } from './factory.js';
import { installRuntime, workerLogger } from './runtime.js';

/** After the grace, cancelled activities get this long to settle before the worker gives up on them. */
const FORCE_MARGIN_MS = 2_000;
/** Closing the Temporal connection and the database pool, and returning, before the deadline. */
const CLOSE_MARGIN_MS = 2_000;
/** The shortest polling window worth an invocation (the package's own minimum). */
export const MIN_WORK_MS = 1_000;

export interface LambdaTiming {
  /** Running activities' time to finish once the worker stops (CLAUDOMATOR_SHUTDOWN_GRACE). */
  shutdownGraceMs: number;
  /** When the worker gives up on a graceful stop. */
  shutdownForceMs: number;
  /** How long before the invocation's deadline the worker stops polling. */
  stopBeforeDeadlineMs: number;
}

export function lambdaTiming(config: Pick<Config, 'shutdownGraceMs'>): LambdaTiming {
  const shutdownForceMs = config.shutdownGraceMs + FORCE_MARGIN_MS;
  return {
    shutdownGraceMs: config.shutdownGraceMs,
    shutdownForceMs,
    stopBeforeDeadlineMs: shutdownForceMs + CLOSE_MARGIN_MS,
  };
}

export type LambdaConfig = Readonly<Config> & { databaseUrl: string; buildId: string };

/** The worker configuration plus what a Lambda requires; one ConfigError listing every problem. */
export function loadLambdaConfig(env?: Parameters<typeof loadConfig>[0]): LambdaConfig {
  const problems: ConfigProblem[] = [];
  let config: Readonly<Config> | undefined;
  try {
    config = loadConfig(env);
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    problems.push(...err.problems);
  }
  if (config?.workerRole === 'agents') {
    problems.push({
      variable: 'CLAUDOMATOR_WORKER_ROLE',
      expected: 'orchestration or unset (the Lambda handler runs the orchestration role; agents need long-lived hosts)',
      got: config.workerRole,
    });
  }
  if (config && !config.buildId) {
    problems.push({
      variable: 'CLAUDOMATOR_BUILD_ID',
      expected: 'the build id of this function version (Serverless Workers are always versioned)',
    });
  }
  if (config && !config.databaseUrl) {
    problems.push({ variable: 'DATABASE_URL', expected: 'the postgres:// URL of claudomator’s database' });
  }
  if (problems.length > 0 || !config?.buildId || !config.databaseUrl) throw new ConfigError(problems);
  return config as LambdaConfig;
}

/**
 * The Lambda handler for `env`. Validates the configuration, finds the workflow bundle and installs
 * the Temporal runtime at once (so a bad deployment fails at init, naming what to fix); connects
 * per invocation. Call it once per process: it installs the process's Temporal runtime.
 */
export function createLambdaHandler(env?: Parameters<typeof loadConfig>[0]): LambdaHandler {
  const config = loadLambdaConfig(env);
  const { bundle } = prebuiltWorkflowBundle(config.workflowBundlePath);
  const timing = lambdaTiming(config);
  const version = deploymentVersion(config)!;
  installRuntime(config);
  const logger = workerLogger();
  const activitySlots = LAMBDA_WORKER_DEFAULTS.maxConcurrentActivityTaskExecutions ?? 2;

  return async (_event: unknown, context: Context): Promise<void> => {
    const remainingMs = context.getRemainingTimeInMillis();
    if (remainingMs - timing.stopBeforeDeadlineMs < MIN_WORK_MS) {
      throw new Error(
        `Invocation ${context.awsRequestId} has ${remainingMs}ms left, but the worker must stop ` +
          `${timing.stopBeforeDeadlineMs}ms before the deadline (CLAUDOMATOR_SHUTDOWN_GRACE ` +
          `${timing.shutdownGraceMs}ms + margins): raise the function's timeout or lower CLAUDOMATOR_SHUTDOWN_GRACE.`,
      );
    }
    const started = Date.now();
    logger.info('Lambda invocation started', {
      requestId: context.awsRequestId,
      remainingMs,
      taskQueue: config.taskQueue,
      ...version,
    });
    // A pool per invocation: between invocations the execution environment is frozen, and idle
    // connections kept across a freeze come back dead.
    const store = await Store.connect(config.databaseUrl, { max: activitySlots });
    try {
      const connection = await connectWorkerConnection(config).catch((err: unknown) => {
        throw new Error(
          `Cannot reach Temporal at ${config.temporal.address} (namespace ${config.temporal.namespace}): ` +
            `${err instanceof Error ? err.message : String(err)}. Check TEMPORAL_ADDRESS, TEMPORAL_API_KEY and the ` +
            'route from the function to Temporal (a NAT gateway when the function runs in a VPC).',
          { cause: err },
        );
      });
      try {
        const worker = await Worker.create({
          // Few pollers and slots, a small workflow cache: one invocation is one small worker, and
          // Temporal invokes more when the backlog grows.
          ...LAMBDA_WORKER_DEFAULTS,
          ...orchestrationWork({ config, store, workflowBundle: bundle }),
          connection,
          namespace: config.temporal.namespace,
          identity: `${context.awsRequestId}@${context.invokedFunctionArn}`,
          shutdownGraceTime: timing.shutdownGraceMs,
          shutdownForceTime: timing.shutdownForceMs,
          workerDeploymentOptions: {
            version,
            useWorkerVersioning: true,
            defaultVersioningBehavior: DEFAULT_VERSIONING_BEHAVIOR,
          },
        });
        // Measured now that the worker exists, so connecting and creating it never eat the stop's margin.
        const pollMs = context.getRemainingTimeInMillis() - timing.stopBeforeDeadlineMs;
        if (pollMs < MIN_WORK_MS) {
          logger.warn('Lambda invocation: starting the worker left no time to poll', {
            requestId: context.awsRequestId,
            startedInMs: Date.now() - started,
          });
        }
        await worker.runUntil(sleep(Math.max(0, pollMs)));
      } finally {
        await connection.close();
      }
    } finally {
      await store.close();
    }
    logger.info('Lambda invocation finished', {
      requestId: context.awsRequestId,
      ranMs: Date.now() - started,
      remainingMs: context.getRemainingTimeInMillis(),
    });
  };
}
