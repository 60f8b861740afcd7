/**
 * The domain: tasks, executions, stories, projects, agents and their configuration, agent events,
 * and the question/answer history — the records the store keeps and the SDK returns.
 *
 * Everything in workflows/types/ is JSON-safe data (strings, numbers, arrays, plain objects): these
 * values cross workflow, activity, signal and query boundaries, where the payload converter is JSON.
 * Times are ISO-8601 strings; durations are milliseconds.
 */
import type { NotifyConfig } from './notify.js';

export const TASK_STATES = [
  'PENDING',
  'QUEUED',
  'RUNNING',
  'BLOCKED',
  'READY',
  'COMPLETED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'BUDGET_EXCEEDED',
] as const;
export type TaskState = (typeof TASK_STATES)[number];

export const STORY_STATES = [
  'PENDING',
  'IN_PROGRESS',
  'SHIPPABLE',
  'DEPLOYING',
  'VALIDATING',
  'REVIEW_READY',
  'NEEDS_FIX',
  'FAILED',
] as const;
export type StoryState = (typeof STORY_STATES)[number];

/** The agent CLIs claudomator ships adapters for. `command` runs a plain command line (no model). */
export const AGENT_TYPES = ['claude', 'gemini', 'codex', 'command'] as const;
export type AgentType = (typeof AGENT_TYPES)[number];
/** What a task may ask the pool for: one agent, or whichever is least busy. */
export type AgentChoice = AgentType | 'any';

export interface AgentConfig {
  /** Which agent runs the task; `any` lets the pool pick the least-busy available one. */
  type: AgentChoice;
  model?: string;
  /** Appended to the agent's system prompt (the failure history is prepended to it). */
  systemPromptAppend?: string;
  allowedTools?: string[];
  /** Claude's `--permission-mode`; defaults to `bypassPermissions` in a sandbox. */
  permissionMode?: string;
  /** The task's own spending cap in US dollars. */
  maxBudgetUsd?: number;
  /** For the `command` agent: the command line to run in the sandbox (parsed, never passed to a shell). */
  command?: string;
}

export interface Question {
  text: string;
  options?: string[];
}

/** What a question's expiry does: fail the task, cancel it, or resume the agent with the policy's default answer. */
export const QUESTION_EXPIRY_OUTCOMES = ['fail', 'cancel', 'answer'] as const;
export type QuestionExpiry = (typeof QUESTION_EXPIRY_OUTCOMES)[number];

/**
 * What happens while a task waits for an answer (workflows/question-policy.ts): reminders, one
 * escalation to the escalation receivers, and an expiry. Every duration counts from the question.
 * A task's policy replaces its project's whole policy; `{}` means no timers at all.
 */
export interface QuestionPolicy {
  /** Remind the primary receivers after this long, and again each time as long passes, until answered. */
  remindAfterMs?: number;
  /** Notify the escalation receivers once, after this long. */
  escalateAfterMs?: number;
  /** The deadline: after this long the question expires with `onExpire`. */
  expireAfterMs?: number;
  /** Required with `expireAfterMs`. */
  onExpire?: QuestionExpiry;
  /** For `onExpire: 'answer'`: what the agent is told, marked as a default nobody chose. */
  defaultAnswer?: string;
}

/** Where an open question's timers stand (ISO times), as the task workflow shows and records them. */
export interface QuestionTimers {
  askedAt: string;
  /** The deadline; absent: the question never expires. */
  expiresAt?: string;
  onExpire?: QuestionExpiry;
  /** The next reminder, if one is due before the deadline. */
  nextReminderAt?: string;
  /** The escalation, while it is still to come. */
  escalatesAt?: string;
  remindersSent: number;
  escalated: boolean;
}

export interface ChangeStats {
  filesChanged: number;
  insertions: number;
  deletions: number;
}

/** What a task is for: ordinary work, a story's validation run (publishes nothing), or a fix after a failed validation. */
export type TaskKind = 'task' | 'validation' | 'fix';

export interface Task {
  id: string;
  kind: TaskKind;
  name: string;
  instructions: string;
  agent: AgentConfig;
  /** Wall-clock limit of one run of the agent; none means the worker's default. */
  timeoutMs?: number;
  dependsOn: string[];
  parentTaskId?: string;
  storyId?: string;
  projectId?: string;
  repositoryUrl?: string;
  branch?: string;
  state: TaskState;
  question?: Question;
  /** The task's own question policy (replacing its project's); absent: the project's, if any. */
  questionPolicy?: QuestionPolicy;
  /** The open question's deadline and next reminder; absent when there is no question or no policy. */
  questionTimers?: QuestionTimers;
  summary?: string;
  /** The last error, for tasks that ended badly. */
  error?: string;
  createdAt: string;
  updatedAt: string;
}

/** How one agent run ended, as the execution record keeps it. */
export const EXECUTION_STATUSES = [
  'RUNNING',
  'SUCCEEDED',
  'QUESTION',
  'RATE_LIMITED',
  'FAILED',
  'TIMED_OUT',
  'CANCELLED',
  'BUDGET_EXCEEDED',
] as const;
export type ExecutionStatus = (typeof EXECUTION_STATUSES)[number];

export interface Execution {
  /** Deterministic: derived from the task workflow's identity, so a retried write never duplicates it. */
  id: string;
  taskId: string;
  status: ExecutionStatus;
  agent?: string;
  model?: string;
  /** Why this model: the classifier's reason, "the task sets it", or why the classifier gave none. */
  modelReason?: string;
  startTime: string;
  endTime?: string;
  stdoutPath?: string;
  stderrPath?: string;
  artifactDir?: string;
  sandboxDir?: string;
  /** The task queue of the agent host that ran it (`<agent queue>@<host>`): where a resume of its session must go. */
  hostQueue?: string;
  sessionId?: string;
  /** The human's answer this run resumed with, if it was a resume. */
  resumeAnswer?: string;
  error?: string;
  changeStats?: ChangeStats;
  costUsd?: number;
  summary?: string;
}

export interface Project {
  id: string;
  /** A git URL, a local path or a bare repository on disk. */
  remoteUrl: string;
  defaultBranch: string;
  /** A command line run in a checkout of the merged default branch; none means no deploy step. */
  deployCommand?: string;
  validation?: ValidationConfig;
  /** This project's notification receivers; absent ones fall back to the global configuration. */
  notify?: NotifyConfig;
  /** The question policy of this project's tasks (a task may set its own instead). */
  questionPolicy?: QuestionPolicy;
  createdAt: string;
  updatedAt: string;
}

/** How a story is validated after merge/deploy: a command (a test suite), or an agent with instructions. */
export interface ValidationConfig {
  command?: string;
  instructions?: string;
  agent?: AgentChoice;
}

export interface Story {
  id: string;
  projectId: string;
  name: string;
  branch: string;
  status: StoryState;
  /** How many fix-and-revalidate rounds the story may take before it waits for a human. */
  maxFixAttempts: number;
  /** One line on where the story stands (the step, what it waits for, the last failure). */
  detail?: string;
  createdAt: string;
  updatedAt: string;
}

export const AGENT_EVENT_KINDS = ['rate_limited', 'available', 'drained', 'acknowledged', 'paused', 'resumed'] as const;
export type AgentEventKind = (typeof AGENT_EVENT_KINDS)[number];

export interface AgentEvent {
  /** Deterministic: derived from the pool workflow's identity, so retried writes never duplicate. */
  id: string;
  agent: string;
  event: AgentEventKind;
  at: string;
  /** For `rate_limited`: when the agent becomes available again. */
  until?: string;
  /** For `rate_limited`: `transient` or `quota`; for `drained`: the last error; for `paused`: who and why. */
  reason?: string;
}

/** `default_answer`: no one answered by the deadline; the agent got the question policy's default. */
export type InteractionKind = 'question' | 'answer' | 'default_answer';

/** One entry of a task's question/answer history. */
export interface TaskInteraction {
  /** Deterministic (execution id or update id based), so a retried append never duplicates. */
  id: string;
  taskId: string;
  kind: InteractionKind;
  text: string;
  options?: string[];
  executionId?: string;
  at: string;
}

export interface TaskFilter {
  state?: TaskState | TaskState[];
  storyId?: string;
  projectId?: string;
  parentTaskId?: string;
  limit?: number;
}

/** What healthCheckWorkflow reports: which worker answered and whether its database did. */
export interface HealthReport {
  echo: string;
  host: string;
  pid: number;
  taskQueue: string;
  /** `ok`, or the error the database gave. */
  database: string;
}
