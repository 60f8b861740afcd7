/**
 * Domain types shared by client, workflows and activities.
 *
 * Everything here is JSON-safe data (strings, numbers, arrays, plain objects): these values cross
 * workflow, activity, signal and query boundaries, where the default payload converter is JSON.
 * Times are ISO-8601 strings; durations are milliseconds.
 */

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

export type InteractionKind = 'question' | 'answer';

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

// ---- Agent runs (the runAgent activity) --------------------------------------------------------

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

// ---- Agent pool ---------------------------------------------------------------------------------

/** A task workflow asks the pool for a slot (signal); idempotent by `requestId`. */
export interface SlotRequest {
  /** Unique per acquisition: a request id that was released once is never granted again. */
  requestId: string;
  /** Where the grant is sent (by signal). */
  workflowId: string;
  /**
   * The requester's run: the leak check asks whether this run closed, so a slot held by a terminated
   * run is reclaimed even when a new run of the same workflow id is already running.
   */
  runId?: string;
  agent: AgentChoice;
  taskId?: string;
}

/** The pool's refusal, signalled to the requester: the request can never be granted (an agent the pool does not run, a reused request id). */
export interface SlotDenial {
  requestId: string;
  reason: string;
}

/** The pool's answer, signalled to the requester. */
export interface SlotGrant {
  requestId: string;
  agent: AgentType;
}

/** What the run that held a slot reports when it gives the slot back. */
export type RunReport =
  | { kind: 'success' }
  | { kind: 'failed'; error: string }
  | { kind: 'rate_limited'; until: string }
  | { kind: 'quota_exhausted'; until: string }
  /** Neither success nor failure of the agent (cancelled, question asked, budget, timeout, never ran). */
  | { kind: 'neutral' };

/** Give a slot back, or withdraw a request that was never granted; idempotent by `requestId`. */
export interface SlotRelease {
  requestId: string;
  report: RunReport;
}

/** One agent's row in the pool's status. */
export interface AgentStatus {
  agent: AgentType;
  limit: number;
  activeTasks: number;
  /** Requests waiting for this agent by name (requests for "any" are shown in the pool's details). */
  waiting: number;
  /** Task workflow ids holding a slot. */
  holders: string[];
  rateLimited: boolean;
  rateLimitedUntil?: string;
  rateLimitReason?: 'transient' | 'quota';
  /** Paused by an operator (until a time, or until resumed). */
  paused: boolean;
  pausedUntil?: string;
  drained: boolean;
  /** The last error when drained. */
  drainReason?: string;
  consecutiveFailures: number;
}

/** The whole pool: the global cap, what holds and waits across agents, and every agent's status. */
export interface PoolStatus {
  /** Slots held at once across all agents; absent: no global cap. */
  maxConcurrent?: number;
  running: number;
  waiting: number;
  agents: AgentStatus[];
}

// ---- Task workflow ------------------------------------------------------------------------------

/** Deployment settings a task workflow needs (workflow code cannot read the configuration). */
export interface TaskSettings {
  poolWorkflowId: string;
  agentTaskQueue: string;
  /** Limit of one agent run when the task sets none. */
  defaultTimeoutMs: number;
  /** How soon a dead agent host is noticed (the runner heartbeats well within it). */
  agentHeartbeatTimeoutMs: number;
  /** How long a resume waits for the host holding the sandbox before running afresh elsewhere. */
  hostScheduleTimeoutMs: number;
}

export interface TaskWorkflowInput {
  taskId: string;
  settings: TaskSettings;
  /** A new run of a task that ended badly; with `message`, resume its last session with that message. */
  retry?: { message?: string };
}

/** What a task workflow loads from the store when it starts. */
export interface TaskContext {
  task: Task;
  /** State of each dependency now (a dependency that finished earlier is seen here). */
  dependencies: Record<string, TaskState>;
  /** State of each subtask now. */
  subtasks: Record<string, TaskState>;
  /** Earlier runs, oldest first: the failure history and the last session to resume. */
  executions: Execution[];
  /** Where the agent works: the task's repository, else its project's, on the task's own branch. */
  repository?: { url: string; branch: string; baseBranch?: string };
  /** For a story's work and fix tasks: the story branch the task's branch is merged into on success. */
  integrateInto?: string;
}

/** How a task's run ended, as the bookkeeping activity records it. */
export interface TaskOutcomeRecord {
  taskId: string;
  executionId: string;
  status: ExecutionStatus;
  /** The task's new state; absent: leave it (e.g. a rate limit keeps the task QUEUED). */
  taskState?: TaskState;
  result?: Omit<AgentRunResult, 'outcome' | 'paths'> & { paths?: ExecutionPaths };
  error?: string;
}

/** Who must hear that a task settled: its dependents, its parent and its story. */
export interface TaskNeighbours {
  dependents: string[];
  parentTaskId?: string;
  storyId?: string;
}

/** The task workflow's answer to `taskStatus`, and its current details in one line. */
export interface TaskStatus {
  taskId: string;
  state: TaskState;
  agent?: AgentType;
  model?: string;
  modelReason?: string;
  executionId?: string;
  sessionId?: string;
  question?: Question;
  /** What the task waits for, in words ("a claude slot", "an answer", "dependencies b, c"). */
  waitingFor?: string;
}

/** Sent by a task that settled (or changed in a way others wait on) to its dependents, parent and story. */
export interface TaskSettledNotice {
  taskId: string;
  state: TaskState;
  error?: string;
}

/** A workflow run the pool knows as a holder or waiter (for the leak check). */
export interface WorkflowRef {
  workflowId: string;
  /** Absent: whichever run of `workflowId` is the latest. */
  runId?: string;
}

/** A granted slot. */
export interface SlotHolder {
  requestId: string;
  workflowId: string;
  runId?: string;
  taskId?: string;
  /** The agent granted. */
  agent: AgentType;
  /** What was asked for: the agent itself or `any`. */
  requested: AgentChoice;
  requestedAt: string;
  grantedAt: string;
}

/** A request in the pool's FIFO. */
export interface SlotWaiter {
  requestId: string;
  workflowId: string;
  runId?: string;
  taskId?: string;
  agent: AgentChoice;
  requestedAt: string;
}

/** One agent's durable state in the pool (what continue-as-new carries). */
export interface PoolAgentState {
  agent: AgentType;
  limit: number;
  consecutiveFailures: number;
  /** The error of the last failed run. */
  lastError?: string;
  drained: boolean;
  drainReason?: string;
  drainedAt?: string;
  /** A rate limit or exhausted quota: no grants until then. */
  rateLimitedUntil?: string;
  rateLimitReason?: 'transient' | 'quota';
  /** Paused by an operator: no grants until resumed, or until `pausedUntil` when set. */
  paused: boolean;
  pausedUntil?: string;
  pauseReason?: string;
}

/** A grant or a denial the pool has decided on and not yet seen delivered. */
export type PoolMessage =
  { kind: 'grant'; workflowId: string; grant: SlotGrant } | { kind: 'deny'; workflowId: string; denial: SlotDenial };

/** Everything the pool knows, as JSON-safe data: carried across continue-as-new. */
export interface AgentPoolSnapshot {
  agents: PoolAgentState[];
  holders: SlotHolder[];
  /** FIFO order. */
  waiters: SlotWaiter[];
  /** Recently released or withdrawn request ids, oldest first: a late duplicate request is refused, not granted. */
  released: string[];
  /** Grants and denials not yet delivered: sent again by the next run (requesters ignore duplicates). */
  outbox: PoolMessage[];
  /** Agent events not yet recorded in Postgres (recording is idempotent by id, so resending is safe). */
  pendingEvents: AgentEvent[];
  stats: PoolStats;
  /** The global cap; null: none. Absent in snapshots of pools older than the cap (then the input's applies). */
  maxConcurrent?: number | null;
}

export interface PoolStats {
  granted: number;
  denied: number;
  /** Slots and requests taken back from workflows that closed without releasing. */
  reclaimed: number;
}

/** The input of `agentPoolWorkflow`; the caller builds it from `config.agents` and `config.agentSlots`. */
export interface AgentPoolInput {
  /** The agents the pool offers. */
  agents: AgentType[];
  /** Slot limit per agent (default 1); an operator's later change (setAgentLimit) wins over this. */
  limits?: Partial<Record<AgentType, number>>;
  /** Slots held at once across all agents (default: no cap); an operator's later change (setMaxConcurrent) wins. */
  maxConcurrent?: number;
  /** How often holders and waiters are checked for closed workflows while there are any (default 60 s). */
  leakCheckIntervalMs?: number;
  /** Continue-as-new once the history has this many events, besides when the server suggests it (tests). */
  continueAsNewAfterEvents?: number;
  /** Mirror drained and paused agents into search attributes (default true; the time-skipping test server has none registered). */
  searchAttributes?: boolean;
  /** The state a previous run carried over. */
  state?: AgentPoolSnapshot;
}

// ---- Story workflow -----------------------------------------------------------------------------

export interface StoryWorkflowInput {
  storyId: string;
  /** Settings for the task workflows the story starts. */
  settings: TaskSettings;
  /** Backoff of the deploy step (default: 5 s doubling, 5 attempts). */
  deployRetry?: { initialIntervalMs?: number; maximumAttempts?: number };
}

/** What a story workflow loads when it starts. */
export interface StoryContext {
  story: Story;
  project: Project;
  tasks: Array<Pick<Task, 'id' | 'kind' | 'name' | 'state' | 'parentTaskId' | 'error'>>;
}

/** The story workflow's answer to `storyStatus`. */
export interface StoryStatusView {
  storyId: string;
  status: StoryState;
  /** The step it is on, in words ("waiting for 2 tasks", "merging feature/x into main", "validating"). */
  step: string;
  tasks: Record<string, TaskState>;
  fixAttempts: number;
  maxFixAttempts: number;
  lastFailure?: string;
}
