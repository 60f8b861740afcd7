/**
 * The task's state and rules, with no Temporal imports: the `TaskEntity` class (one per task
 * workflow, at the end of this file) and the pure rules it is built from — what an agent outcome
 * means for the execution record, the task state and the agent pool, and what a successful task
 * becomes given its subtasks. The task workflow wires them to Temporal; tests cover them without a
 * server.
 *
 * Longer than most files because the entity and the small rules it is built from are read together.
 */
import { assertNever } from './assert.js';
import { withFailureHistory } from './failure-history.js';
import { dependencySatisfied, TERMINAL_FAILURE_STATES } from './states.js';
import { AGENT_TYPES } from './types.js';
import type {
  AgentChoice,
  AgentConfig,
  AgentOutcome,
  AgentRunInput,
  AgentRunResult,
  AgentType,
  Execution,
  ExecutionStatus,
  Question,
  RunReport,
  Task,
  TaskContext,
  TaskKind,
  TaskSettledNotice,
  TaskState,
  TaskStatus,
} from './types.js';

export function executionStatusFor(outcome: AgentOutcome): ExecutionStatus {
  switch (outcome) {
    case 'success':
      return 'SUCCEEDED';
    case 'question':
      return 'QUESTION';
    case 'rate_limited':
    case 'quota_exhausted':
      return 'RATE_LIMITED';
    case 'budget_exceeded':
      return 'BUDGET_EXCEEDED';
    case 'timed_out':
      return 'TIMED_OUT';
    case 'failed':
      return 'FAILED';
    default:
      return assertNever(outcome);
  }
}

/**
 * What the pool is told when the slot goes back. Only a real agent failure counts towards draining;
 * a rate limit pauses the agent (it is not a failure); a
 * question, the task's own budget or timeout say nothing about the agent's health, and neither does a
 * failed validation run (it says the story's code is wrong).
 */
export function poolReportFor(
  result: Pick<AgentRunResult, 'outcome' | 'error' | 'retryAt'>,
  now: number,
  kind: TaskKind = 'task',
): RunReport {
  const until = result.retryAt ?? new Date(now + 60_000).toISOString();
  switch (result.outcome) {
    case 'success':
      return { kind: 'success' };
    case 'failed':
      if (kind === 'validation') return { kind: 'neutral' };
      return { kind: 'failed', error: result.error ?? 'the agent failed' };
    case 'rate_limited':
      return { kind: 'rate_limited', until };
    case 'quota_exhausted':
      return { kind: 'quota_exhausted', until };
    case 'question':
    case 'budget_exceeded':
    case 'timed_out':
      return { kind: 'neutral' };
    default:
      return assertNever(result.outcome);
  }
}

/** The state a run that ended badly leaves the task in. */
export function failureStateFor(outcome: 'budget_exceeded' | 'timed_out' | 'failed'): TaskState {
  return outcome === 'budget_exceeded' ? 'BUDGET_EXCEEDED' : outcome === 'timed_out' ? 'TIMED_OUT' : 'FAILED';
}

/** A task's own success: READY for review at the top level, COMPLETED as a subtask. */
export function doneState(isSubtask: boolean): TaskState {
  return isSubtask ? 'COMPLETED' : 'READY';
}

export interface SubtaskWait {
  /** Subtasks that are not COMPLETED yet. */
  pending: string[];
  /** Subtasks that ended badly; the parent stays BLOCKED and says which. */
  failed: Array<{ taskId: string; state: TaskState }>;
}

/** Which subtasks keep a parent BLOCKED (all must be COMPLETED). */
export function subtaskWait(subtasks: Readonly<Record<string, TaskState>>): SubtaskWait {
  const entries = Object.entries(subtasks).sort(([a], [b]) => a.localeCompare(b));
  return {
    pending: entries.filter(([, state]) => state !== 'COMPLETED').map(([id]) => id),
    failed: entries
      .filter(([, state]) => ['FAILED', 'TIMED_OUT', 'CANCELLED', 'BUDGET_EXCEEDED'].includes(state))
      .map(([taskId, state]) => ({ taskId, state })),
  };
}

/** An agent type claudomator knows (an execution row stores the agent as text). */
export function isAgentType(value: string | undefined): value is AgentType {
  return (AGENT_TYPES as readonly string[]).includes(value ?? '');
}

/** The task's instructions for a fresh run, with what a human said earlier in the task. */
export function toldByHuman(instructions: string, words: string): string {
  return `${instructions}\n\nEarlier in this task a human told you: ${words}`;
}

/** Why a denied slot request fails the task, and what the operator changes. */
export function deniedSlotError(choice: AgentChoice, poolWorkflowId: string, reason: string): string {
  const refused = `the agent pool (${poolWorkflowId}) refused ${choice === 'any' ? 'a slot for any agent' : `a ${choice} slot`}: ${reason}`;
  if (choice === 'any') return refused;
  return (
    `${refused}. Add ${choice} to CLAUDOMATOR_AGENTS of the workers that start the pool (a running pool keeps ` +
    `the agents it started with) or give the task an agent the pool runs, then \`claudomator task retry\` it.`
  );
}

/** A task's state as a waiter compares it: BLOCKED on a question differs from BLOCKED on subtasks. */
export function taskStateKey(state: TaskState, hasQuestion: boolean): string {
  return hasQuestion ? `${state}?` : state;
}

/** A session to continue on the next run: by the agent that owns it, on the host that holds it. */
export interface PendingResume {
  sessionId: string;
  /** The human's answer or message (or the note after a rate limit) the session resumes with. */
  answer: string;
  /** The agent that ran the session; absent (an execution recorded without one): the task's own choice. */
  agent?: AgentType;
  /** The queue of the host with the sandbox and the session files; absent: the shared agent queue. */
  hostQueue?: string;
}

/** What one run's outcome means (`TaskEntity.handleRunResult`): the execution's status, the pool's report, and what comes next. */
export type RunVerdict = { executionStatus: ExecutionStatus; pool: RunReport } & (
  | /** Success: publish the work, then complete (or wait for subtasks: `completion`). */ { next: 'complete' }
  | /** A question: BLOCKED until `answer`, then `resumeWithAnswer`. */ { next: 'ask'; question: Question }
  | /** A rate limit or quota: QUEUED again (a resume when there is a session), not a failure. */ {
      next: 'requeue';
      error: string;
    }
  | /** The run ended badly: the task ends in `state`. */ { next: 'settle'; state: TaskState; error: string }
);

const RATE_LIMIT_NOTE = 'You were interrupted by a rate limit. Continue the task where you left off.';

/**
 * TaskEntity: one task's state and rules as a plain class with no Temporal imports, so every rule is
 * tested without a server (test/unit/task-entity.test.ts). `taskWorkflow` (task.ts) owns one
 * instance, forwards each signal, update and query to it, and performs what it decides: the Postgres
 * writes, the pool requests, the agent runs and the git work. `handleRunResult` decides what a run's
 * outcome means (docs/ARCHITECTURE.md maps it and the other rules to where the Go executor had them).
 */
export class TaskEntity {
  readonly status: TaskStatus;
  /** The last summary an agent gave (the task's own until a run gives one). */
  summary: string | undefined;
  /** The session the next run continues; undefined: a fresh run. */
  pendingResume: PendingResume | undefined;
  /** The instructions a fresh run gets (with what a human said when there was no session to resume). */
  prompt = '';
  /** Earlier runs of the task, told to the next fresh run (`withFailureHistory`). */
  failureHistory: Execution[] = [];
  private context: TaskContext | undefined;
  private readonly dependencySignals: Record<string, TaskState> = {};
  private readonly subtaskSignals: Record<string, TaskState> = {};
  private storedSubtasks: Record<string, TaskState> = {};
  private readonly startedSubtasks = new Set<string>();
  private answerGiven: { text: string; by?: string } | undefined;
  private lastExecutionId: string | undefined;

  constructor(readonly taskId: string) {
    this.status = { taskId, state: 'PENDING' };
  }

  // ---- Messages ---------------------------------------------------------------------------------

  dependencyFinished(notice: TaskSettledNotice): void {
    this.dependencySignals[notice.taskId] = notice.state;
  }

  /** Note a subtask's change; true when it is new (PENDING, first heard of) and this task starts it as a child. */
  subtaskChanged(notice: TaskSettledNotice): boolean {
    this.subtaskSignals[notice.taskId] = notice.state;
    if (notice.state !== 'PENDING' || this.startedSubtasks.has(notice.taskId)) return false;
    this.startedSubtasks.add(notice.taskId);
    return true;
  }

  /**
   * Refuse an input that is not `{"answer": "…", "by"?: "…"}`, an answer to a task that is not waiting
   * for one, or an empty answer (the `answer` update's validator, and the `answer` signal's check).
   */
  validateAnswer(input: unknown): void {
    if (typeof input !== 'object' || input === null || Array.isArray(input)) {
      throw new Error(
        `The input must be a JSON object such as {"answer": "use postgres", "by": "alice"}, got ${JSON.stringify(input) ?? 'nothing'}.`,
      );
    }
    const { answer, by } = input as { answer?: unknown; by?: unknown };
    if (by !== undefined && typeof by !== 'string') throw new Error('"by" must be text (who answers), or left out.');
    const { state, question, waitingFor } = this.status;
    if (state !== 'BLOCKED' || !question) {
      throw new Error(
        `Task ${this.taskId} is not waiting for an answer (it is ${state}${waitingFor ? `, waiting for ${waitingFor}` : ''}).`,
      );
    }
    if (typeof answer !== 'string' || answer.trim() === '') {
      throw new Error('The answer is empty: say what the agent should do.');
    }
  }

  answer({ answer, by }: { answer: string; by?: string }): { executionId: string } {
    this.answerGiven = { text: answer.trim(), ...(by ? { by } : {}) };
    this.status.question = undefined; // a second answer to the same question is refused by the validator
    this.status.questionTimers = undefined;
    return { executionId: this.lastExecutionId ?? '' };
  }

  get answered(): { text: string; by?: string } | undefined {
    return this.answerGiven;
  }

  /** The question's deadline passed unanswered: it is closed, so an answer that comes later is refused. */
  expireQuestion(): void {
    this.status.question = undefined;
    this.status.questionTimers = undefined;
  }

  /** The state as a waiter compares it (`awaitTaskChange`); undefined until the task's own state is loaded. */
  stateKey(): string | undefined {
    return this.context ? taskStateKey(this.status.state, this.status.question !== undefined) : undefined;
  }

  // ---- Start ------------------------------------------------------------------------------------

  /** Take the task as the store has it; a retry with a message resumes the last session (or tells a fresh run). */
  load(context: TaskContext, retryMessage: string | undefined): void {
    this.context = context;
    this.status.state = context.task.state;
    this.summary = context.task.summary;
    this.storedSubtasks = { ...context.subtasks };
    this.prompt = context.task.instructions;
    this.failureHistory = context.executions;
    if (!retryMessage) return;
    const last = [...context.executions].reverse().find((e) => e.sessionId);
    if (last?.sessionId) {
      this.pendingResume = {
        sessionId: last.sessionId,
        answer: retryMessage,
        ...(isAgentType(last.agent) ? { agent: last.agent } : {}),
        ...(last.hostQueue ? { hostQueue: last.hostQueue } : {}),
      };
    } else this.prompt = toldByHuman(this.prompt, retryMessage); // no session to resume: a fresh run hears it
  }

  get task(): Task {
    if (!this.context) throw new Error('TaskEntity: load the task first');
    return this.context.task;
  }

  // ---- 1. Dependencies --------------------------------------------------------------------------

  private dependencyState(id: string): TaskState {
    return this.dependencySignals[id] ?? this.context?.dependencies[id] ?? 'PENDING';
  }

  /** Dependencies not yet COMPLETED or READY. */
  waitingDependencies(): string[] {
    return this.task.dependsOn.filter((id) => !dependencySatisfied(this.dependencyState(id)));
  }

  /** The first dependency that ended badly, as the error the task fails with. */
  brokenDependency(): string | undefined {
    const broken = this.task.dependsOn.find((id) => TERMINAL_FAILURE_STATES.includes(this.dependencyState(id)));
    return broken ? `dependency ${broken} ended ${this.dependencyState(broken)}` : undefined;
  }

  // ---- 3. The slot ------------------------------------------------------------------------------

  /** The agent to ask the pool for: a resume needs the agent that owns the session, whatever the task asked for. */
  slotChoice(): AgentChoice {
    return this.pendingResume?.agent ?? this.task.agent.type;
  }

  /** What the task waits for while QUEUED. */
  slotWait(poolWorkflowId: string): string {
    const choice = this.slotChoice();
    return `${choice === 'any' ? 'any agent' : `a ${choice}`} slot (${poolWorkflowId})${this.pendingResume ? ' to resume its session' : ''}`;
  }

  // ---- 5. A run -----------------------------------------------------------------------------------

  /** The execution row a run starts with, and the run's input (log paths are filled in by the runner). */
  startRun(run: {
    executionId: string;
    agent: AgentType;
    model: string | undefined;
    /** Why this model: the classifier's reason, or that the task sets it. */
    modelReason?: string | undefined;
    startTime: string;
    defaultTimeoutMs: number;
  }): { execution: Execution; agentConfig: AgentConfig; input: AgentRunInput } {
    const { executionId, agent, model, modelReason } = run;
    const resume = this.pendingResume;
    const agentConfig: AgentConfig = { ...this.task.agent, type: agent, ...(model ? { model } : {}) };
    const execution: Execution = {
      id: executionId,
      taskId: this.taskId,
      status: 'RUNNING',
      agent,
      ...(model ? { model } : {}),
      ...(modelReason ? { modelReason } : {}),
      startTime: run.startTime,
      ...(resume ? { sessionId: resume.sessionId, resumeAnswer: resume.answer } : {}),
    };
    this.lastExecutionId = executionId;
    this.status.executionId = executionId;
    this.status.agent = agent;
    this.status.model = model;
    this.status.modelReason = modelReason;
    const input: AgentRunInput = {
      taskId: this.taskId,
      executionId,
      agent,
      prompt: this.prompt,
      config: withFailureHistory(agentConfig, this.failureHistory),
      ...(this.context?.repository ? { repository: this.context.repository } : {}),
      timeoutMs: this.task.timeoutMs ?? run.defaultTimeoutMs,
      ...(resume ? { resume: { sessionId: resume.sessionId, answer: resume.answer } } : {}),
    };
    return { execution, agentConfig, input };
  }

  // ---- 7. The outcome -----------------------------------------------------------------------------

  /**
   * What a finished run means: the execution's status, what the pool hears (only a real agent failure
   * counts towards a drain; a failed validation is the code's fault, not the agent's), and what the
   * task does next. Notes the session, summary, a resume after a rate limit, and a failure for the
   * history of the next fresh run.
   */
  handleRunResult(result: AgentRunResult, execution: Execution, now: number): RunVerdict {
    const { outcome } = result;
    const executionStatus = executionStatusFor(outcome);
    const pool = poolReportFor(result, now, this.task.kind);
    this.pendingResume = undefined;
    this.status.sessionId = result.sessionId ?? this.status.sessionId;
    if (result.summary) this.summary = result.summary;
    const agent = execution.agent as AgentType;
    switch (outcome) {
      case 'success':
        return { executionStatus, pool, next: 'complete' };
      case 'question':
        this.answerGiven = undefined;
        return {
          executionStatus,
          pool,
          next: 'ask',
          question: result.question ?? { text: 'The agent asked for input.' },
        };
      case 'rate_limited':
      case 'quota_exhausted':
        if (result.sessionId) {
          this.pendingResume = {
            sessionId: result.sessionId,
            answer: RATE_LIMIT_NOTE,
            agent,
            ...(result.hostQueue ? { hostQueue: result.hostQueue } : {}),
          };
        }
        return {
          executionStatus,
          pool,
          next: 'requeue',
          error: `${agent} ${outcome.replace('_', ' ')} until ${result.retryAt ?? 'later'}`,
        };
      case 'budget_exceeded':
      case 'timed_out':
      case 'failed': {
        const error = result.error ?? outcome.replace('_', ' ');
        this.failureHistory = [...this.failureHistory, { ...execution, status: executionStatus, error }];
        return { executionStatus, pool, next: 'settle', state: failureStateFor(outcome), error };
      }
      default:
        return assertNever(outcome);
    }
  }

  /** After a question was answered: the run after it resumes the same session, by the same agent, on the same host. */
  resumeWithAnswer(result: AgentRunResult, agent: AgentType, answer: string): void {
    this.pendingResume = result.sessionId
      ? { sessionId: result.sessionId, answer, agent, ...(result.hostQueue ? { hostQueue: result.hostQueue } : {}) }
      : undefined;
  }

  // ---- Subtasks (a successful parent waits for them) -------------------------------------------------

  /** Subtasks as the store had them after the run, updated by their signals. */
  subtaskStates(stored?: Record<string, TaskState>): Record<string, TaskState> {
    if (stored) this.storedSubtasks = { ...stored };
    return { ...this.storedSubtasks, ...this.subtaskSignals };
  }

  /** What keeps a successful task BLOCKED: subtasks not COMPLETED, and those that failed. */
  subtaskWait(): SubtaskWait {
    return subtaskWait(this.subtaskStates());
  }

  /** READY for review at the top level, COMPLETED as a subtask. */
  doneState(): TaskState {
    return doneState(Boolean(this.task.parentTaskId));
  }
}
