/**
 * The codec server (`claudomator codec-server`, and the one `claudomator up` starts for its dev
 * server): Temporal's remote codec protocol over HTTP, so the Web UI — and `temporal workflow show
 * --codec-endpoint` — show decrypted payloads to an operator whose browser can reach it.
 *
 * `POST <prefix>/decode` and `POST <prefix>/encode` take and return `{"payloads": [...]}` with the
 * payloads in protobuf JSON form (metadata values and data in base64). Browsers of the allowed origins
 * get CORS headers (and their preflight an answer); other origins are refused. With a token, every
 * request but the preflight needs `Authorization: Bearer <token>`. An `X-Namespace` header naming
 * another namespace than the configured one is refused: the keys belong to that namespace.
 */
import { timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Payload, PayloadCodec } from '@temporalio/common';

export interface CodecServerOptions {
  codec: PayloadCodec;
  /** Interface to listen on (default 127.0.0.1). */
  host?: string;
  /** 0 or absent: a free port. */
  port?: number;
  /** Origins (scheme://host[:port]) whose pages may call it. */
  origins: readonly string[];
  /** Bearer token required on every request; undefined: none. */
  token?: string | undefined;
  /** The namespace its keys serve; requests naming another in X-Namespace are refused. */
  namespace?: string;
}

export interface CodecServer {
  /** Base URL, e.g. http://127.0.0.1:8234: the UI's codec endpoint. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/** Largest request body accepted (a batch of payloads of one history event, with room to spare). */
const MAX_BODY_BYTES = 32 * 1024 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
  }
}

export async function startCodecServer(options: CodecServerOptions): Promise<CodecServer> {
  const origins = new Set(options.origins.map((o) => new URL(o).origin));
  const token = options.token ? Buffer.from(`Bearer ${options.token}`) : undefined;

  const server = http.createServer((req, res) => {
    void handle(req, res).catch((err: unknown) => {
      const status = err instanceof HttpError ? err.status : 400;
      const message = err instanceof Error ? err.message : String(err);
      if (!res.headersSent) {
        res.writeHead(status, {
          'content-type': 'application/json',
          ...(status === 401 ? { 'www-authenticate': 'Bearer' } : {}),
        });
      }
      res.end(JSON.stringify({ error: message }));
    });
  });

  async function handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const origin = req.headers.origin;
    if (origin !== undefined) {
      if (!origins.has(origin)) {
        throw new HttpError(
          403,
          `Origin ${origin} may not use this codec server (allowed: ${[...origins].join(', ') || 'none'}); ` +
            'add it to CLAUDOMATOR_CODEC_SERVER_ORIGINS or --origin.',
        );
      }
      res.setHeader('access-control-allow-origin', origin);
      res.setHeader('access-control-allow-credentials', 'true');
      res.setHeader('vary', 'Origin');
    }
    const { pathname } = new URL(req.url ?? '/', 'http://codec');
    if (req.method === 'OPTIONS') {
      res.writeHead(204, {
        'access-control-allow-methods': 'POST, OPTIONS',
        'access-control-allow-headers': 'Content-Type, X-Namespace, Authorization',
        'access-control-max-age': '600',
      });
      res.end();
      return;
    }
    if (token) {
      const given = Buffer.from(req.headers.authorization ?? '');
      if (given.length !== token.length || !timingSafeEqual(given, token)) {
        throw new HttpError(
          401,
          'This codec server needs Authorization: Bearer <token> (CLAUDOMATOR_CODEC_SERVER_TOKEN).',
        );
      }
    }
    const namespace = req.headers['x-namespace'];
    if (options.namespace && typeof namespace === 'string' && namespace !== options.namespace) {
      throw new HttpError(403, `This codec server holds the keys of namespace ${options.namespace}, not ${namespace}.`);
    }
    const action = pathname.endsWith('/decode') ? 'decode' : pathname.endsWith('/encode') ? 'encode' : undefined;
    if (req.method === 'GET' && action === undefined) {
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('claudomator codec server: POST /decode or /encode with {"payloads": [...]}\n');
      return;
    }
    if (req.method !== 'POST' || action === undefined) {
      throw new HttpError(404, `No ${req.method} ${pathname} here: POST /decode or /encode.`);
    }
    const payloads = parsePayloads(await readBody(req));
    const result = action === 'decode' ? await options.codec.decode(payloads) : await options.codec.encode(payloads);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ payloads: result.map(payloadToJson) }));
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const host = options.host ?? '127.0.0.1';
  const shownHost = host === '0.0.0.0' || host === '::' ? 'localhost' : host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}`,
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, `The request is larger than ${MAX_BODY_BYTES} bytes.`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

interface JsonPayload {
  metadata?: Record<string, string>;
  data?: string;
}

const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/** `{"payloads": [{"metadata": {"encoding": "<base64>"}, "data": "<base64>"}]}` → payloads. */
export function parsePayloads(body: string): Payload[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch {
    throw new HttpError(400, 'The body is not JSON; send {"payloads": [...]}.');
  }
  const list = (parsed as { payloads?: unknown } | null)?.payloads;
  if (!Array.isArray(list)) throw new HttpError(400, 'The body needs a "payloads" array.');
  return list.map((item: unknown, index) => {
    const { metadata = {}, data = '' } = (item ?? {}) as JsonPayload;
    if (typeof metadata !== 'object' || metadata === null || typeof data !== 'string' || !BASE64.test(data)) {
      throw new HttpError(400, `payloads[${index}] needs base64 "data" and a "metadata" object of base64 values.`);
    }
    const decoded: Record<string, Uint8Array> = {};
    for (const [name, value] of Object.entries(metadata)) {
      if (typeof value !== 'string' || !BASE64.test(value)) {
        throw new HttpError(400, `payloads[${index}].metadata.${name} is not a base64 string.`);
      }
      decoded[name] = Buffer.from(value, 'base64');
    }
    return { metadata: decoded, data: Buffer.from(data, 'base64') };
  });
}

export function payloadToJson(payload: Payload): JsonPayload {
  return {
    metadata: Object.fromEntries(
      Object.entries(payload.metadata ?? {}).map(([k, v]) => [k, Buffer.from(v).toString('base64')]),
    ),
    data: Buffer.from(payload.data ?? new Uint8Array()).toString('base64'),
  };
}
