/**
 * A task's agent stream as readable lines: `claudomator task logs` and `client.taskLogs(...)`.
 *
 * Each execution's stdout log (its path is on the execution row) is read line by line and rendered
 * through the adapter of the agent that wrote it — the same `parseLine` the runner uses, so there is
 * one reading of each CLI's events — into entries such as `assistant: …`, `tool Bash: npm test`,
 * `result: success $0.0123`. The `command` agent writes plain text: its lines are shown as they are.
 *
 * Following tails the growing file; when the execution ends it moves on to the task's next execution
 * (a resume after an answer, a run after a rate limit), and it stops when the task settles or waits for
 * an answer (the question and the command to answer it are the last entries). Everything is read from
 * Postgres and the log files, so it works on any machine that sees the worker's data dir.
 *
 * Longer than most files because following a run live (across resumes, rate-limit waits and the
 * task settling) and rendering each agent's events belong together.
 */
import { open } from 'node:fs/promises';
import { setTimeout } from 'node:timers/promises';
import type { AgentAdapter, AgentEvent } from '../agents/adapter.js';
import { adapters } from '../agents/registry.js';
import { SETTLED_TASK_STATES, TERMINAL_FAILURE_STATES } from '../workflows/states.js';
import { AGENT_TYPES, type AgentType, type Execution, type Task, type TaskState } from '../workflows/types.js';
import { NotFoundError } from './errors.js';
import type { SdkContext } from './tasks.js';

export type TaskLogKind =
  /** An execution begins (agent, model, start, the answer it resumed with). */
  | 'execution'
  | 'session'
  | 'assistant'
  | 'tool'
  | 'files'
  | 'retry'
  | 'rate_limit'
  | 'error'
  | 'result'
  /** A line that is not one of the agent's events (the command agent's output, a CLI's banner). */
  | 'output'
  /** A stdout line exactly as written (`raw: true`). */
  | 'raw'
  /** An execution ended: its status, cost and error. */
  | 'ended'
  /** The task's state: a change while following, and where it stands at the end. */
  | 'state'
  | 'question'
  /** What to do next (answer, retry, follow). */
  | 'next'
  /** Something about the log itself (not yet started, not on this machine). */
  | 'note';

export interface TaskLogEntry {
  kind: TaskLogKind;
  taskId: string;
  executionId?: string;
  /** The entry as a person reads it, e.g. `assistant: I'll add the file.`; may span lines. */
  text: string;
  /** For entries read from the stream: the adapter's normalized event. */
  event?: AgentEvent;
  /** For `state` entries. */
  state?: TaskState;
}

export interface TaskLogOptions {
  /** Tail the live run, continue with the task's next executions, stop when it settles or asks. */
  follow?: boolean;
  /** One execution only (default: the latest; with `follow`, the latest and whatever comes after). */
  executionId?: string;
  /** Yield stdout lines as written instead of rendering them (the other entries still come). */
  raw?: boolean;
  /** Stops following (the iteration then ends quietly). */
  signal?: AbortSignal;
  /** How often the store and the file are looked at while following (default 250 ms). */
  pollIntervalMs?: number;
}

/** The task's log entries; see the module comment. Unknown task or execution: NotFoundError. */
export async function* taskLogs(
  ctx: SdkContext,
  taskId: string,
  options: TaskLogOptions = {},
): AsyncGenerator<TaskLogEntry, void, undefined> {
  const follow = options.follow ?? false;
  const poll = options.pollIntervalMs ?? 250;
  const { signal } = options;
  let task = await ctx.store.getTask(taskId);
  let executions = await ctx.store.listExecutions(taskId);
  let index = executions.length - 1;
  if (options.executionId !== undefined) {
    index = executions.findIndex((e) => e.id === options.executionId);
    if (index < 0) {
      throw new NotFoundError(
        'execution',
        options.executionId,
        `See the task's executions with \`claudomator task show ${taskId}\`.`,
        `Task ${taskId} has no execution "${options.executionId}".`,
      );
    }
  }
  const entry = (kind: TaskLogKind, text: string, extra: Partial<TaskLogEntry> = {}): TaskLogEntry => ({
    kind,
    taskId,
    ...extra,
    text,
  });

  if (index < 0) {
    if (!follow) {
      yield entry('note', `task ${taskId} has no agent run${isFinal(task) ? '' : ' yet'}`);
      yield* ending(task, entry, true);
      return;
    }
    index = 0;
  }

  const reload = async (): Promise<void> => {
    [task, executions] = await Promise.all([ctx.store.getTask(taskId), ctx.store.listExecutions(taskId)]);
  };
  // Between runs, say what the task waits for (queued after a rate limit, blocked on subtasks), once.
  let shownState: TaskState | undefined;
  const waitingState = (): TaskLogEntry[] => {
    if (task.state === 'RUNNING' || isFinal(task) || task.state === shownState) return [];
    shownState = task.state;
    return [entry('state', describeState(task), { state: task.state })];
  };

  for (;;) {
    // Wait for the execution to exist (following a task that has not run yet, or between runs).
    while (executions[index] === undefined) {
      if (!follow || isFinal(task)) {
        yield* ending(task, entry);
        return;
      }
      if (index === 0 && shownState === undefined) {
        yield entry('note', `task ${taskId} is ${task.state}: waiting for its first agent run`);
        shownState = task.state;
      }
      yield* waitingState();
      if (!(await sleep(poll, signal))) return;
      await reload();
    }

    let execution = executions[index]!;
    const log = new LogFile();
    const renderer = new LogRenderer(execution.agent, options.raw ?? false);
    const lines = (texts: string[]): TaskLogEntry[] =>
      texts.flatMap((line) => renderer.line(line)).map((r) => entry(r.kind, r.text, withEvent(execution.id, r.event)));
    yield entry('execution', describeStart(execution), { executionId: execution.id });

    // While following a running execution: read what is there, look again after a while. One last
    // read after it ended (the process wrote everything before its status changed).
    let ended = !follow || execution.status !== 'RUNNING';
    for (;;) {
      const path = execution.stdoutPath;
      if (path !== undefined) yield* lines(await log.read(path));
      if (ended) break;
      if (!(await sleep(poll, signal))) return;
      await reload();
      execution = executions.find((e) => e.id === execution.id) ?? execution;
      ended = execution.status !== 'RUNNING' || isFinal(task) || index < executions.length - 1;
    }
    const running = execution.status === 'RUNNING';
    // A partial last line of a run still writing is not shown: it is not complete yet.
    if (!running) yield* lines(log.rest());
    yield* renderer.end().map((r) => entry(r.kind, r.text, withEvent(execution.id, r.event)));
    if (execution.stdoutPath === undefined || !log.found) {
      yield entry('note', describeMissingLog(execution), { executionId: execution.id });
    }
    if (!running) yield entry('ended', describeEnd(execution), { executionId: execution.id });
    shownState = undefined;

    if (!follow) {
      // The task's state matters only after its latest run; an older one is history.
      if (index === executions.length - 1) yield* ending(task, entry, true);
      return;
    }
    if (options.executionId !== undefined) return;
    index += 1;
  }
}

// ---- Rendering ----------------------------------------------------------------------------------

interface Rendered {
  kind: TaskLogKind;
  text: string;
  event?: AgentEvent;
}

/**
 * Renders one execution's stdout lines through its agent's adapter. Streamed text pieces (Gemini's
 * deltas) are joined into one `assistant:` entry, shown when something else comes or the run ends.
 */
export class LogRenderer {
  private readonly adapter: AgentAdapter | undefined;
  private sessionId: string | undefined;
  private pending: { text: string; event: AgentEvent } | undefined;

  constructor(
    agent: string | undefined,
    private readonly raw = false,
  ) {
    // The command agent (and an unknown one) writes plain text: no events to read.
    this.adapter =
      agent !== undefined && agent !== 'command' && (AGENT_TYPES as readonly string[]).includes(agent)
        ? adapters[agent as AgentType]
        : undefined;
  }

  line(line: string): Rendered[] {
    if (this.raw) return [{ kind: 'raw', text: line }];
    const parsed = this.adapter && line.trimStart().startsWith('{') ? this.adapter.parseLine(line) : undefined;
    if (parsed === undefined) {
      if (line.trim() === '') return [];
      return [...this.flush(), { kind: 'output', text: line }];
    }
    return parsed.events.flatMap((event) => this.event(event));
  }

  /** What is still held back (streamed text), at the end of the run. */
  end(): Rendered[] {
    return this.flush();
  }

  private event(event: AgentEvent): Rendered[] {
    if (event.kind === 'text' && event.delta) {
      this.pending = { text: (this.pending?.text ?? '') + event.text, event };
      return [];
    }
    const shown = this.render(event);
    return shown === undefined ? [] : [...this.flush(), { ...shown, event }];
  }

  private flush(): Rendered[] {
    const pending = this.pending;
    this.pending = undefined;
    if (pending === undefined || pending.text.trim() === '') return [];
    return [{ kind: 'assistant', text: `assistant: ${indent(pending.text.trim())}`, event: pending.event }];
  }

  private render(event: AgentEvent): Omit<Rendered, 'event'> | undefined {
    switch (event.kind) {
      case 'session':
        // Claude repeats the session id on every event: show it when it is new.
        if (event.sessionId === this.sessionId) return undefined;
        this.sessionId = event.sessionId;
        return { kind: 'session', text: `session: ${event.sessionId}${event.model ? ` (${event.model})` : ''}` };
      case 'text':
        return event.text.trim() === ''
          ? undefined
          : { kind: 'assistant', text: `assistant: ${indent(event.text.trim())}` };
      case 'tool':
        if (event.status === 'started') {
          return { kind: 'tool', text: `tool ${event.name}${event.detail ? `: ${event.detail}` : ''}` };
        }
        // Completions are the normal case and only noise here; failures matter.
        return event.status === 'completed' ? undefined : { kind: 'tool', text: `tool ${event.name} ${event.status}` };
      case 'files':
        return event.paths.length === 0
          ? undefined
          : { kind: 'files', text: `files changed: ${event.paths.join(', ')}` };
      case 'usage':
        return undefined;
      case 'retry':
        return {
          kind: 'retry',
          text: `retry: API error ${event.status ?? 'unknown'}${event.delayMs !== undefined ? `, waiting ${formatSeconds(event.delayMs)}` : ''}${event.attempt !== undefined ? ` (attempt ${event.attempt})` : ''}`,
        };
      case 'rate_limit':
        if (event.status === 'allowed') return undefined;
        return {
          kind: 'rate_limit',
          text: `rate limit: ${event.status}${event.window ? ` (${event.window})` : ''}${event.resetsAt !== undefined ? `, resets ${new Date(event.resetsAt).toISOString()}` : ''}`,
        };
      case 'error':
        return { kind: 'error', text: `error: ${indent(event.message)}` };
      case 'result': {
        const r = event.result;
        const cost = r.costUsd ? ` ${formatCost(r.costUsd)}` : '';
        const turns = r.numTurns !== undefined ? ` (${r.numTurns} turn${r.numTurns === 1 ? '' : 's'})` : '';
        if (r.ok) return { kind: 'result', text: `result: success${cost}${turns}` };
        const why = [r.text, ...(r.errors ?? [])].filter((s): s is string => !!s && s.trim() !== '').join('; ');
        return {
          kind: 'result',
          // Claude reports API errors as subtype "success" with is_error: the subtype says nothing then.
          text: `result: failed${r.subtype && r.subtype !== 'success' ? ` (${r.subtype})` : ''}${cost}${why ? `: ${indent(why)}` : ''}`,
        };
      }
    }
  }
}

// ---- Reading the file ---------------------------------------------------------------------------

/** A growing log file, read from where the last read stopped; complete lines only. */
class LogFile {
  private offset = 0;
  private partial: Buffer = Buffer.alloc(0);
  /** Reused by every read: a follower reads the file several times a second. */
  private readonly buffer = Buffer.allocUnsafe(256 * 1024);
  found = false;

  async read(path: string): Promise<string[]> {
    let handle;
    try {
      handle = await open(path, 'r');
    } catch {
      return []; // Not there (yet): the runner creates it as the process starts.
    }
    this.found = true;
    const chunks: Buffer[] = [this.partial];
    try {
      for (;;) {
        const { bytesRead } = await handle.read(this.buffer, 0, this.buffer.length, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        chunks.push(Buffer.from(this.buffer.subarray(0, bytesRead)));
      }
    } finally {
      await handle.close();
    }
    const data = Buffer.concat(chunks);
    const end = data.lastIndexOf(0x0a);
    this.partial = end < 0 ? data : data.subarray(end + 1);
    // Split bytes, not text: a multi-byte character cut at the end of a read stays whole.
    return end < 0 ? [] : splitLines(data.subarray(0, end).toString('utf8'));
  }

  /** The last line when the file does not end with a newline. */
  rest(): string[] {
    const rest = this.partial.toString('utf8');
    this.partial = Buffer.alloc(0);
    return rest === '' ? [] : splitLines(rest);
  }
}

function splitLines(text: string): string[] {
  return text.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
}

// ---- Descriptions ------------------------------------------------------------------------------

function isFinal(task: Task): boolean {
  return SETTLED_TASK_STATES.includes(task.state) || awaitsAnswer(task);
}

function awaitsAnswer(task: Task): boolean {
  return task.state === 'BLOCKED' && task.question !== undefined;
}

/** Where the task stands at the end: its state, a question to answer, what to do next. */
function* ending(
  task: Task,
  entry: (kind: TaskLogKind, text: string, extra?: Partial<TaskLogEntry>) => TaskLogEntry,
  snapshot = false,
): Generator<TaskLogEntry> {
  yield entry('state', describeState(task), { state: task.state });
  if (awaitsAnswer(task)) {
    const q = task.question!;
    yield entry('question', `question: ${q.text}${q.options?.length ? ` (${q.options.join(' / ')})` : ''}`);
    yield entry('next', `answer it: claudomator task answer ${task.id} "<answer>"`);
  } else if (TERMINAL_FAILURE_STATES.includes(task.state)) {
    yield entry('next', `see it: claudomator task show ${task.id}; run it again: claudomator task retry ${task.id}`);
  } else if (snapshot && !SETTLED_TASK_STATES.includes(task.state)) {
    yield entry('next', `follow it: claudomator task logs ${task.id} -f`);
  }
}

function describeState(task: Task): string {
  const detail = SETTLED_TASK_STATES.includes(task.state)
    ? TERMINAL_FAILURE_STATES.includes(task.state)
      ? task.error
      : task.summary
    : task.state === 'QUEUED'
      ? task.error // e.g. "claude rate limited until …"
      : undefined;
  return `task ${task.id} is ${task.state}${detail ? `: ${indent(firstLines(detail))}` : ''}`;
}

function describeStart(e: Execution): string {
  const agent = e.agent ? `${e.agent}${e.model ? ` (${e.model})` : ''}` : 'agent';
  // The answer to a question, or the workflow's own message after a rate limit or a crash.
  const resumed = e.resumeAnswer !== undefined ? `, resumed with "${oneLine(e.resumeAnswer, 120)}"` : '';
  return `── execution ${e.id}: ${agent}, started ${e.startTime}${resumed}`;
}

function describeEnd(e: Execution): string {
  const facts = [
    e.costUsd ? formatCost(e.costUsd) : undefined,
    e.changeStats?.filesChanged
      ? `${e.changeStats.filesChanged} files +${e.changeStats.insertions} -${e.changeStats.deletions}`
      : undefined,
  ].filter((f): f is string => f !== undefined);
  return `── execution ${e.id} ended ${e.status}${facts.length ? ` (${facts.join(', ')})` : ''}${
    e.error ? `: ${indent(firstLines(e.error))}` : ''
  }`;
}

function describeMissingLog(e: Execution): string {
  if (e.stdoutPath === undefined) {
    return e.status === 'RUNNING'
      ? 'the agent has not started yet (its sandbox is being prepared)'
      : 'this run ended before its agent started: it has no log';
  }
  return `no log at ${e.stdoutPath} on this machine: logs stay in the data dir of the worker that ran the agent`;
}

function withEvent(executionId: string, event: AgentEvent | undefined): Partial<TaskLogEntry> {
  return event === undefined ? { executionId } : { executionId, event };
}

/** Continuation lines indented under the entry's first line. */
function indent(text: string): string {
  return text.replace(/\r?\n/g, '\n  ');
}

function firstLines(text: string, max = 20): string {
  const lines = text.trim().split('\n');
  return lines.length <= max ? lines.join('\n') : `${lines.slice(0, max).join('\n')}\n…`;
}

function oneLine(text: string, max: number): string {
  const line = text.trim().replace(/\s+/g, ' ');
  return line.length <= max ? line : `${line.slice(0, max - 1)}…`;
}

function formatCost(usd: number): string {
  return `$${usd >= 0.01 ? usd.toFixed(2) : usd.toFixed(4)}`;
}

function formatSeconds(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${(ms / 1000).toFixed(1)}s`;
}

/** Wait, or stop early when aborted; false when aborted. */
async function sleep(ms: number, signal: AbortSignal | undefined): Promise<boolean> {
  try {
    await setTimeout(ms, undefined, signal ? { signal } : {});
    return true;
  } catch {
    return false; // AbortError: the only way it throws
  }
}
