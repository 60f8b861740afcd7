/**
 * A local stand-in for the OpenAI Responses API, to drive the real `codex` CLI with scripted model replies.
 * Codex reaches it as a custom model provider (`codexConfigToml`: `model_provider`, `[model_providers.<id>]`
 * with `base_url`, `wire_api = "responses"`, `env_key`, its retry counts), written to `$CODEX_HOME/config.toml`.
 *
 * Each `POST <base>/responses` takes the next scripted reply: a final answer, a tool call (`exec_command`,
 * which Codex runs in its sandbox, or the freeform `apply_patch`; Codex comes back with its output), an
 * HTTP error (a 429 with `retry-after`, a `usage_limit_reached` body with `resets_at`), or a stream that
 * fails in-band (`response.failed`, as the API reports a rate limit with "try again in 1.5s"). Replies
 * stream as server-sent events: `response.created`, one `response.output_item.done` per item,
 * `response.completed` with the usage. Every request is recorded (time, headers, body). A request after
 * the script ran out gets a 400 naming both counts, and `assertDone()` throws with the same message; so
 * does a script that was not used up.
 */
import type http from 'node:http';
import { readBody, ScriptedServer } from './scripted-server.js';

export interface ScriptedUsage {
  input: number;
  cached?: number;
  output: number;
}

export type ScriptedReply =
  /** A final answer. */
  | { text: string; usage?: ScriptedUsage }
  /** A shell command Codex runs in its sandbox (`exec_command`), optionally after some text. */
  | { exec: { cmd: string; yieldTimeMs?: number }; text?: string; usage?: ScriptedUsage }
  /** A patch Codex applies (`apply_patch`, a freeform tool: the input is the patch text itself). */
  | { patch: string; text?: string; usage?: ScriptedUsage }
  /** An HTTP error such as a 429 (`headers` may carry `retry-after`); `body` is sent as JSON. */
  | { status: number; headers?: Record<string, string>; body?: unknown }
  /** A stream that starts and then fails (`response.failed` with this error). */
  | { failed: { code: string; message: string } };

export interface ResponsesRequest {
  model: string;
  stream?: boolean;
  input: Array<Record<string, unknown>>;
  tools?: Array<{ type: string; name?: string }>;
}

export interface RecordedRequest {
  at: number;
  path: string;
  headers: http.IncomingHttpHeaders;
  body: ResponsesRequest;
}

const DEFAULT_USAGE: ScriptedUsage = { input: 1_000, output: 50 };

export class ResponsesApiServer extends ScriptedServer<ScriptedReply> {
  /** Every `POST …/responses`, in order. */
  readonly requests: RecordedRequest[] = [];
  protected readonly label = 'Scripted Responses API';

  static async start(script: ScriptedReply[] = []): Promise<ResponsesApiServer> {
    return new ResponsesApiServer().listen(script);
  }

  /** The provider's `base_url` (Codex appends `/responses`). */
  get url(): string {
    return `${this.origin}/v1`;
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const path = req.url ?? '/';
    if (req.method !== 'POST' || path !== '/v1/responses') {
      res.writeHead(404).end();
      return;
    }
    const body = JSON.parse(raw.toString('utf8')) as ResponsesRequest;
    this.requests.push({ at: Date.now(), path, headers: req.headers, body });

    const reply = this.nextReply('request', this.requests.length);
    if (reply === undefined) {
      sendJson(res, 400, { error: { type: 'invalid_request_error', message: this.overrun } });
      return;
    }
    if ('status' in reply) {
      sendJson(res, reply.status, reply.body ?? { error: { type: 'error', message: 'scripted error' } }, reply.headers);
      return;
    }
    streamResponse(res, this.served, reply);
  }
}

function sendJson(res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));
}

function streamResponse(res: http.ServerResponse, n: number, reply: Exclude<ScriptedReply, { status: number }>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (data: Record<string, unknown>): void => {
    res.write(`event: ${String(data.type)}\ndata: ${JSON.stringify(data)}\n\n`);
  };
  const id = `resp_scripted_${n}`;
  send({ type: 'response.created', response: { id } });
  if ('failed' in reply) {
    send({ type: 'response.failed', response: { id, error: reply.failed } });
    res.end();
    return;
  }
  const items: Array<Record<string, unknown>> = [];
  if (reply.text !== undefined) {
    items.push({
      type: 'message',
      id: `msg_scripted_${n}`,
      role: 'assistant',
      content: [{ type: 'output_text', text: reply.text }],
    });
  }
  if ('exec' in reply) {
    items.push({
      type: 'function_call',
      id: `fc_scripted_${n}`,
      call_id: `call_scripted_${n}`,
      name: 'exec_command',
      arguments: JSON.stringify({
        cmd: reply.exec.cmd,
        ...(reply.exec.yieldTimeMs !== undefined ? { yield_time_ms: reply.exec.yieldTimeMs } : {}),
      }),
    });
  }
  if ('patch' in reply) {
    items.push({
      type: 'custom_tool_call',
      id: `ctc_scripted_${n}`,
      call_id: `call_scripted_${n}`,
      name: 'apply_patch',
      input: reply.patch,
    });
  }
  items.forEach((item, index) => send({ type: 'response.output_item.done', output_index: index, item }));
  const usage = reply.usage ?? DEFAULT_USAGE;
  send({
    type: 'response.completed',
    response: {
      id,
      usage: {
        input_tokens: usage.input,
        input_tokens_details: { cached_tokens: usage.cached ?? 0 },
        output_tokens: usage.output,
        output_tokens_details: { reasoning_tokens: 0 },
        total_tokens: usage.input + usage.output,
      },
    },
  });
  res.end();
}

/**
 * `$CODEX_HOME/config.toml` pointing Codex at `baseUrl` as its only model provider. The API key is read
 * from `OPENAI_API_KEY` (`env_key`). Retries: `requestMaxRetries` for failed HTTP requests, `streamMaxRetries`
 * for failed turns (Codex retries a 429 only when it carries `retry-after`, waiting that long).
 * `/tmp` and `$TMPDIR` are not writable in the sandbox, so that the directories Codex is given are the only
 * writable ones outside the checkout (the tests' directories live in /tmp).
 */
export function codexConfigToml(options: {
  baseUrl: string;
  model: string;
  requestMaxRetries?: number;
  streamMaxRetries?: number;
}): string {
  return [
    `model = ${JSON.stringify(options.model)}`,
    'model_provider = "scripted"',
    '',
    '[model_providers.scripted]',
    'name = "Scripted Responses API"',
    `base_url = ${JSON.stringify(options.baseUrl)}`,
    'wire_api = "responses"',
    'env_key = "OPENAI_API_KEY"',
    `request_max_retries = ${options.requestMaxRetries ?? 0}`,
    `stream_max_retries = ${options.streamMaxRetries ?? 0}`,
    '',
    '[sandbox_workspace_write]',
    'exclude_slash_tmp = true',
    'exclude_tmpdir_env_var = true',
    '',
  ].join('\n');
}

/** A request's input items as one string, for assertions. */
export function inputText(request: RecordedRequest): string {
  return JSON.stringify(request.body.input);
}

/** The output Codex sent back for a tool call (`function_call_output` / `custom_tool_call_output`). */
export function toolOutput(request: RecordedRequest, callId: string): string | undefined {
  const item = request.body.input.find(
    (i) => (i.type === 'function_call_output' || i.type === 'custom_tool_call_output') && i.call_id === callId,
  );
  const output = item?.output;
  return typeof output === 'string' ? output : output === undefined ? undefined : JSON.stringify(output);
}

/** The call id the server gives the tool call of its `n`th reply (1-based). */
export function scriptedCallId(n: number): string {
  return `call_scripted_${n}`;
}
