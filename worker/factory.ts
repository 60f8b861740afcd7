/**
 * The one factory behind every worker process: which Temporal workers a role runs, on which task
 * queues, with which activities. Orchestration polls the orchestration queue with the workflows and
 * the store/git/bookkeeping activities; an agent host polls the shared agent queue and its own
 * host queue (resumes go there: the sandbox and the agent's session files live on this host) with
 * the agent-run activities; `all` is both, in one process (the local default). With
 * CLAUDOMATOR_HOST_MAX_RUNS the two agent workers share one limit of runs (host-run-limit.ts).
 */
import type { VersioningBehavior, WorkerDeploymentVersion } from '@temporalio/common';
import { Worker, type NativeConnection, type WorkerOptions, type WorkflowBundleOption } from '@temporalio/worker';
import { createAgentHostActivities, createOrchestrationActivities } from '../activities/index.js';
import { claudomatorDataConverter } from '../infra/codec.js';
import type { Config, WorkerRole } from '../infra/config.js';
import type { Store } from '../store/index.js';
import { hostTaskQueue } from '../workflows/definitions.js';
import { holdingHostPermit, HostRunLimit } from './host-run-limit.js';

export type WorkerKind = 'orchestration' | 'agents' | 'host';

export interface PlannedWorker {
  kind: WorkerKind;
  taskQueue: string;
}

/** The workers a role runs, in start order. */
export function workerPlan(
  role: WorkerRole,
  config: Pick<Config, 'taskQueue' | 'agentTaskQueue' | 'hostId'>,
): PlannedWorker[] {
  const orchestration: PlannedWorker[] = [{ kind: 'orchestration', taskQueue: config.taskQueue }];
  const agents: PlannedWorker[] = [
    { kind: 'agents', taskQueue: config.agentTaskQueue },
    { kind: 'host', taskQueue: hostTaskQueue(config.agentTaskQueue, config.hostId) },
  ];
  switch (role) {
    case 'orchestration':
      return orchestration;
    case 'agents':
      return agents;
    case 'all':
      return [...orchestration, ...agents];
  }
}

/** True when the role runs workflows (and so needs the bundle and owns migrations). */
export function runsOrchestration(role: WorkerRole): boolean {
  return role !== 'agents';
}

/** True when the role runs agents (and so owns the host's sandboxes and agent processes). */
export function runsAgents(role: WorkerRole): boolean {
  return role !== 'orchestration';
}

/**
 * The versioning behaviour of workflows that declare none: `taskWorkflow`, `storyWorkflow` and
 * `healthCheckWorkflow` finish on the build they started on; the agent pool is started
 * AUTO_UPGRADE instead (docs/decisions/worker-versioning.md).
 */
export const DEFAULT_VERSIONING_BEHAVIOR: VersioningBehavior = 'PINNED';

/** This build's Worker Deployment Version; undefined when versioning is off (no CLAUDOMATOR_BUILD_ID). */
export function deploymentVersion(
  config: Pick<Config, 'deploymentName' | 'buildId'>,
): WorkerDeploymentVersion | undefined {
  return config.buildId ? { deploymentName: config.deploymentName, buildId: config.buildId } : undefined;
}

/**
 * What an orchestration worker polls and runs, and how it reads and writes payloads (infra/codec.ts),
 * wherever it runs: a long-lived process (`createWorkers`) or one AWS Lambda invocation (worker/lambda.ts).
 */
export function orchestrationWork(deps: {
  config: Readonly<Config>;
  store: Store;
  workflowBundle: WorkflowBundleOption;
}): Required<Pick<WorkerOptions, 'taskQueue' | 'workflowBundle' | 'activities' | 'dataConverter'>> {
  return {
    taskQueue: deps.config.taskQueue,
    workflowBundle: deps.workflowBundle,
    activities: createOrchestrationActivities({ store: deps.store, config: deps.config }),
    dataConverter: claudomatorDataConverter(deps.config),
  };
}

export interface WorkerDeps {
  role: WorkerRole;
  config: Readonly<Config>;
  connection: NativeConnection;
  store: Store;
  /** Required when the role runs orchestration. */
  workflowBundle?: WorkflowBundleOption;
}

export interface CreatedWorker extends PlannedWorker {
  worker: Worker;
}

export async function createWorkers(deps: WorkerDeps): Promise<CreatedWorker[]> {
  const { config } = deps;
  const activityDeps = { store: deps.store, config };
  const common: Omit<WorkerOptions, 'taskQueue'> = {
    connection: deps.connection,
    namespace: config.temporal.namespace,
    identity: `${process.pid}@${config.hostId}`,
    // Payload encryption and encoded failure messages (infra/codec.ts); the bundle has the same failure converter.
    dataConverter: claudomatorDataConverter(config),
    // Running activities get this long to finish (agent runs checkpoint their session when told to
    // stop); then they are cancelled. The force time bounds the whole shutdown.
    shutdownGraceTime: config.shutdownGraceMs,
    shutdownForceTime: config.shutdownGraceMs + 10_000,
  };
  // Only orchestration workers are versioned: agent hosts keep their sandboxes and sessions on their
  // own volumes, so they roll in place, unversioned (docs/decisions/worker-versioning.md).
  const version = deploymentVersion(config);
  const versioning: Pick<WorkerOptions, 'workerDeploymentOptions'> = version
    ? {
        workerDeploymentOptions: {
          version,
          useWorkerVersioning: true,
          defaultVersioningBehavior: DEFAULT_VERSIONING_BEHAVIOR,
        },
      }
    : {};
  const hostLimit = config.hostMaxRuns === undefined ? undefined : new HostRunLimit(config.hostMaxRuns);
  const created: CreatedWorker[] = [];
  for (const planned of workerPlan(deps.role, config)) {
    let options: WorkerOptions;
    if (planned.kind === 'orchestration') {
      if (!deps.workflowBundle) throw new Error('an orchestration worker needs the workflow bundle');
      options = {
        ...common,
        ...versioning,
        ...orchestrationWork({ config, store: deps.store, workflowBundle: deps.workflowBundle }),
        // Tasks blocked on a question or a dependency can wait for days: past this many, the least recently
        // used leave memory and replay their (short) history when a signal wakes them.
        maxCachedWorkflows: config.maxCachedWorkflows,
      };
    } else {
      const activities = createAgentHostActivities(activityDeps);
      options = {
        ...common,
        taskQueue: planned.taskQueue,
        activities,
        // A cancel reaches a running activity with the answer to its next heartbeat: send them at least
        // every few seconds, so `task cancel` kills an agent in seconds, not at 0.8 × the heartbeat timeout.
        maxHeartbeatThrottleInterval: '3 seconds',
      };
      if (hostLimit && planned.kind === 'agents') {
        // The shared queue: a permit before each poll, one poll at a time (host-run-limit.ts says why).
        options.maxConcurrentActivityTaskPolls = 1;
        options.tuner = {
          activityTaskSlotSupplier: hostLimit.slotSupplier(),
          workflowTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
          localActivityTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
          nexusTaskSlotSupplier: { type: 'fixed-size', numSlots: 1 },
        };
      } else if (hostLimit) {
        // The host's own queue: its agent runs (resumes) take a permit in the activity.
        options.activities = { ...activities, runAgent: holdingHostPermit(hostLimit, activities.runAgent) };
      }
    }
    created.push({ ...planned, worker: await Worker.create(options) });
  }
  return created;
}
