/**
 * The local stack behind `claudomator up` (and the demo): a Temporal dev server with its Web UI and
 * claudomator's search attributes, the database (see infra/postgres.ts), migrations, and a worker,
 * all in this process and its children, stopped in reverse order.
 *
 * Payloads are encrypted (infra/codec.ts): without a configured key the stack creates one in the data
 * dir on first run; a codec server on 127.0.0.1 lets the dev server's Web UI show them decrypted.
 *
 * A Temporal server that already answers on the configured address is reused (its search
 * attributes are registered if missing). Otherwise, when the address is local, the Temporal CLI's
 * dev server starts with its state in `<dataDir>/temporal/dev-server.db`, so workflows survive a
 * restart; without a `temporal` binary, the SDK's own download of it is tried, which needs network
 * access to temporal.download.
 */
import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { findBinary, MissingBinaryError } from '../infra/binaries.js';
import { createPayloadCodec, encryptionActive, ensureLocalKey } from '../infra/codec.js';
import { startCodecServer } from '../infra/codec-server.js';
import type { Config, WorkerRole } from '../infra/config.js';
import { startDevServer } from '../infra/dev-server.js';
import { portAnswers } from '../infra/net.js';
import { resolveDatabase, type DatabaseSource } from '../infra/postgres.js';
import { registerSearchAttributes } from '../infra/temporal.js';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions.js';
import { startWorker, type WorkerProcess } from './run.js';
import { installRuntime } from './runtime.js';

export const DEFAULT_UI_PORT = 8233;

export interface StackOptions {
  /** Web UI port of a dev server started here (default 8233). */
  uiPort?: number;
  /** What the worker runs (default all). */
  role?: WorkerRole;
  /** Progress lines for a person. */
  log?: (line: string) => void;
  /** Aborting while the stack starts tears down what has started and rejects. */
  signal?: AbortSignal;
}

export interface Stack {
  /** The configuration the stack runs with: the Temporal address and database URL it settled on. */
  config: Readonly<Config>;
  temporal: {
    address: string;
    namespace: string;
    /** How the server came to be: started from the temporal CLI, from the SDK's download, or reused. */
    origin: 'temporal-cli' | 'sdk-download' | 'existing';
    uiUrl: string;
    /** The codec server the Web UI decrypts payloads through (a dev server started here is told); undefined: encryption off. */
    codecEndpoint: string | undefined;
  };
  database: { source: DatabaseSource; description: string };
  worker: WorkerProcess;
  /** Settles when the worker has stopped (after `stop()`, or when it failed). */
  done: Promise<void>;
  /** Stop the worker gracefully, then the database and the dev server this stack started. Idempotent. */
  stop(): Promise<void>;
}

export class StackStartAbortedError extends Error {
  override readonly name = 'StackStartAbortedError';
  constructor() {
    super('Stopped while starting');
  }
}

export async function startStack(configured: Readonly<Config>, options: StackOptions = {}): Promise<Stack> {
  const log = options.log ?? (() => undefined);
  const teardown: Array<() => Promise<void>> = [];
  const unwind = async (): Promise<void> => {
    for (const fn of teardown.reverse()) await fn().catch(() => undefined);
    teardown.length = 0;
  };
  const checkAborted = (): void => {
    if (options.signal?.aborted) throw new StackStartAbortedError();
  };
  // Before anything touches Temporal's native runtime (the SDK download path does).
  installRuntime(configured);

  try {
    const { config, created } = await ensureLocalKey(configured);
    if (created) log(`encryption: created the payload key in ${created} (keep it: histories need it to be read)`);
    const uiPort = options.uiPort ?? DEFAULT_UI_PORT;
    let codecEndpoint: string | undefined;
    if (encryptionActive(config)) {
      const codecServer = await startCodecServer({
        codec: createPayloadCodec(config),
        origins: [
          `http://localhost:${uiPort}`,
          `http://127.0.0.1:${uiPort}`,
          config.uiUrl,
          ...config.codecServer.origins,
        ],
        namespace: config.temporal.namespace,
      });
      teardown.push(() => codecServer.close());
      codecEndpoint = codecServer.url;
      log(`encryption: payloads encrypted with key ${config.encryption.keys[0]!.id}; codec server ${codecEndpoint}`);
    }
    const temporal = await ensureTemporal(config, uiPort, log, codecEndpoint);
    teardown.push(() => temporal.stop());
    checkAborted();

    const database = await resolveDatabase(config, { longLived: true, log });
    teardown.push(() => database.close());
    log(`database: ${database.description}`);
    checkAborted();

    const effective: Readonly<Config> = Object.freeze({
      ...config,
      databaseUrl: database.url,
      uiUrl: temporal.uiUrl,
      temporal: {
        ...config.temporal,
        address: temporal.address,
        connection: { ...config.temporal.connection, address: temporal.address },
      },
    });
    const worker = await startWorker(effective, { role: options.role ?? 'all', log });
    const workerStopped = worker.done.then(
      () => undefined,
      () => undefined,
    );
    teardown.push(async () => {
      worker.shutdown();
      await workerStopped;
    });
    checkAborted();

    let stopped: Promise<void> | undefined;
    return {
      config: effective,
      temporal: {
        address: temporal.address,
        namespace: config.temporal.namespace,
        origin: temporal.origin,
        uiUrl: temporal.uiUrl,
        codecEndpoint,
      },
      database: { source: database.source, description: database.description },
      worker,
      done: worker.done,
      stop() {
        stopped ??= unwind();
        return stopped;
      },
    };
  } catch (err) {
    await unwind();
    throw err;
  }
}

interface TemporalServer {
  address: string;
  origin: Stack['temporal']['origin'];
  uiUrl: string;
  stop(): Promise<void>;
}

async function ensureTemporal(
  config: Readonly<Config>,
  uiPort: number,
  log: (line: string) => void,
  codecEndpoint: string | undefined,
): Promise<TemporalServer> {
  const { address, namespace } = config.temporal;
  const { host, port } = splitAddress(address);

  if (await portAnswers(host, port)) {
    const connection = await Connection.connect({ ...config.temporal.connection, connectTimeout: 5_000 });
    try {
      await connection.workflowService.describeNamespace({ namespace }).catch((err: unknown) => {
        throw new Error(
          `Temporal at ${address} answers but has no namespace "${namespace}" (${errorMessage(err)}). ` +
            `Create it (temporal operator namespace create --namespace ${namespace}) or set TEMPORAL_NAMESPACE.`,
        );
      });
      const added = await registerSearchAttributes(connection, namespace).catch((err: unknown) => {
        log(
          `warning: could not register search attributes on ${address} (${errorMessage(err)}); run claudomator temporal setup`,
        );
        return [];
      });
      if (added.length > 0) log(`registered search attributes: ${added.join(', ')}`);
    } finally {
      await connection.close();
    }
    log(`temporal: using the server that answers on ${address}`);
    if (codecEndpoint) log(`temporal: to see decrypted payloads, set its Web UI's codec endpoint to ${codecEndpoint}`);
    return { address, origin: 'existing', uiUrl: config.uiUrl, stop: () => Promise.resolve() };
  }

  if (!isLocalHost(host)) {
    throw new Error(
      `Temporal at ${address} does not answer. claudomator up starts a dev server only for a local address; ` +
        'check TEMPORAL_ADDRESS, or unset it to run one on localhost:7233.',
    );
  }

  const dbFilename = path.join(config.dataDir, 'temporal', 'dev-server.db');
  await mkdir(path.dirname(dbFilename), { recursive: true });
  const ip = host === 'localhost' ? '127.0.0.1' : host;
  const uiUrl = `http://localhost:${uiPort}`;
  const binary = findBinary('temporal', config.temporalCliPath);
  if (binary) {
    log(`temporal: starting the dev server (${binary}) on ${ip}:${port}, state in ${dbFilename}`);
    const server = await startDevServer({
      binary,
      ip,
      port,
      uiPort,
      dbFilename,
      namespace,
      logLevel: 'error',
      ...(codecEndpoint ? { uiCodecEndpoint: codecEndpoint } : {}),
    });
    return { address: server.address, origin: 'temporal-cli', uiUrl, stop: () => server.stop() };
  }

  log('temporal: no temporal CLI found; trying the SDK download of the dev server (needs network access)');
  const testing = await import('@temporalio/testing').catch(() => undefined);
  if (!testing) throw new MissingBinaryError('temporal', 'TEMPORAL_CLI_PATH');
  try {
    const env = await testing.TestWorkflowEnvironment.createLocal({
      server: {
        executable: { type: 'cached-download', downloadDir: path.join(config.dataDir, 'temporal', 'cli') },
        ip,
        port,
        ui: true,
        uiPort,
        dbFilename,
        namespace,
        searchAttributes: [...SEARCH_ATTRIBUTES],
        log: { format: 'pretty', level: 'error' },
        ...(codecEndpoint ? { extraArgs: ['--ui-codec-endpoint', codecEndpoint] } : {}),
      },
    });
    return { address: `${ip}:${port}`, origin: 'sdk-download', uiUrl, stop: () => env.teardown() };
  } catch (err) {
    throw new Error(
      `Could not download the Temporal dev server (${errorMessage(err)}). ` +
        'Run `bash scripts/install-tools.sh` (installs the temporal CLI into .tools/), put temporal on PATH, ' +
        'or set TEMPORAL_CLI_PATH.',
      { cause: err },
    );
  }
}

export function splitAddress(address: string): { host: string; port: number } {
  const match = /^\[?([^\]]+?)\]?:(\d+)$/.exec(address);
  if (!match) return { host: address, port: 7233 };
  return { host: match[1]!, port: Number(match[2]) };
}

function isLocalHost(host: string): boolean {
  return ['localhost', '127.0.0.1', '0.0.0.0', '::1'].includes(host);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
