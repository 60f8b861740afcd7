/**
 * The `runAgent` activity: one run of an agent CLI on a task, in the task's git sandbox.
 *
 * It prepares the sandbox (see sandbox.ts), records the execution's file paths in the store before the
 * process starts, spawns the adapter's command line in its own process group with a minimal environment
 * (process.ts), reads the CLI's event stream as it comes, heartbeats progress (bytes, last event, session
 * id), and returns a normalized result. Agent outcomes (success, question, rate limit, quota, budget,
 * timeout, failure) are results, never exceptions; it throws only for infrastructure problems (retried)
 * and for configurations that cannot work (non-retryable `AgentConfig` / `InvalidInput`).
 *
 * Crash safety: the heartbeat carries the session id and the base commit. When the worker dies mid-run,
 * the next attempt (possibly on a restarted worker of the same host) kills what is left of the earlier
 * attempt, then resumes that session in the same sandbox with "You were interrupted; continue the task."
 * instead of starting over. If the CLI no longer knows a session it is asked to resume (after a crash or
 * with a human's answer), it starts a fresh run in the same sandbox, told what the lost session was told.
 *
 * Every run that ends has a summary, the agent's last message: the CLI's final answer for a success, the
 * last thing the agent said before it failed, timed out or ran out of budget.
 *
 * Cancellation, heartbeat timeout and worker shutdown all cancel the activity context: the whole process
 * group and every process marked with the execution id is killed (SIGTERM, SIGKILL after a grace period),
 * the agent's last message is written to the execution row and the task as their summary (a cancelled
 * activity returns no result), and the cancellation is rethrown.
 *
 * Longer than most files because one run is one sequence (sandbox, spawn, follow, stop, classify,
 * count, record); the pieces with a life of their own live beside it (process.ts, sandbox.ts, git.ts).
 */
import { randomUUID } from 'node:crypto';
import { mkdir, readFile, rm } from 'node:fs/promises';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import type { Config } from '../infra/config.js';
import { NotFoundError, type Store } from '../store/index.js';
import { hostTaskQueue } from '../workflows/definitions.js';
import { FailureType } from '../workflows/failures.js';
import type {
  AgentOutcome,
  AgentRunInput,
  AgentRunProgress,
  AgentRunResult,
  ChangeStats,
  ExecutionPaths,
  Question,
} from '../workflows/types.js';
import {
  type AgentAdapter,
  AgentConfigError,
  type Classification,
  emptyTranscript,
  type ExitInfo,
  type InvocationContext,
  readLine,
  settleTranscript,
  type Transcript,
} from '../agents/adapter.js';
import { DEFAULT_QUOTA_DELAY_MS, DEFAULT_RATE_LIMIT_DELAY_MS } from '../agents/limits.js';
import { adapterFor } from '../agents/registry.js';
import { changeStats, findShortstat, hasCommitIdentity, headSha } from './git.js';
import { AgentProcess, handOver, redact, SpawnError } from './process.js';
import { killMarkedProcesses } from './process-tree.js';
import { executionPaths, prepareSandbox, SandboxInputError, type Sandbox } from './sandbox.js';

export interface AgentActivityDeps {
  store: Store;
  config: Readonly<Config>;
  /** How long a killed agent gets between SIGTERM and SIGKILL (default 5 s). */
  killGraceMs?: number;
  /** How often progress is heartbeated (default 1 s; the SDK throttles what it sends to the server). */
  heartbeatIntervalMs?: number;
}

/**
 * The environment variable, set for every agent process and its descendants, that names the run:
 * `<executionId>:<attempt>`. Per attempt, so that an attempt never kills a later one's processes.
 */
export const RUN_MARKER = 'CLAUDOMATOR_RUN_ID';
/** Where the agent writes a question for a human. */
export const QUESTION_FILE_ENV = 'CLAUDOMATOR_QUESTION_FILE';
/** The message that resumes a session whose run was cut off by a worker crash. */
export const INTERRUPTED_PROMPT = 'You were interrupted; continue the task.';
/** Files claudomator may keep in a checkout; never counted as the agent's changes. */
export const ORCHESTRATOR_PATHS = ['.claudomator'];

const SUMMARY_MAX_CHARS = 4_000;
/** Outcomes of runs that ended without finishing the task: their summary is the agent's last message. */
const ENDED_UNFINISHED: ReadonlySet<AgentOutcome> = new Set(['failed', 'timed_out', 'budget_exceeded']);

/** The question protocol, appended to the agent's system prompt. */
export function questionInstructions(questionFile: string): string {
  return [
    'If you cannot go on without a decision or information from a human, write your question as JSON,',
    '{"question": "...", "options": ["...", "..."]} (options are optional), to the file named by the',
    `environment variable ${QUESTION_FILE_ENV} (${questionFile}), then stop and end your turn.`,
    'You will be resumed in this same session with the answer. Never write that file inside the repository.',
  ].join(' ');
}

/** The message that resumes a session with a human's answer. */
export function answerPrompt(answer: string): string {
  return `A human answered your question:\n\n${answer}\n\nContinue the task.`;
}

/** The prompt of a fresh run that stands in for a session the CLI no longer has, which was to get `message`. */
export function lostSessionPrompt(prompt: string, message: string): string {
  return [
    prompt,
    'Earlier work on this task ran in a session that is no longer available; what it changed is in this checkout.',
    `That session was then told:\n\n${message}`,
    'Continue the task.',
  ].join('\n\n');
}

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createAgentActivities(deps: AgentActivityDeps) {
  return {
    /** Run an agent on a task in its sandbox; see the module comment. */
    runAgent: (input: AgentRunInput): Promise<AgentRunResult> => new AgentRun(deps, input).run(),
  };
}

type Mode =
  | { kind: 'new'; sessionId?: string; prompt?: string }
  | { kind: 'answer'; sessionId: string; answer: string }
  | { kind: 'recover'; sessionId: string };

interface AttemptEnd {
  transcript: Transcript;
  exit: ExitInfo;
  stop: 'exited' | 'timeout' | 'budget';
}

class AgentRun {
  private readonly ctx = Context.current();
  private readonly killGraceMs: number;
  private readonly heartbeatIntervalMs: number;
  private readonly marker: { name: string; value: string };
  private readonly started = Date.now();
  private sessionRecorded: string | undefined;
  /** What earlier processes of this execution (earlier attempts included) have reported. */
  private progress: AgentRunProgress | undefined;
  /** The process running now and its transcript, for live progress. */
  private live: { proc: AgentProcess; transcript: Transcript } | undefined;

  constructor(
    private readonly deps: AgentActivityDeps,
    private readonly input: AgentRunInput,
  ) {
    this.killGraceMs = deps.killGraceMs ?? 5_000;
    this.heartbeatIntervalMs = deps.heartbeatIntervalMs ?? 1_000;
    this.marker = { name: RUN_MARKER, value: `${input.executionId}:${this.ctx.info.attempt}` };
  }

  async run(): Promise<AgentRunResult> {
    const { input } = this;
    const { config } = this.deps;
    const adapter = configErrorsAreFinal(() => adapterFor(input.agent));
    const paths = await inputErrorsAreFinal(() => executionPaths(config.dataDir, input.taskId, input.executionId));
    if (!(Number.isFinite(input.timeoutMs) && input.timeoutMs > 0)) {
      throw ApplicationFailure.nonRetryable(
        `timeoutMs must be a positive number of milliseconds, got ${String(input.timeoutMs)}`,
        FailureType.InvalidInput,
      );
    }
    const previous =
      this.ctx.info.attempt > 1 ? readProgress(this.ctx.info.heartbeatDetails, input.executionId) : undefined;
    // Heartbeats start at once (a clone may take a while) and carry what earlier attempts knew, so that
    // an attempt that dies early does not lose the session id for the next one.
    this.progress = { ...previous, executionId: input.executionId, bytes: previous?.bytes ?? 0, paths };
    this.beat();
    const ticker = setInterval(() => this.beat(), this.heartbeatIntervalMs);
    try {
      return await this.prepareAndRun(adapter, paths, previous);
    } catch (err) {
      // A git command killed by the cancellation fails on its own terms; report the cancellation.
      const { cancellationSignal } = this.ctx;
      if (cancellationSignal.aborted && !(err instanceof CancelledFailure)) {
        throw cancellationSignal.reason instanceof CancelledFailure
          ? cancellationSignal.reason
          : new CancelledFailure('cancelled');
      }
      throw err;
    } finally {
      clearInterval(ticker);
    }
  }

  private async prepareAndRun(
    adapter: AgentAdapter,
    paths: ExecutionPaths,
    previous: AgentRunProgress | undefined,
  ): Promise<AgentRunResult> {
    const { input } = this;
    const { store } = this.deps;
    await mkdir(paths.artifactDir, { recursive: true });
    const sandbox = await inputErrorsAreFinal(() =>
      prepareSandbox(paths.sandboxDir, input.repository, { signal: this.ctx.cancellationSignal }),
    );
    try {
      await store.updateExecution(input.executionId, {
        stdoutPath: paths.stdoutPath,
        stderrPath: paths.stderrPath,
        artifactDir: paths.artifactDir,
        sandboxDir: paths.sandboxDir,
      });
    } catch (err) {
      if (err instanceof NotFoundError) {
        throw ApplicationFailure.nonRetryable(
          `execution ${input.executionId} does not exist: the task workflow creates its row (status RUNNING) before it calls runAgent`,
          FailureType.NotFound,
        );
      }
      throw err;
    }
    const baseSha = previous?.baseSha ?? (await headSha(sandbox.dir));
    if (this.progress) this.progress.baseSha = baseSha;

    if (this.ctx.info.attempt > 1) {
      // The worker of an earlier attempt died; its agent may still be running in this sandbox.
      const killed = await killMarkedProcesses(
        { name: RUN_MARKER, prefix: `${input.executionId}:`, except: this.marker.value },
        this.killGraceMs,
      );
      if (killed > 0) this.ctx.log.warn('Killed processes left by an earlier attempt', { ...this.scope(), killed });
    }
    // A question counts only when written by this attempt.
    await rm(paths.questionFile, { force: true });

    let mode = this.chooseMode(adapter, previous);
    let end = await this.attempt(adapter, mode, sandbox, paths);
    if (mode.kind !== 'new' && end.stop === 'exited' && adapter.isUnknownSession(end.transcript, end.exit)) {
      // The session is gone (another home, a wiped config directory): the work in the sandbox is not.
      this.ctx.log.warn('The session to resume is unknown to the CLI; starting a fresh run in the same sandbox', {
        ...this.scope(),
        sessionId: mode.sessionId,
      });
      const told = mode.kind === 'answer' ? answerPrompt(mode.answer) : INTERRUPTED_PROMPT;
      mode = { ...this.newMode(adapter), prompt: lostSessionPrompt(input.prompt, told) };
      end = await this.attempt(adapter, mode, sandbox, paths);
    }
    return this.finish(adapter, end, mode, sandbox, paths, baseSha);
  }

  private chooseMode(adapter: AgentAdapter, previous: AgentRunProgress | undefined): Mode {
    const { resume } = this.input;
    if (resume && !adapter.resumable) {
      throw ApplicationFailure.nonRetryable(
        `the ${adapter.type} agent has no session to resume: start a new run instead`,
        FailureType.AgentConfig,
      );
    }
    // An attempt that got output out of the CLI has delivered its prompt (or answer) to the session already.
    if (adapter.resumable && previous?.sessionId && previous.bytes > 0) {
      return { kind: 'recover', sessionId: previous.sessionId };
    }
    if (resume) return { kind: 'answer', sessionId: resume.sessionId, answer: resume.answer };
    return this.newMode(adapter);
  }

  private newMode(adapter: AgentAdapter): Extract<Mode, { kind: 'new' }> {
    return { kind: 'new', sessionId: adapter.choosesSessionId ? randomUUID() : undefined };
  }

  private async attempt(
    adapter: AgentAdapter,
    mode: Mode,
    sandbox: Sandbox,
    paths: ExecutionPaths,
  ): Promise<AttemptEnd> {
    const { input, ctx } = this;
    const { config } = this.deps;
    const invocationContext: InvocationContext = {
      bin: adapter.type === 'command' ? '' : config.agentBins[adapter.type],
      config: input.config,
      cwd: sandbox.dir,
      systemPrompt: [input.config.systemPromptAppend, questionInstructions(paths.questionFile)]
        .filter((s): s is string => !!s && s.trim() !== '')
        .join('\n\n'),
      writableDirs: [paths.artifactDir],
      run: mode.kind === 'new' ? { prompt: mode.prompt ?? input.prompt, sessionId: mode.sessionId } : undefined,
      resume:
        mode.kind === 'answer'
          ? { sessionId: mode.sessionId, message: answerPrompt(mode.answer) }
          : mode.kind === 'recover'
            ? { sessionId: mode.sessionId, message: INTERRUPTED_PROMPT }
            : undefined,
      isRoot: (config.agentUser?.uid ?? process.getuid?.()) === 0,
    };
    const invocation = configErrorsAreFinal(() => adapter.invocation(invocationContext));
    const env: Record<string, string> = {
      ...config.agentEnv,
      ...invocation.env,
      [QUESTION_FILE_ENV]: paths.questionFile,
      CLAUDOMATOR_TASK_ID: input.taskId,
      ...(await this.commitIdentity(sandbox.dir, adapter.type)),
      ...(config.agentUser ? { HOME: config.agentUser.home } : {}),
    };
    // Under its own uid the agent owns what it writes: the checkout (the worker's git may have added
    // files since the last run), the execution dir (the question file) and its HOME (sessions).
    const user = config.agentUser;
    if (user) {
      for (const dir of [sandbox.dir, paths.artifactDir, user.home]) await handOver(dir, user);
    }

    const transcript = emptyTranscript();
    transcript.model = input.config.model;
    transcript.sessionId = mode.sessionId;
    const budget = input.config.maxBudgetUsd;
    let overBudget: (() => void) | undefined;
    const budgetHit = new Promise<'budget'>((resolve) => {
      overBudget = () => resolve('budget');
    });

    if (ctx.cancellationSignal.aborted) throw new CancelledFailure('cancelled before the agent started');

    let proc: AgentProcess;
    try {
      proc = await AgentProcess.spawn({
        file: invocation.file,
        args: invocation.args,
        cwd: sandbox.dir,
        env,
        stdoutPath: paths.stdoutPath,
        stderrPath: paths.stderrPath,
        marker: this.marker,
        host: config.hostId,
        ...(user ? { user: { uid: user.uid, gid: user.gid } } : {}),
        onLine: (line) => {
          const parsed = readLine(adapter, transcript, line);
          // Checked on the lines after a turn's result, so a run that ends within its last turn is not cut.
          const final = parsed?.events.some((e) => e.kind === 'result') ?? false;
          if (budget !== undefined && !final && adapter.estimateCostUsd) {
            const cost = adapter.estimateCostUsd(transcript);
            if (cost !== undefined && cost > budget) overBudget?.();
          }
        },
      });
    } catch (err) {
      if (err instanceof SpawnError) {
        const hint =
          adapter.type === 'command'
            ? 'check config.command'
            : `set CLAUDOMATOR_${adapter.type.toUpperCase()}_BIN or put ${adapter.type} on PATH`;
        throw ApplicationFailure.nonRetryable(`${err.message}: ${hint}`, FailureType.AgentConfig);
      }
      throw err;
    }

    ctx.log.info('Agent started', {
      ...this.scope(),
      mode: mode.kind,
      pid: proc.pid,
      command: redact(describeCommand(invocation.file, invocation.args), env),
    });

    this.live = { proc, transcript };
    this.beat();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<'timeout'>((resolve) => {
      timer = setTimeout(() => resolve('timeout'), input.timeoutMs);
    });
    const cancelled = ctx.cancelled.then(
      () => ({ cancelled: new CancelledFailure('cancelled') }),
      (err: unknown) => ({ cancelled: err }),
    );

    try {
      const first = await Promise.race([proc.done.then(() => 'exited' as const), timedOut, budgetHit, cancelled]);
      if (typeof first === 'object') {
        ctx.log.info('Agent cancelled; killing its processes', { ...this.scope(), pid: proc.pid });
        await proc.terminate(this.killGraceMs);
        await proc.done.catch(() => undefined);
        await this.recordCancelledSummary(settleTranscript(adapter, transcript));
        throw first.cancelled;
      }
      if (first !== 'exited') {
        ctx.log.info(
          first === 'timeout' ? 'Agent timed out; killing its processes' : 'Agent over budget; killing its processes',
          {
            ...this.scope(),
            pid: proc.pid,
          },
        );
        await proc.terminate(this.killGraceMs);
      }
      const exit = await proc.done;
      return {
        transcript: settleTranscript(adapter, transcript),
        exit: { ...exit, stderrTail: proc.stderrTail(), stdoutTail: proc.stdoutTail() },
        stop: first,
      };
    } finally {
      clearTimeout(timer);
      // Whatever happened above, nothing of this run outlives it.
      await proc.terminate(this.killGraceMs);
      this.progress = this.current();
      this.live = undefined;
      this.beat();
    }
  }

  /** The progress now: what earlier processes reported plus the running one. */
  private current(): AgentRunProgress | undefined {
    if (this.progress === undefined) return undefined;
    const live = this.live;
    if (live === undefined) return this.progress;
    return {
      ...this.progress,
      sessionId: live.transcript.sessionId ?? this.progress.sessionId,
      bytes: this.progress.bytes + live.proc.bytes,
      lastEvent: live.transcript.lastEventType ?? this.progress.lastEvent,
    };
  }

  private beat(): void {
    const progress = this.current();
    if (progress === undefined) return;
    this.ctx.heartbeat(progress);
    this.recordSession(progress.sessionId);
  }

  private async finish(
    adapter: AgentAdapter,
    end: AttemptEnd,
    mode: Mode,
    sandbox: Sandbox,
    paths: ExecutionPaths,
    baseSha: string,
  ): Promise<AgentRunResult> {
    const { input, ctx } = this;
    const { config } = this.deps;
    const now = Date.now();
    const t = end.transcript;

    let verdict: Classification;
    if (end.stop === 'timeout') {
      verdict = {
        outcome: 'failed',
        error: `the run exceeded its time limit of ${formatDuration(input.timeoutMs)}`,
        costUsd: adapter.estimateCostUsd?.(t) ?? t.result?.costUsd,
      };
    } else if (end.stop === 'budget') {
      verdict = {
        outcome: 'budget_exceeded',
        error: `the estimated cost ($${(adapter.estimateCostUsd?.(t) ?? 0).toFixed(4)}) passed the task budget ($${String(input.config.maxBudgetUsd)})`,
        costUsd: adapter.estimateCostUsd?.(t),
      };
    } else {
      verdict = overBudget(adapter.classify(t, end.exit, now), input.config.maxBudgetUsd, adapter.type);
    }

    const question = adapter.resumable ? await readQuestion(paths.questionFile) : undefined;
    const sessionId = t.sessionId ?? (mode.kind === 'new' ? undefined : mode.sessionId);
    const outcome = question ? 'question' : end.stop === 'timeout' ? 'timed_out' : verdict.outcome;
    const summary = verdict.summary ?? (ENDED_UNFINISHED.has(outcome) ? t.lastMessage : undefined);
    const result: AgentRunResult = {
      outcome,
      sessionId,
      summary: summaryOf(summary),
      costUsd: verdict.costUsd,
      changeStats: await this.countChanges(sandbox.dir, baseSha, paths, t, end.exit),
      paths,
      hostQueue: hostTaskQueue(config.agentTaskQueue, config.hostId),
    };
    if (question) result.question = question;
    if (result.outcome === 'rate_limited' || result.outcome === 'quota_exhausted') {
      const fallback = now + (result.outcome === 'rate_limited' ? DEFAULT_RATE_LIMIT_DELAY_MS : DEFAULT_QUOTA_DELAY_MS);
      result.retryAt = new Date(verdict.retryAt ?? fallback).toISOString();
    }
    if (verdict.error && result.outcome !== 'success' && result.outcome !== 'question') {
      result.error = redact(verdict.error, config.agentEnv);
    }
    this.recordSession(sessionId);
    ctx.log.info('Agent finished', {
      ...this.scope(),
      outcome: result.outcome,
      sessionId,
      exitCode: end.exit.exitCode,
      signal: end.exit.signal,
      durationMs: now - this.started,
    });
    return result;
  }

  /** Changes since the base commit from git; the CLI's own numbers, then a shortstat line in its output, as fallbacks. */
  private async countChanges(
    dir: string,
    baseSha: string,
    paths: ExecutionPaths,
    t: Transcript,
    exit: ExitInfo,
  ): Promise<ChangeStats | undefined> {
    try {
      return await changeStats(dir, baseSha, {
        scratchIndex: path.join(paths.artifactDir, `changes-${randomUUID()}.index`),
        exclude: ORCHESTRATOR_PATHS,
      });
    } catch (err) {
      this.ctx.log.warn('git could not count the changes; using the agent output instead', {
        ...this.scope(),
        error: err instanceof Error ? err.message : String(err),
      });
    }
    if (t.files.length > 0 || t.result?.linesAdded !== undefined) {
      return {
        filesChanged: t.files.length,
        insertions: t.result?.linesAdded ?? 0,
        deletions: t.result?.linesRemoved ?? 0,
      };
    }
    return findShortstat(exit.stdoutTail);
  }

  /** Git needs an identity for the agent's own commits; give one only where git config has none. */
  private async commitIdentity(dir: string, agent: string): Promise<Record<string, string>> {
    if (await hasCommitIdentity(dir)) return {};
    const name = `claudomator ${agent} agent`;
    const email = `${agent}@claudomator.invalid`;
    return { GIT_AUTHOR_NAME: name, GIT_AUTHOR_EMAIL: email, GIT_COMMITTER_NAME: name, GIT_COMMITTER_EMAIL: email };
  }

  /**
   * A cancelled run returns no result: its summary, the agent's last message, goes to the execution row
   * and the task here (best effort: the cancellation must go on).
   */
  private async recordCancelledSummary(t: Transcript): Promise<void> {
    const summary = summaryOf(t.lastMessage);
    if (summary === undefined) return;
    try {
      await this.deps.store.updateExecution(this.input.executionId, { summary });
      await this.deps.store.updateTaskSummary(this.input.taskId, summary);
    } catch (err) {
      this.ctx.log.warn('Could not record the summary of the cancelled run', {
        ...this.scope(),
        error: err instanceof Error ? err.message : String(err),
      });
    }
  }

  /** Write a newly seen session id to the execution row (best effort: the workflow records it too). */
  private recordSession(sessionId: string | undefined): void {
    if (sessionId === undefined || sessionId === this.sessionRecorded) return;
    this.sessionRecorded = sessionId;
    this.deps.store.updateExecution(this.input.executionId, { sessionId }).catch((err: unknown) => {
      this.sessionRecorded = undefined;
      this.ctx.log.warn('Could not record the session id', {
        ...this.scope(),
        error: err instanceof Error ? err.message : String(err),
      });
    });
  }

  private scope(): Record<string, unknown> {
    return {
      taskId: this.input.taskId,
      executionId: this.input.executionId,
      agent: this.input.agent,
      attempt: this.ctx.info.attempt,
    };
  }
}

/** The earlier attempt's progress, if the heartbeat details are this execution's. */
function readProgress(details: unknown, executionId: string): AgentRunProgress | undefined {
  if (typeof details !== 'object' || details === null) return undefined;
  const p = details as Partial<AgentRunProgress>;
  if (p.executionId !== executionId) return undefined;
  return {
    executionId,
    sessionId: typeof p.sessionId === 'string' && p.sessionId !== '' ? p.sessionId : undefined,
    bytes: typeof p.bytes === 'number' ? p.bytes : 0,
    lastEvent: p.lastEvent,
    paths: p.paths as ExecutionPaths,
    baseSha: typeof p.baseSha === 'string' && /^[0-9a-f]{40,64}$/.test(p.baseSha) ? p.baseSha : undefined,
  };
}

/** The agent's question, or undefined when it asked none. Text that is not the JSON asked for is the question as it stands. */
export async function readQuestion(file: string): Promise<Question | undefined> {
  let raw: string;
  try {
    raw = (await readFile(file, 'utf8')).trim();
  } catch {
    return undefined;
  }
  if (raw === '') return undefined;
  try {
    const value = JSON.parse(raw) as { question?: unknown; options?: unknown };
    if (typeof value.question === 'string' && value.question.trim() !== '') {
      const options = Array.isArray(value.options)
        ? value.options.filter((o): o is string => typeof o === 'string' && o.trim() !== '')
        : [];
      return { text: value.question.trim(), ...(options.length > 0 ? { options } : {}) };
    }
  } catch {
    // Not JSON: the agent asked in its own words.
  }
  return { text: clip(raw, SUMMARY_MAX_CHARS) };
}

/** Run `fn`; an agent configuration error it throws (unknown agent, bad command line) becomes a non-retryable failure. */
function configErrorsAreFinal<T>(fn: () => T): T {
  try {
    return fn();
  } catch (err) {
    if (err instanceof AgentConfigError) throw ApplicationFailure.nonRetryable(err.message, FailureType.AgentConfig);
    throw err;
  }
}

/** Await `fn`; an invalid sandbox input it throws (a bad id or path) becomes a non-retryable failure. */
async function inputErrorsAreFinal<T>(fn: () => T | Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof SandboxInputError) throw ApplicationFailure.nonRetryable(err.message, FailureType.InvalidInput);
    throw err;
  }
}

function describeCommand(file: string, args: readonly string[]): string {
  return [file, ...args]
    .map((a) => (a.length > 120 ? `${JSON.stringify(a.slice(0, 120))}…` : JSON.stringify(a)))
    .join(' ');
}

/** A summary as stored: trimmed, clipped, and absent when there is nothing to say. */
function summaryOf(text: string | undefined): string | undefined {
  const trimmed = text?.trim();
  return trimmed ? clip(trimmed, SUMMARY_MAX_CHARS) : undefined;
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

function formatDuration(ms: number): string {
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `${ms / 60_000}m`;
  return ms % 1000 === 0 ? `${ms / 1000}s` : `${ms}ms`;
}

/**
 * A run that ended well but cost more than the task's budget ends BUDGET_EXCEEDED all the same. The
 * runner stops a run mid-way when its tokens arrive while it runs; Gemini and Codex report them only
 * with their turn's last event, so for them this check after the run is where the budget holds.
 */
function overBudget(verdict: Classification, budget: number | undefined, agent: string): Classification {
  if (verdict.outcome !== 'success' || budget === undefined || verdict.costUsd === undefined) return verdict;
  if (verdict.costUsd <= budget) return verdict;
  return {
    ...verdict,
    outcome: 'budget_exceeded',
    error:
      `the estimated cost ($${verdict.costUsd.toFixed(4)}) passed the task budget ($${String(budget)}); ` +
      `${agent} reports its tokens only when its turn ends, so the run could not be stopped sooner`,
  };
}
