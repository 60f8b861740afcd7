/**
 * Row types as Postgres returns them (snake_case), and their mapping to the domain types.
 * Nothing outside `store/` sees a row.
 */
import type {
  AgentConfig,
  AgentEvent,
  AgentEventKind,
  Execution,
  ExecutionStatus,
  InteractionKind,
  NotificationRecord,
  NotificationStatus,
  NotificationTarget,
  NotifyConfig,
  Project,
  Question,
  QuestionPolicy,
  QuestionTimers,
  Story,
  StoryState,
  Task,
  TaskInteraction,
  TaskKind,
  TaskState,
  ValidationConfig,
} from '../workflows/types.js';

export interface ProjectRow {
  id: string;
  /** Git URL, local path or bare repository. */
  remote_url: string;
  default_branch: string;
  /** Command line run after merge; null: no deploy step. */
  deploy_command: string | null;
  /** `{command?, instructions?, agent?}`. */
  validation: ValidationConfig | null;
  /** `{webhookUrl?, slackUrl?, escalationWebhookUrl?, escalationSlackUrl?}`; null: the global receivers. */
  notify: NotifyConfig | null;
  /** `{remindAfterMs?, escalateAfterMs?, expireAfterMs?, onExpire?, defaultAnswer?}`; null: none. */
  question_policy: QuestionPolicy | null;
  created_at: Date;
  updated_at: Date;
}

export interface StoryRow {
  id: string;
  project_id: string;
  name: string;
  branch: string;
  status: StoryState;
  max_fix_attempts: number;
  /** One line on where the story stands. */
  detail: string | null;
  created_at: Date;
  updated_at: Date;
}

export interface TaskRow {
  id: string;
  kind: TaskKind;
  name: string;
  instructions: string;
  agent: AgentConfig;
  /** bigint arrives as text. */
  timeout_ms: string | null;
  parent_task_id: string | null;
  story_id: string | null;
  project_id: string | null;
  repository_url: string | null;
  branch: string | null;
  state: TaskState;
  question: Question | null;
  /** The task's own question policy; null: its project's. */
  question_policy: QuestionPolicy | null;
  /** The open question's timers as the workflow last recorded them; null without a question or a policy. */
  question_timers: QuestionTimers | null;
  summary: string | null;
  error: string | null;
  idempotency_key: string | null;
  /** Aggregated from task_dependencies by the queries that return tasks. */
  depends_on: string[] | null;
  created_at: Date;
  updated_at: Date;
}

export interface ExecutionRow {
  id: string;
  task_id: string;
  status: ExecutionStatus;
  agent: string | null;
  model: string | null;
  model_reason: string | null;
  start_time: Date;
  end_time: Date | null;
  stdout_path: string | null;
  stderr_path: string | null;
  artifact_dir: string | null;
  sandbox_dir: string | null;
  host_queue: string | null;
  session_id: string | null;
  resume_answer: string | null;
  error: string | null;
  files_changed: number | null;
  insertions: number | null;
  deletions: number | null;
  cost_usd: number | null;
  summary: string | null;
}

export interface TaskInteractionRow {
  id: string;
  task_id: string;
  kind: InteractionKind;
  text: string;
  options: string[] | null;
  execution_id: string | null;
  at: Date;
}

export interface AgentEventRow {
  id: string;
  agent: string;
  event: AgentEventKind;
  at: Date;
  until: Date | null;
  reason: string | null;
}

/** Drop keys whose value is undefined, so optional fields are absent rather than `undefined`. */
function compact<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}

const opt = <T>(value: T | null): T | undefined => (value === null ? undefined : value);
const iso = (date: Date | null): string | undefined => (date === null ? undefined : date.toISOString());

export function toProject(row: ProjectRow): Project {
  return compact({
    id: row.id,
    remoteUrl: row.remote_url,
    defaultBranch: row.default_branch,
    deployCommand: opt(row.deploy_command),
    validation: opt(row.validation),
    notify: opt(row.notify),
    questionPolicy: opt(row.question_policy),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  });
}

export function toStory(row: StoryRow): Story {
  return compact({
    id: row.id,
    projectId: row.project_id,
    name: row.name,
    branch: row.branch,
    status: row.status,
    maxFixAttempts: row.max_fix_attempts,
    detail: opt(row.detail),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  });
}

export function toTask(row: TaskRow): Task {
  return compact({
    id: row.id,
    kind: row.kind,
    name: row.name,
    instructions: row.instructions,
    agent: row.agent,
    timeoutMs: row.timeout_ms === null ? undefined : Number(row.timeout_ms),
    dependsOn: row.depends_on ?? [],
    parentTaskId: opt(row.parent_task_id),
    storyId: opt(row.story_id),
    projectId: opt(row.project_id),
    repositoryUrl: opt(row.repository_url),
    branch: opt(row.branch),
    state: row.state,
    question: opt(row.question),
    questionPolicy: opt(row.question_policy),
    questionTimers: opt(row.question_timers),
    summary: opt(row.summary),
    error: opt(row.error),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
  });
}

export function toExecution(row: ExecutionRow): Execution {
  return compact({
    id: row.id,
    taskId: row.task_id,
    status: row.status,
    agent: opt(row.agent),
    model: opt(row.model),
    modelReason: opt(row.model_reason),
    startTime: row.start_time.toISOString(),
    endTime: iso(row.end_time),
    stdoutPath: opt(row.stdout_path),
    stderrPath: opt(row.stderr_path),
    artifactDir: opt(row.artifact_dir),
    sandboxDir: opt(row.sandbox_dir),
    hostQueue: opt(row.host_queue),
    sessionId: opt(row.session_id),
    resumeAnswer: opt(row.resume_answer),
    error: opt(row.error),
    changeStats:
      row.files_changed === null
        ? undefined
        : { filesChanged: row.files_changed, insertions: row.insertions ?? 0, deletions: row.deletions ?? 0 },
    costUsd: opt(row.cost_usd),
    summary: opt(row.summary),
  });
}

export function toTaskInteraction(row: TaskInteractionRow): TaskInteraction {
  return compact({
    id: row.id,
    taskId: row.task_id,
    kind: row.kind,
    text: row.text,
    options: opt(row.options),
    executionId: opt(row.execution_id),
    at: row.at.toISOString(),
  });
}

export function toAgentEvent(row: AgentEventRow): AgentEvent {
  return compact({
    id: row.id,
    agent: row.agent,
    event: row.event,
    at: row.at.toISOString(),
    until: iso(row.until),
    reason: opt(row.reason),
  });
}

export interface NotificationRow {
  /** The event's key (workflows/notify.ts `notificationInput`): unique per event, channel and reminder. */
  key: string;
  /** The receiver: `webhook` or `slack`. */
  target: NotificationTarget;
  /** The event's kind, such as `task_question`. */
  kind: string;
  /** `sending` (an attempt is under way), `sent`, `failed` (retried), `rejected` (a 4xx: not retried). */
  status: NotificationStatus;
  /** Attempts to send so far, the current one included. */
  attempts: number;
  /** Why the last attempt failed; null after a success. */
  last_error: string | null;
  created_at: Date;
  updated_at: Date;
  sent_at: Date | null;
}

export function toNotificationRecord(row: NotificationRow): NotificationRecord {
  return compact({
    key: row.key,
    target: row.target,
    kind: row.kind,
    status: row.status,
    attempts: row.attempts,
    lastError: opt(row.last_error),
    createdAt: row.created_at.toISOString(),
    updatedAt: row.updated_at.toISOString(),
    sentAt: row.sent_at?.toISOString(),
  });
}
