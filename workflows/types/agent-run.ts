/** One agent run (the `runAgent` activity): its input, its result, and what it heartbeats. */
import type { AgentConfig, AgentType, ChangeStats, Question } from './domain.js';

/** How an agent run ended, decided from the CLI's structured events (not its exit code). */
export const AGENT_OUTCOMES = [
  'success',
  'question',
  'rate_limited',
  'quota_exhausted',
  'budget_exceeded',
  'timed_out',
  'failed',
] as const;
export type AgentOutcome = (typeof AGENT_OUTCOMES)[number];

/** Where one execution keeps its files; known before the agent process starts. */
export interface ExecutionPaths {
  artifactDir: string;
  stdoutPath: string;
  stderrPath: string;
  /** Where the agent writes `{"question": "...", "options": [...]}` to ask a human (outside the checkout). */
  questionFile: string;
  sandboxDir: string;
}

export interface AgentRunInput {
  taskId: string;
  executionId: string;
  /** The agent the pool granted (never `any`). */
  agent: AgentType;
  /** The task's instructions for a new run. */
  prompt: string;
  /** Model, tools, budget, command; `systemPromptAppend` already carries the failure history. */
  config: AgentConfig;
  /** What to check out in the sandbox; absent: an empty git repository. */
  repository?: { url: string; branch: string; baseBranch?: string };
  /** Wall-clock limit of this run; the run ends `timed_out` and its process group is killed. */
  timeoutMs: number;
  /** Continue an earlier session in the same sandbox with a human's answer or message. */
  resume?: { sessionId: string; answer: string };
}

export interface AgentRunResult {
  outcome: AgentOutcome;
  sessionId?: string;
  summary?: string;
  costUsd?: number;
  changeStats?: ChangeStats;
  /** For `question`. */
  question?: Question;
  /** For `rate_limited` / `quota_exhausted`: when the agent may be used again (ISO time). */
  retryAt?: string;
  /** For `failed`, `budget_exceeded`, `timed_out`: what went wrong, in one or a few lines. */
  error?: string;
  paths: ExecutionPaths;
  /** The host-specific task queue of the worker that ran it: a resume must go there (sandbox and session files). */
  hostQueue?: string;
}

/** What a running agent activity heartbeats; a retry after a worker crash resumes `sessionId`. */
export interface AgentRunProgress {
  executionId: string;
  sessionId?: string;
  /** Bytes of stdout + stderr written so far. */
  bytes: number;
  /** The type of the last structured event seen. */
  lastEvent?: string;
  paths: ExecutionPaths;
  /** The sandbox's HEAD before the first attempt: a retry counts changes from the same commit. */
  baseSha?: string;
}
