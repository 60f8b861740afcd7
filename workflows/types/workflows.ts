/** The task and story workflows' inputs, contexts, status views and the notices they exchange. */
import type {
  AgentType,
  Execution,
  ExecutionStatus,
  Project,
  Question,
  QuestionPolicy,
  QuestionTimers,
  Story,
  StoryState,
  Task,
  TaskState,
} from './domain.js';
import type { AgentRunResult, ExecutionPaths } from './agent-run.js';

/** Deployment settings a task workflow needs (workflow code cannot read the configuration). */
export interface TaskSettings {
  poolWorkflowId: string;
  /** A sharded pool (CLAUDOMATOR_POOL_SHARDS over 1): the agents and shard count; absent: one pool. */
  poolSharding?: { agents: AgentType[]; shards: number };
  agentTaskQueue: string;
  /** Limit of one agent run when the task sets none. */
  defaultTimeoutMs: number;
  /**
   * False on a Temporal server without claudomator's search attributes (the time-skipping test server):
   * the workflow then sets none. Absent: true.
   */
  searchAttributes?: boolean;
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
  /** The task's question policy, else its project's; absent: a question waits without timers. */
  questionPolicy?: QuestionPolicy;
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
  /** With a question under a question policy: its deadline and next reminder, stored with the question. */
  questionTimers?: QuestionTimers;
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
  /** The open question's deadline, next reminder and escalation (its question policy's timers). */
  questionTimers?: QuestionTimers;
  /** What the task waits for, in words ("a claude slot", "an answer", "dependencies b, c"). */
  waitingFor?: string;
}

/** Sent by a task that settled (or changed in a way others wait on) to its dependents, parent and story. */
export interface TaskSettledNotice {
  taskId: string;
  state: TaskState;
  error?: string;
}

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
