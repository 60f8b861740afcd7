/**
 * The one interface every agent CLI adapter implements, and the normalized events they share.
 *
 * An adapter knows three things about its CLI: how to call it (a new run, or a resume of a session with a
 * message), how to read one line of its event stream into normalized events, and how to classify the end
 * of a run from what was read plus the exit status. Parsing and classification are pure functions (tested
 * on recorded lines); the runner (`run-agent.ts`) owns processes, files and time.
 *
 * Classification follows the same precedence for every CLI: what the structured events say first (a
 * terminal result, a rejected rate limit), then known texts in the final message and stderr, then the
 * exit code. What the orchestrator knows itself (cancel, timeout, a budget kill) never reaches `classify`.
 */
import type { AgentConfig, AgentOutcome, AgentType } from '../workflows/types.js';

/** One fact read from a CLI's event stream. */
export type AgentEvent =
  /** The session (Claude/Gemini) or thread (Codex) id: what a resume needs. */
  | { kind: 'session'; sessionId: string; model?: string }
  /** Text from the model (a whole message or a streamed piece). */
  | { kind: 'text'; text: string; delta?: boolean }
  /** A tool call; `detail` is a one-line gist of its input (the command, the file, the pattern), for logs. */
  | { kind: 'tool'; name: string; status: 'started' | 'completed' | 'failed' | 'declined'; detail?: string }
  /** Files the CLI says it changed (Codex `file_change`), for the fallback change count. */
  | { kind: 'files'; paths: string[] }
  /** Tokens used by one model call or turn (CLIs that report no cost). */
  | { kind: 'usage'; inputTokens: number; outputTokens: number; cachedInputTokens: number; model?: string }
  /** The CLI is retrying an API call itself; `delayMs` is how long it waits (it honours the server's retry-after). */
  | { kind: 'retry'; status: number | null; delayMs?: number; attempt?: number }
  /** A usage-limit status; `rejected` means the quota is used up until `resetsAt` (epoch ms). */
  | { kind: 'rate_limit'; status: string; resetsAt?: number; window?: string }
  /** A non-terminal error message (the terminal one comes as `result`). */
  | { kind: 'error'; message: string }
  | { kind: 'result'; result: RunResultEvent };

/** The CLI's own verdict on the run, normalized. */
export interface RunResultEvent {
  ok: boolean;
  /** The CLI's result kind: Claude's `subtype`, Gemini's `error.type`, Codex's event type. */
  subtype?: string;
  /** The final message (success) or the error text. */
  text?: string;
  errors?: string[];
  costUsd?: number;
  /** HTTP status of the API error that ended the run (Claude). */
  apiErrorStatus?: number | null;
  terminalReason?: string;
  numTurns?: number;
  linesAdded?: number;
  linesRemoved?: number;
}

/** One stdout line: the CLI's event type (for progress reports) and what it means. */
export interface ParsedLine {
  type: string;
  events: AgentEvent[];
}

/** Everything read from one run's stream, folded. */
export interface Transcript {
  sessionId?: string;
  model?: string;
  lastEventType?: string;
  /** The last complete message, or the pieces streamed since the last complete one; a tool call clears it. */
  lastText: string;
  /** The agent's last message, whatever tool calls followed it: the summary of a run that did not succeed. */
  lastMessage: string;
  /**
   * An ignored line that holds the agent's latest message (its first `length` bytes), decoded only when
   * the run ends (`settleTranscript`); one buffer, reused from line to line.
   */
  pendingMessage?: { bytes: Buffer; length: number };
  result?: RunResultEvent;
  /** The largest delay the CLI waited on a 429 (its reading of the server's retry-after). */
  retryDelayMs?: number;
  rateLimit?: { status: string; resetsAt?: number; window?: string };
  errors: string[];
  files: string[];
  inputTokens: number;
  cachedInputTokens: number;
  outputTokens: number;
  /** Lines that looked like JSON but did not parse (kept as log lines, never fatal). */
  badLines: number;
}

export function emptyTranscript(): Transcript {
  return {
    lastText: '',
    lastMessage: '',
    errors: [],
    files: [],
    inputTokens: 0,
    cachedInputTokens: 0,
    outputTokens: 0,
    badLines: 0,
  };
}

/** Fold one parsed line into the transcript (mutates and returns it). */
export function applyLine(t: Transcript, line: ParsedLine | undefined): Transcript {
  if (line === undefined) {
    t.badLines += 1;
    return t;
  }
  t.lastEventType = line.type;
  for (const event of line.events) {
    switch (event.kind) {
      case 'session':
        t.sessionId ??= event.sessionId;
        t.model ??= event.model;
        break;
      case 'text':
        t.lastText = event.delta ? t.lastText + event.text : event.text;
        if (t.lastText.trim() !== '') {
          t.lastMessage = t.lastText;
          t.pendingMessage = undefined;
        }
        break;
      case 'tool':
        if (event.status === 'started') t.lastText = '';
        break;
      case 'files':
        for (const p of event.paths) if (!t.files.includes(p)) t.files.push(p);
        break;
      case 'usage':
        t.inputTokens += event.inputTokens;
        t.cachedInputTokens += event.cachedInputTokens;
        t.outputTokens += event.outputTokens;
        t.model ??= event.model;
        break;
      case 'retry':
        if (event.status === 429 && event.delayMs !== undefined) {
          t.retryDelayMs = Math.max(t.retryDelayMs ?? 0, event.delayMs);
        }
        break;
      case 'rate_limit':
        // A rejection is what matters; a later "allowed" (after a reset) clears it.
        t.rateLimit = { status: event.status, resetsAt: event.resetsAt, window: event.window };
        break;
      case 'error':
        t.errors.push(event.message);
        break;
      case 'result':
        t.result = event.result;
        break;
      default:
        assertNever(event);
    }
  }
  return t;
}

/** The `type` of a JSON event line that starts `{"type":"…"`, read without decoding the line; else undefined. */
export function sniffType(line: Buffer): string | undefined {
  if (line.length < 11 || line.toString('latin1', 0, 9) !== '{"type":"') return undefined;
  const end = line.indexOf(0x22, 9);
  return end > 9 && end < 80 ? line.toString('latin1', 9, end) : undefined;
}

/**
 * Read one raw stdout line into the transcript, as the runner does while the agent runs: events the
 * adapter ignores are only noted by type, without decoding the line; the last of them that holds a
 * message of the agent is kept, to be decoded by `settleTranscript` when the run ends. Returns what was read.
 */
export function readLine(adapter: AgentAdapter, t: Transcript, line: Buffer): ParsedLine | undefined {
  const type = sniffType(line);
  let parsed: ParsedLine | undefined;
  if (type !== undefined && adapter.ignoredEvents.has(type)) {
    if (adapter.holdsMessage?.(type, line)) keepMessageLine(t, line);
    parsed = { type, events: [] };
  } else {
    parsed = adapter.parseLine(line.toString('utf8'));
  }
  applyLine(t, parsed);
  return parsed;
}

/** Copy `line` (the reader reuses its memory) into the transcript's message buffer, grown as needed. */
function keepMessageLine(t: Transcript, line: Buffer): void {
  const kept = t.pendingMessage?.bytes;
  const bytes =
    kept !== undefined && kept.length >= line.length
      ? kept
      : Buffer.allocUnsafe(Math.max(line.length, 2 * (kept?.length ?? 2_048)));
  line.copy(bytes);
  t.pendingMessage = { bytes, length: line.length };
}

/** Decode the message line `readLine` kept undecoded, once the run's output has been read to its end. */
export function settleTranscript(adapter: AgentAdapter, t: Transcript): Transcript {
  const kept = t.pendingMessage;
  if (kept === undefined) return t;
  t.pendingMessage = undefined;
  for (const event of adapter.parseLine(kept.bytes.toString('utf8', 0, kept.length))?.events ?? []) {
    if (event.kind === 'text' && event.text.trim() !== '') t.lastMessage = event.text;
  }
  return t;
}

/** How the process ended, and the ends of its streams. */
export interface ExitInfo {
  exitCode: number | undefined;
  signal: string | undefined;
  stderrTail: string;
  /** The end of stdout (non-JSON banners and errors included). */
  stdoutTail: string;
}

/** An adapter's verdict; `question` and `timed_out` are decided by the runner. */
export interface Classification {
  outcome: Exclude<AgentOutcome, 'question' | 'timed_out'>;
  summary?: string;
  costUsd?: number;
  /** For rate_limited / quota_exhausted: epoch ms (undefined: the runner's default delay). */
  retryAt?: number;
  error?: string;
}

/** What a command line is built from. */
export interface InvocationContext {
  /** The executable (from config.agentBins, or the command agent's own). */
  bin: string;
  config: AgentConfig;
  cwd: string;
  /** Instructions appended to the system prompt: the task's append (with failure history) and the question protocol. */
  systemPrompt: string;
  /** Directories outside the checkout the agent must be able to write (the question file's). */
  writableDirs: string[];
  /** New run: the task's prompt and, where the CLI lets the caller choose it, the session id to use. */
  run?: { prompt: string; sessionId?: string };
  /** Resume: continue `sessionId` with `message`. */
  resume?: { sessionId: string; message: string };
  /** Whether the worker runs as root (Claude refuses bypass-permissions as root outside a sandbox). */
  isRoot: boolean;
}

export interface Invocation {
  file: string;
  args: string[];
  /** Variables this CLI needs on top of the run's environment. */
  env: Record<string, string>;
}

export interface AgentAdapter {
  readonly type: AgentType;
  /** Whether the CLI takes a session id chosen by the caller for a new run (known before it starts). */
  readonly choosesSessionId: boolean;
  /** Whether the CLI runs a model and can be resumed (false for plain commands). */
  readonly resumable: boolean;
  /**
   * Event types the runner need not decode while the agent runs: large (file contents, tool output) and
   * nothing in them decides the outcome. Only their type is recorded, as the last event.
   */
  readonly ignoredEvents: ReadonlySet<string>;
  /**
   * Whether an ignored line holds a message of the agent (Claude's `assistant` lines carry messages and
   * large tool calls alike): the last such line is decoded when the run ends, for its summary.
   */
  holdsMessage?(type: string, line: Buffer): boolean;
  invocation(ctx: InvocationContext): Invocation;
  /** Read one stdout line that starts with `{`; undefined when it is not valid JSON. */
  parseLine(line: string): ParsedLine | undefined;
  classify(transcript: Transcript, exit: ExitInfo, now: number): Classification;
  /**
   * The cost so far, for CLIs that report tokens but do not enforce a budget themselves: the runner kills
   * the run when it passes the task's budget. Absent for CLIs that enforce it (Claude) or have no model.
   */
  estimateCostUsd?(transcript: Transcript): number | undefined;
  /** Whether a resume failed because the CLI does not know the session (then a fresh run is the way on). */
  isUnknownSession(transcript: Transcript, exit: ExitInfo): boolean;
}

/** The configuration cannot work (unknown agent, missing command line …): retrying will not help. */
export class AgentConfigError extends Error {
  override readonly name = 'AgentConfigError';
}

export function assertNever(value: never): never {
  throw new Error(`Unexpected value: ${JSON.stringify(value)}`);
}

// ---- Helpers shared by the adapters ------------------------------------------------------------

/** Parse a JSON object line; undefined for anything else. */
export function parseJsonObject(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return typeof value === 'object' && value !== null && !Array.isArray(value)
      ? (value as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

/** The gist of a tool call's input: the first field a person recognises it by, on one line, clipped. */
export function toolDetail(input: unknown): string | undefined {
  const fields = obj(input);
  if (fields === undefined) return undefined;
  for (const key of TOOL_DETAIL_FIELDS) {
    const value = fields[key];
    const text = Array.isArray(value) ? value.filter((v) => typeof v === 'string').join(' ') : str(value);
    if (text !== undefined && text.trim() !== '') {
      const line = text.trim().replace(/\s*\n\s*/g, ' ⏎ ');
      return line.length <= TOOL_DETAIL_MAX ? line : `${line.slice(0, TOOL_DETAIL_MAX - 1)}…`;
    }
  }
  return undefined;
}

/** Input fields of the CLIs' tools, most telling first (Claude's Bash `command`, Write `file_path` …). */
const TOOL_DETAIL_FIELDS = [
  'command',
  'file_path',
  'absolute_path',
  'path',
  'pattern',
  'query',
  'url',
  'description',
  'prompt',
];
const TOOL_DETAIL_MAX = 200;

export function str(value: unknown): string | undefined {
  return typeof value === 'string' ? value : undefined;
}

export function num(value: unknown): number | undefined {
  return typeof value === 'number' && Number.isFinite(value) ? value : undefined;
}

export function obj(value: unknown): Record<string, unknown> | undefined {
  return typeof value === 'object' && value !== null && !Array.isArray(value)
    ? (value as Record<string, unknown>)
    : undefined;
}

/** The last `maxChars` characters of `text`, trimmed, starting at a line where possible. */
export function tail(text: string, maxChars = 2_000): string {
  const trimmed = text.trim();
  if (trimmed.length <= maxChars) return trimmed;
  const cut = trimmed.slice(trimmed.length - maxChars);
  const nl = cut.indexOf('\n');
  return `…${nl >= 0 && nl < 200 ? cut.slice(nl + 1) : cut}`;
}

/** Lines of `text` that are not JSON events (banners, warnings, errors printed by the CLI). */
export function plainLines(text: string): string {
  return text
    .split('\n')
    .filter((l) => !l.trimStart().startsWith('{'))
    .join('\n');
}

/** A failure with the best message at hand: the given error, else stderr's end, else the exit status. */
export function failed(exit: ExitInfo, error?: string, extra: Partial<Classification> = {}): Classification {
  const text =
    error ??
    (tail(exit.stderrTail) ||
      tail(plainLines(exit.stdoutTail)) ||
      (exit.signal ? `killed by ${exit.signal}` : `exited with code ${exit.exitCode ?? 'unknown'}`));
  return { ...extra, outcome: 'failed', error: text };
}
