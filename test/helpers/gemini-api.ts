/**
 * A local stand-in for the Gemini API (`generativelanguage.googleapis.com/v1beta`), to drive the real
 * `gemini` CLI with scripted model replies (`GOOGLE_GEMINI_BASE_URL=<server.url>`, `GEMINI_API_KEY`, and a
 * `$HOME/.gemini/settings.json` that selects the key: see `prepareGeminiHome`).
 *
 * The CLI makes two kinds of calls:
 * - Main turns: `POST /v1beta/models/<model>:streamGenerateContent?alt=sse`. Each takes the next scripted
 *   reply: a text answer, a function call (`run_shell_command`, `write_file` …: the CLI runs the tool and
 *   comes back with a `functionResponse`), or an HTTP error in the Google shape (`{"error":{code, message,
 *   status, details}}`, see `rateLimited` and `dailyQuotaExhausted`). Replies stream as server-sent events,
 *   `data: <GenerateContentResponse>`, the text in two pieces, the last chunk with `finishReason` and
 *   `usageMetadata`.
 * - Routing: with the model left to `auto`, the CLI first asks a flash-lite model (`:generateContent`, a
 *   JSON answer) how complex the prompt is, then sends the turn to a pro or a flash model. Those calls are
 *   answered here from `route` (not from the script, so that scripts read as the conversation) and recorded
 *   in `routing`. `:countTokens` is answered too.
 *
 * Every request is recorded (time, path, model, headers, body). A main turn after the script ran out gets
 * a 400 (the CLI does not retry it) whose message names both counts, and `assertDone()` throws with the same
 * message; so does a script that was not used up, or a call of a kind this stand-in does not know.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import type http from 'node:http';
import { readBody, ScriptedServer } from './scripted-server.js';
import path from 'node:path';

/** A Google API error body (`google.rpc.Status`). */
export interface GoogleApiError {
  code: number;
  message: string;
  status: string;
  details?: Array<Record<string, unknown>>;
}

export interface Usage {
  promptTokenCount: number;
  candidatesTokenCount: number;
  cachedContentTokenCount?: number;
}

export type ScriptedReply =
  /** A final answer. */
  | { text: string; usage?: Usage }
  /** A function (tool) call, optionally after some text. */
  | { functionCall: { name: string; args: Record<string, unknown> }; text?: string; usage?: Usage }
  /** An HTTP error. */
  | { status: number; error: GoogleApiError };

export type CallKind = 'streamGenerateContent' | 'generateContent' | 'countTokens';

export interface GeminiRequest {
  contents: Array<{ role: 'user' | 'model'; parts: Array<Record<string, unknown>> }>;
  systemInstruction?: { parts: Array<{ text?: string }> };
  tools?: Array<{ functionDeclarations?: Array<{ name: string }> }>;
  generationConfig?: Record<string, unknown>;
}

export interface RecordedRequest {
  at: number;
  path: string;
  model: string;
  kind: CallKind;
  headers: http.IncomingHttpHeaders;
  body: GeminiRequest;
}

/** What the routing classifier answers: the pro model or the flash model for the turn. */
export type Route = 'pro' | 'flash';

const DEFAULT_USAGE: Usage = { promptTokenCount: 1_000, candidatesTokenCount: 50 };

export class GeminiApiServer extends ScriptedServer<ScriptedReply> {
  /** Every main turn (`streamGenerateContent`), in order. */
  readonly requests: RecordedRequest[] = [];
  /** Every routing call (`generateContent` to the classifier model), in order. */
  readonly routing: RecordedRequest[] = [];
  /** `countTokens` calls and anything this stand-in does not speak. */
  readonly others: RecordedRequest[] = [];
  /** How routing calls are answered. */
  route: Route = 'pro';
  protected readonly label = 'Scripted Gemini API';
  private unknown: string | undefined;

  static async start(script: ScriptedReply[] = []): Promise<GeminiApiServer> {
    return new GeminiApiServer().listen(script);
  }

  get url(): string {
    return this.origin;
  }

  /** Throws if a turn came after the script ran out, replies were left unused, or an unknown call came. */
  override assertDone(): void {
    if (this.unknown && !this.overrun) throw new Error(this.unknown);
    super.assertDone();
  }

  protected async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = await readBody(req);
    const url = req.url ?? '/';
    const call = /^\/v1beta\/models\/([^/:]+):(streamGenerateContent|generateContent|countTokens)(?:\?|$)/.exec(url);
    const text = raw.toString('utf8');
    const body = (text === '' ? {} : JSON.parse(text)) as GeminiRequest;
    if (req.method !== 'POST' || !call) {
      this.unknown ??= `Scripted Gemini API: unexpected ${req.method ?? '?'} ${url}`;
      sendError(res, { code: 404, message: this.unknown, status: 'NOT_FOUND' });
      return;
    }
    const [, model = '', kind] = call as unknown as [string, string, CallKind];
    const recorded: RecordedRequest = { at: Date.now(), path: url, model, kind, headers: req.headers, body };

    if (kind === 'countTokens') {
      this.others.push(recorded);
      sendJson(res, 200, { totalTokens: Math.ceil(text.length / 4) });
      return;
    }
    if (kind === 'generateContent') {
      if (!isRoutingCall(body)) {
        this.others.push(recorded);
        this.unknown ??= `Scripted Gemini API: a generateContent call to ${model} that is not the router's: ${systemText(recorded).slice(0, 200)}`;
        sendError(res, { code: 400, message: this.unknown, status: 'INVALID_ARGUMENT' });
        return;
      }
      this.routing.push(recorded);
      sendJson(
        res,
        200,
        response(model, [{ text: JSON.stringify(routingAnswer(this.route)) }], {
          promptTokenCount: 10,
          candidatesTokenCount: 5,
        }),
      );
      return;
    }

    this.requests.push(recorded);
    const reply = this.nextReply('turn', this.requests.length);
    if (reply === undefined) {
      sendError(res, { code: 400, message: this.overrun ?? '', status: 'INVALID_ARGUMENT' });
      return;
    }
    if ('status' in reply) {
      sendError(res, reply.error, reply.status);
      return;
    }
    streamReply(res, model, reply);
  }
}

/** A 429 whose `RetryInfo` asks the client to wait `retryDelay` ("6s", "34.074824224s", "900ms"). */
export function rateLimited(retryDelay: string): ScriptedReply {
  return {
    status: 429,
    error: {
      code: 429,
      message: 'Resource has been exhausted (e.g. check quota).',
      status: 'RESOURCE_EXHAUSTED',
      details: [{ '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay }],
    },
  };
}

/** A 429 for a used-up daily quota (`QuotaFailure` with a `…PerDay…` quota id), as the free tier sends it. */
export function dailyQuotaExhausted(model: string): ScriptedReply {
  return {
    status: 429,
    error: {
      code: 429,
      message: `You exceeded your current quota, please check your plan and billing details. For more information on this error, head to: https://ai.google.dev/gemini-api/docs/rate-limits.\n* Quota exceeded for metric: generativelanguage.googleapis.com/generate_content_free_tier_requests, limit: 250, model: ${model}\nPlease retry in 12005.5s.`,
      status: 'RESOURCE_EXHAUSTED',
      details: [
        {
          '@type': 'type.googleapis.com/google.rpc.QuotaFailure',
          violations: [
            {
              quotaMetric: 'generativelanguage.googleapis.com/generate_content_free_tier_requests',
              quotaId: 'GenerateRequestsPerDayPerProjectPerModel-FreeTier',
              quotaDimensions: { location: 'global', model },
              quotaValue: '250',
            },
          ],
        },
        { '@type': 'type.googleapis.com/google.rpc.RetryInfo', retryDelay: '12005s' },
      ],
    },
  };
}

/**
 * A HOME for one run of the CLI: `.gemini/settings.json` selecting the API key (without it the CLI exits
 * 41, "Invalid auth method selected"), plus `settings` merged in (e.g. `{general: {maxAttempts: 2}}`).
 */
export function prepareGeminiHome(home: string, settings: Record<string, unknown> = {}): string {
  mkdirSync(path.join(home, '.gemini'), { recursive: true });
  writeFileSync(
    path.join(home, '.gemini', 'settings.json'),
    JSON.stringify({ security: { auth: { selectedType: 'gemini-api-key' } }, ...settings }, null, 2),
  );
  return home;
}

/** The parts of every message of a request, as one string, for assertions. */
export function requestText(request: RecordedRequest): string {
  return JSON.stringify(request.body.contents);
}

/** The system instruction of a request as one string. */
export function systemText(request: RecordedRequest): string {
  return (request.body.systemInstruction?.parts ?? []).map((p) => p.text ?? '').join('\n');
}

/** The router's classifiers ask for a JSON verdict on the prompt's complexity. */
function isRoutingCall(body: GeminiRequest): boolean {
  const system = (body.systemInstruction?.parts ?? []).map((p) => p.text ?? '').join('\n');
  return /Routing|complexity_score|model_choice/.test(system);
}

/**
 * Both classifiers' answers in one object: the numerical one (a score, pro from 90 on) and the older one
 * (a model choice); each reads its own fields.
 */
function routingAnswer(route: Route): Record<string, unknown> {
  return route === 'pro'
    ? { complexity_reasoning: 'scripted: pro', complexity_score: 95, reasoning: 'scripted: pro', model_choice: 'pro' }
    : {
        complexity_reasoning: 'scripted: flash',
        complexity_score: 10,
        reasoning: 'scripted: flash',
        model_choice: 'flash',
      };
}

function response(
  model: string,
  parts: Array<Record<string, unknown>>,
  usage?: Usage,
  finishReason?: string,
): Record<string, unknown> {
  return {
    candidates: [{ content: { role: 'model', parts }, index: 0, ...(finishReason ? { finishReason } : {}) }],
    ...(usage
      ? {
          usageMetadata: {
            promptTokenCount: usage.promptTokenCount,
            candidatesTokenCount: usage.candidatesTokenCount,
            totalTokenCount: usage.promptTokenCount + usage.candidatesTokenCount,
            ...(usage.cachedContentTokenCount ? { cachedContentTokenCount: usage.cachedContentTokenCount } : {}),
          },
        }
      : {}),
    modelVersion: model,
  };
}

function streamReply(res: http.ServerResponse, model: string, reply: Exclude<ScriptedReply, { status: number }>): void {
  res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache' });
  const send = (chunk: Record<string, unknown>): void => {
    res.write(`data: ${JSON.stringify(chunk)}\r\n\r\n`);
  };
  const usage = reply.usage ?? DEFAULT_USAGE;
  const chunks: Array<Array<Record<string, unknown>>> = [];
  if (reply.text !== undefined && reply.text !== '') {
    // In two pieces, as the API streams: the CLI reports each as a `delta` message.
    const cut = Math.ceil(reply.text.length / 2);
    chunks.push([{ text: reply.text.slice(0, cut) }]);
    if (cut < reply.text.length) chunks.push([{ text: reply.text.slice(cut) }]);
  }
  if ('functionCall' in reply) chunks.push([{ functionCall: reply.functionCall }]);
  chunks.forEach((parts, i) => {
    const last = i === chunks.length - 1;
    send(response(model, parts, last ? usage : undefined, last ? 'STOP' : undefined));
  });
  res.end();
}

function sendJson(res: http.ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json; charset=UTF-8' }).end(JSON.stringify(body));
}

function sendError(res: http.ServerResponse, error: GoogleApiError, status = error.code): void {
  sendJson(res, status, { error });
}
