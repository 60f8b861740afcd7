/**
 * A local HTTP receiver for notification tests (node:http on 127.0.0.1): it records every POST it gets
 * and answers with the statuses it was scripted with (then 200), so a test can make it fail N times.
 */
import { EventEmitter, once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface ReceivedRequest {
  path: string;
  contentType: string | undefined;
  body: unknown;
}

export interface Receiver {
  /** The URL of `path` on this receiver. */
  url(path?: string): string;
  /** Every request received, oldest first. */
  readonly received: ReceivedRequest[];
  /** The requests to `path`. */
  at(path: string): ReceivedRequest[];
  /** Answer the next requests to `path` with these statuses, in order (then 200 again). */
  failNext(path: string, ...statuses: number[]): void;
  /** Resolves once `path` has received `count` requests. */
  waitFor(path: string, count: number, timeoutMs?: number): Promise<ReceivedRequest[]>;
  close(): Promise<void>;
}

export async function startReceiver(): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  const scripts = new Map<string, number[]>();
  const arrivals = new EventEmitter();
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => {
      const text = Buffer.concat(chunks).toString('utf8');
      let body: unknown = text;
      try {
        body = JSON.parse(text);
      } catch {
        // kept as text: the test sees what was sent
      }
      received.push({ path: req.url ?? '/', contentType: req.headers['content-type'], body });
      const status = scripts.get(req.url ?? '/')?.shift() ?? 200;
      res.writeHead(status, { 'content-type': 'text/plain' }).end(status === 200 ? 'ok' : `scripted ${status}`);
      arrivals.emit('request');
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  const at = (path: string): ReceivedRequest[] => received.filter((r) => r.path === path);
  return {
    url: (path = '/') => `http://127.0.0.1:${port}${path}`,
    received,
    at,
    failNext: (path, ...statuses) => scripts.set(path, [...(scripts.get(path) ?? []), ...statuses]),
    async waitFor(path, count, timeoutMs = 30_000) {
      const signal = AbortSignal.timeout(timeoutMs);
      while (at(path).length < count) {
        await once(arrivals, 'request', { signal }).catch(() => {
          throw new Error(`receiver: ${path} got ${at(path).length} request(s) in ${timeoutMs} ms, expected ${count}`);
        });
      }
      return at(path);
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
