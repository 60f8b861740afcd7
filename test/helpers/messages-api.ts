/**
 * A local stand-in for the Anthropic Messages API, to drive the real `claude` CLI with scripted model
 * replies (`ANTHROPIC_BASE_URL=<server.url>`).
 *
 * Each `POST /v1/messages` takes the next scripted reply: a text answer (`end_turn`), a tool call
 * (`tool_use`; the CLI runs the tool and comes back with its result), an HTTP error (a 429 with
 * `retry-after`, or with the `anthropic-ratelimit-unified-*` headers of a spent subscription quota), or a
 * reply that starts and never ends (`hold`). Replies stream as server-sent events in the shapes the CLI
 * needs: `message_start`, per block `content_block_start` / `content_block_delta` / `content_block_stop`,
 * `message_delta` with the stop reason and the output tokens, `message_stop`; `usage` sets the tokens
 * the CLI prices (its `total_cost_usd` and `--max-budget-usd` come from them). A request without
 * `"stream": true` gets the same message as one JSON body. Every request is recorded (time, headers,
 * body). A request after the script ran out gets a 400 whose message names both counts (so the CLI's
 * result shows it), and `assertDone()` throws with the same message; so does a script that was not used up.
 */
import type http from 'node:http';
import { readBody, ScriptedServer } from './scripted-server.js';

export type ScriptedReply =
  /** A final answer. */
  | ({ text: string } & StreamOptions)
  /** A tool call, optionally after some text. */
  | ({ toolUse: { name: string; input: Record<string, unknown> }; text?: string } & StreamOptions)
  /** A reply that sends its start and then nothing more, until the server closes. */
  | { hold: true }
  /** An HTTP error such as a 429 (`headers` may carry `retry-after` or rate-limit headers). */
  | { status: number; headers?: Record<string, string>; error?: { type: string; message: string } };

export interface StreamOptions {
  /** Tokens of this reply (default 100 in, 20 out). */
  usage?: { input_tokens: number; output_tokens: number };
  /** Response headers, such as `anthropic-ratelimit-unified-*` on a successful reply. */
  headers?: Record<string, string>;
}

/** The headers of a 429 for a subscription whose usage limit is spent, as the CLI reads them (2.1.197). */
export function quotaExhaustedHeaders(resetsAt: Date, window = 'five_hour'): Record<string, string> {
  return {
    'anthropic-ratelimit-unified-status': 'rejected',
    'anthropic-ratelimit-unified-reset': String(Math.floor(resetsAt.getTime() / 1000)),
    'anthropic-ratelimit-unified-representative-claim': window,
  };
}

export interface MessagesRequest {
  model: string;
  stream?: boolean;
  system?: Array<{ type: string; text: string }> | string;
  messages: Array<{ role: 'user' | 'assistant'; content: string | Array<Record<string, unknown>> }>;
  tools?: Array<{ name: string }>;
}

export interface RecordedRequest {
  at: number;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: MessagesRequest;
}

export class MessagesApiServer extends ScriptedServer<ScriptedReply> {
  /** Every `POST /v1/messages`, in order. */
  readonly requests: RecordedRequest[] = [];
  protected readonly label = 'Scripted Messages API';

  static async start(script: ScriptedReply[] = []): Promise<MessagesApiServer> {
    return new MessagesApiServer().listen(script);
  }

  get url(): string {
    return this.origin;
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = req.url ?? '/';
    if (req.method !== 'POST' || !path.startsWith('/v1/messages') || path.startsWith('/v1/messages/')) {
      // The CLI probes the base URL with HEAD /; anything else is not part of the Messages API we speak.
      res.writeHead(req.method === 'HEAD' && path === '/' ? 200 : 404).end();
      return;
    }
    const body = JSON.parse(raw.toString('utf8')) as MessagesRequest;
    this.requests.push({ at: Date.now(), path, headers: req.headers, body });

    const reply = this.nextReply('request', this.requests.length);
    if (reply === undefined) {
      sendJson(res, 400, { type: 'error', error: { type: 'invalid_request_error', message: this.overrun } });
      return;
    }
    if ('hold' in reply) {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
      res.write(`event: ping\ndata: {"type":"ping"}\n\n`);
      return;
    }
    if ('status' in reply) {
      const error = reply.error ?? {
        type: 'rate_limit_error',
        message: 'Number of requests has exceeded your rate limit.',
      };
      sendJson(res, reply.status, { type: 'error', error }, reply.headers);
      return;
    }
    if (body.stream === true) streamMessage(res, body.model, this.served, reply);
    else sendJson(res, 200, wholeMessage(body.model, this.served, reply));
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function streamMessage(
  res: http.ServerResponse,
  model: string,
  n: number,
  reply: Exclude<ScriptedReply, { status: number } | { hold: true }>,
): void {
  const usage = reply.usage ?? { input_tokens: 100, output_tokens: 20 };
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', ...reply.headers });
  const send = (type: string, data: Record<string, unknown>): void => {
    res.write(`event: ${type}\ndata: ${JSON.stringify({ type, ...data })}\n\n`);
  };
  send('message_start', {
    message: {
      id: `msg_scripted_${n}`,
      type: 'message',
      role: 'assistant',
      model,
      content: [],
      stop_reason: null,
      stop_sequence: null,
      usage: { input_tokens: usage.input_tokens, output_tokens: 1 },
    },
  });
  let index = 0;
  if (reply.text !== undefined) {
    send('content_block_start', { index, content_block: { type: 'text', text: '' } });
    send('content_block_delta', { index, delta: { type: 'text_delta', text: reply.text } });
    send('content_block_stop', { index });
    index += 1;
  }
  if ('toolUse' in reply) {
    const id = `toolu_scripted_${n}`;
    send('content_block_start', {
      index,
      content_block: { type: 'tool_use', id, name: reply.toolUse.name, input: {} },
    });
    send('content_block_delta', {
      index,
      delta: { type: 'input_json_delta', partial_json: JSON.stringify(reply.toolUse.input) },
    });
    send('content_block_stop', { index });
  }
  send('message_delta', {
    delta: { stop_reason: 'toolUse' in reply ? 'tool_use' : 'end_turn', stop_sequence: null },
    usage: { output_tokens: usage.output_tokens },
  });
  send('message_stop', {});
  res.end();
}

function wholeMessage(
  model: string,
  n: number,
  reply: Exclude<ScriptedReply, { status: number } | { hold: true }>,
): unknown {
  const content: unknown[] = [];
  if (reply.text !== undefined) content.push({ type: 'text', text: reply.text });
  if ('toolUse' in reply) {
    content.push({ type: 'tool_use', id: `toolu_scripted_${n}`, name: reply.toolUse.name, input: reply.toolUse.input });
  }
  return {
    id: `msg_scripted_${n}`,
    type: 'message',
    role: 'assistant',
    model,
    content,
    stop_reason: 'toolUse' in reply ? 'tool_use' : 'end_turn',
    stop_sequence: null,
    usage: { input_tokens: 100, output_tokens: 20 },
  };
}

/** The text of every content block of a request's messages, for assertions. */
export function requestText(request: RecordedRequest): string {
  return JSON.stringify(request.body.messages);
}

/** The system prompt of a request as one string. */
export function systemText(request: RecordedRequest): string {
  const { system } = request.body;
  return typeof system === 'string' ? system : (system ?? []).map((b) => b.text).join('\n');
}
