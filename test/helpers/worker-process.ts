/**
 * Worker processes for crash and shutdown tests: `claudomator worker --role …` as real subprocesses (the
 * CLI under tsx, one node process each, so a signal reaches the worker itself), pointed at the fake agent
 * CLIs and at queues, a pool and a fake-agent state dir of the test's own. A test can SIGKILL or SIGTERM
 * one and start another, and drive the tasks through the SDK in its own process.
 *
 * A host is a host id plus a data dir: two workers of one host share the sandboxes and the agents'
 * session files (a worker restarted on the same machine); another host has its own (another machine,
 * where a session of the first is unknown: the fakes keep sessions per working directory, as the real
 * CLIs do).
 */
import path from 'node:path';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { ClaudomatorClient } from '../../client/index.js';
import { loadConfig, type Config, type WorkerRole } from '../../infra/config.js';
import type { Store } from '../../store/index.js';
import { cliEnv, startCli, waitForOutput, type CliEnv, type CliProcess } from '../e2e/cli-process.js';
import { fakeAgentEnv, processesWith, tempDir } from './fake-agent.js';
import { uniqueName } from './temporal.js';

export interface Host {
  id: string;
  dataDir: string;
}

export interface WorkerProcess {
  role: WorkerRole;
  host: Host;
  pid: number;
  process: CliProcess;
}

export interface Deployment {
  name: string;
  /** The environment every worker (and CLI call) of this deployment gets, before the host's part. */
  env: CliEnv;
  /** The configuration the SDK client submits with (its heartbeat and host timeouts go into each task). */
  config: Readonly<Config>;
  client: ClaudomatorClient;
  /** Where the fakes record their calls (shared by all hosts). */
  stateDir: string;
  /** A host with its own data dir. */
  host(id: string): Host;
  /** Start `claudomator worker --role <role>` as `host` (with `env` on top); resolves once it polls. */
  start(role: WorkerRole, host: Host, env?: CliEnv): Promise<WorkerProcess>;
  /** The environment of a CLI call as `host`. */
  envOf(host: Host): CliEnv;
  /** SIGKILL what is still running (workers, and fake agents they left behind), remove the dirs. */
  stop(): Promise<void>;
}

export async function startDeployment(
  env: TestWorkflowEnvironment,
  store: Store,
  options: { databaseUrl: string; label?: string; env?: CliEnv },
): Promise<Deployment> {
  const name = uniqueName(options.label);
  const scratch = tempDir('crash');
  const stateDir = path.join(scratch.dir, 'fake-agent-state');
  const base = await cliEnv({
    databaseUrl: options.databaseUrl,
    queue: name,
    extra: {
      CLAUDOMATOR_POOL_WORKFLOW_ID: `${name}-pool`,
      ...fakeAgentEnv(stateDir),
      ...options.env,
    },
  });
  const config = loadConfig(base);
  const client = new ClaudomatorClient(env.client, store, config);
  const started: WorkerProcess[] = [];
  const hosts = new Map<string, Host>();

  const envOf = (host: Host): CliEnv => ({ ...base, CLAUDOMATOR_HOST_ID: host.id, CLAUDOMATOR_DATA_DIR: host.dataDir });

  return {
    name,
    env: base,
    config,
    client,
    stateDir,
    host(id) {
      let host = hosts.get(id);
      if (!host) {
        host = { id, dataDir: path.join(scratch.dir, `host-${id}`) };
        hosts.set(id, host);
      }
      return host;
    },
    envOf,
    async start(role, host, env = {}) {
      const child = startCli(['worker', '--role', role], { ...envOf(host), ...env });
      const worker: WorkerProcess = { role, host, pid: child.pid!, process: child };
      started.push(worker);
      await waitForOutput(child, /Worker started/);
      return worker;
    },
    async stop() {
      for (const w of started) w.process.kill('SIGKILL');
      await Promise.allSettled(started.map((w) => w.process));
      for (const pid of processesWith(`FAKE_AGENT_STATE_DIR=${stateDir}`)) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          // Gone meanwhile.
        }
      }
      scratch.remove();
    },
  };
}
