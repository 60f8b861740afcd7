/**
 * A tiny HTTP server for orchestrators (Kubernetes probes, load balancers): `/healthz` answers while
 * the process is up; `/readyz` answers 200 only while every worker is RUNNING and the database
 * answers, and 503 with the reasons otherwise.
 */
import http from 'node:http';
import type { Worker } from '@temporalio/worker';
import type { Store } from '../store/index.js';

export interface HealthServer {
  port: number;
  close(): Promise<void>;
}

export interface Readiness {
  ready: boolean;
  workers: Array<{ taskQueue: string; state: string }>;
  database: string;
}

export async function checkReadiness(
  workers: ReadonlyArray<{ taskQueue: string; worker: Worker }>,
  store: Store,
  timeoutMs = 2_000,
): Promise<Readiness> {
  let database = 'ok';
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      store.pool.query('select 1'),
      new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no answer in ${timeoutMs} ms`)), timeoutMs);
      }),
    ]);
  } catch (err) {
    database = err instanceof Error ? err.message : String(err);
  } finally {
    clearTimeout(timer);
  }
  const states = workers.map((w) => ({ taskQueue: w.taskQueue, state: w.worker.getState() }));
  return {
    ready: database === 'ok' && states.every((s) => s.state === 'RUNNING'),
    workers: states,
    database,
  };
}

export async function startHealthServer(
  port: number,
  readiness: () => Promise<Readiness>,
  host = '0.0.0.0',
): Promise<HealthServer> {
  const server = http.createServer((req, res) => {
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(`${JSON.stringify(body)}\n`);
    };
    const url = (req.url ?? '/').split('?')[0];
    if (url === '/healthz') {
      reply(200, { status: 'ok' });
    } else if (url === '/readyz') {
      readiness().then(
        (r) => reply(r.ready ? 200 : 503, r),
        (err: unknown) => reply(503, { ready: false, error: err instanceof Error ? err.message : String(err) }),
      );
    } else {
      reply(404, { error: 'not found: try /healthz or /readyz' });
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.address();
  return {
    port: typeof address === 'object' && address ? address.port : port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
