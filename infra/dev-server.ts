/**
 * Starts the Temporal CLI's dev server (`temporal server start-dev`) with claudomator's search
 * attributes registered, and waits until it answers. Used by `claudomator up`/`demo` and by the
 * test harness, so both run against the same kind of server.
 */
import net from 'node:net';
import { Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
import { execa, type ResultPromise } from 'execa';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions.js';

export interface DevServerOptions {
  /** Path of the `temporal` binary (see infra/binaries.ts). */
  binary: string;
  ip?: string;
  /** gRPC port; 0 or absent picks a free one. */
  port?: number;
  /** Web UI port; absent: no UI (headless). */
  uiPort?: number;
  /** The Web UI's codec endpoint (a codec server: infra/codec-server.ts), so it shows decrypted payloads. */
  uiCodecEndpoint?: string;
  /** SQLite file for persistence across restarts; absent: in memory. */
  dbFilename?: string;
  namespace?: string;
  logLevel?: 'debug' | 'info' | 'warn' | 'error';
  /** How long to wait for the server to answer. */
  startTimeoutMs?: number;
}

export interface DevServer {
  address: string;
  namespace: string;
  uiUrl: string | undefined;
  stop(): Promise<void>;
}

const TYPE_NAMES: Record<SearchAttributeType, string> = {
  TEXT: 'Text',
  KEYWORD: 'Keyword',
  INT: 'Int',
  DOUBLE: 'Double',
  BOOL: 'Bool',
  DATETIME: 'Datetime',
  KEYWORD_LIST: 'KeywordList',
};

/** `--search-attribute Name=Type` arguments for the dev server. */
export function searchAttributeArgs(
  keys: ReadonlyArray<{ name: string; type: SearchAttributeType }> = SEARCH_ATTRIBUTES,
): string[] {
  return keys.flatMap((key) => ['--search-attribute', `${key.name}=${TYPE_NAMES[key.type]}`]);
}

export async function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port')),
      );
    });
  });
}

export async function startDevServer(options: DevServerOptions): Promise<DevServer> {
  const ip = options.ip ?? '127.0.0.1';
  const port = options.port || (await freePort(ip));
  const namespace = options.namespace ?? 'default';
  const args = [
    'server',
    'start-dev',
    '--ip',
    ip,
    '--port',
    String(port),
    '--namespace',
    namespace,
    '--log-level',
    options.logLevel ?? 'warn',
    ...searchAttributeArgs(),
  ];
  if (options.uiPort) args.push('--ui-port', String(options.uiPort));
  else args.push('--headless');
  if (options.uiPort && options.uiCodecEndpoint) args.push('--ui-codec-endpoint', options.uiCodecEndpoint);
  if (options.dbFilename) args.push('--db-filename', options.dbFilename);

  const child: ResultPromise = execa(options.binary, args, {
    stdin: 'ignore',
    stdout: 'ignore',
    stderr: 'pipe',
    reject: false,
    cleanup: true,
  });
  let stderrTail = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderrTail = (stderrTail + chunk.toString()).slice(-4000);
  });
  let exited = false;
  void child.then(() => {
    exited = true;
  });

  const address = `${ip}:${port}`;
  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited) {
      throw new Error(`temporal server start-dev exited before it was ready:\n${stderrTail.trim()}`);
    }
    if (await answers(address, namespace)) break;
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`temporal server start-dev did not answer on ${address} in time:\n${stderrTail.trim()}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    address,
    namespace,
    uiUrl: options.uiPort ? `http://${ip === '0.0.0.0' ? 'localhost' : ip}:${options.uiPort}` : undefined,
    async stop() {
      if (exited) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await child.catch(() => undefined);
      clearTimeout(timer);
    },
  };
}

/** True once the server accepts connections and knows the namespace. */
async function answers(address: string, namespace: string): Promise<boolean> {
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 1000 });
    await connection.workflowService.describeNamespace({ namespace });
    return true;
  } catch {
    return false;
  } finally {
    await connection?.close().catch(() => undefined);
  }
}
