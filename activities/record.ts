/**
 * Bookkeeping activities: the task workflow's mirror in Postgres. Each call is idempotent (the same
 * call twice leaves the same rows), because activities are retried; together they keep what the
 * database says equal to what the workflow decided. They run as local activities on the
 * orchestration worker: short, and on the hot path of every task.
 */
import type { Store } from '../store/index.js';
import type {
  AgentConfig,
  Execution,
  Question,
  TaskContext,
  TaskNeighbours,
  TaskOutcomeRecord,
  TaskState,
} from '../workflows/types.js';

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createRecordActivities({ store }: { store: Store }) {
  async function neighbours(taskId: string): Promise<TaskNeighbours> {
    const [task, dependents] = await Promise.all([store.getTask(taskId), store.listDependents(taskId)]);
    return {
      dependents: dependents.map((t) => t.id),
      ...(task.parentTaskId ? { parentTaskId: task.parentTaskId } : {}),
      ...(task.storyId ? { storyId: task.storyId } : {}),
    };
  }

  return {
    /** Everything a task workflow needs at start: the task, its dependencies' and subtasks' states, its history, its repository. */
    async loadTaskContext(taskId: string): Promise<TaskContext> {
      const task = await store.getTask(taskId);
      const [dependencies, subtasks, executions, project, story] = await Promise.all([
        Promise.all(task.dependsOn.map(async (id) => [id, (await store.getTask(id)).state] as const)),
        store.listSubtasks(taskId),
        store.listExecutions(taskId),
        task.projectId ? store.getProject(task.projectId) : undefined,
        task.storyId ? store.getStory(task.storyId) : undefined,
      ]);
      // The seed's ADR-007: the repository comes from the task, else its project; the branch from the task, else its story.
      const url = task.repositoryUrl ?? project?.remoteUrl;
      const branch = task.branch ?? story?.branch ?? `claudomator/${task.id}`;
      return {
        task,
        dependencies: Object.fromEntries(dependencies),
        subtasks: Object.fromEntries(subtasks.map((t) => [t.id, t.state])),
        executions,
        ...(url ? { repository: { url, branch, ...(project ? { baseBranch: project.defaultBranch } : {}) } } : {}),
      };
    },

    /** The state of each subtask now (a parent checks them when its own run succeeds). */
    async loadSubtaskStates(taskId: string): Promise<Record<string, TaskState>> {
      const subtasks = await store.listSubtasks(taskId);
      return Object.fromEntries(subtasks.map((t) => [t.id, t.state]));
    },

    /** Move the task to `state`; `error` replaces the last error (null clears it), `question` likewise. */
    async recordTaskState(input: {
      taskId: string;
      state: TaskState;
      error?: string | null;
      question?: Question | null;
    }): Promise<TaskNeighbours> {
      if (input.question !== undefined) await store.updateTaskQuestion(input.taskId, input.question);
      await store.updateTaskState(input.taskId, input.state, input.error === undefined ? {} : { error: input.error });
      return neighbours(input.taskId);
    },

    /** A run starts: record the agent (and model) the task got, the execution, and RUNNING. */
    async recordExecutionStart(input: { execution: Execution; agent: AgentConfig }): Promise<void> {
      await store.updateTaskAgent(input.execution.taskId, input.agent);
      await store.createExecution(input.execution);
      await store.updateTaskState(input.execution.taskId, 'RUNNING', { error: null });
    },

    /**
     * A run ended: the execution's status and results, the task's summary, its question (and the
     * question in the interaction history), and its new state. Returns who must hear about it.
     */
    async recordOutcome(record: TaskOutcomeRecord): Promise<TaskNeighbours> {
      const { result } = record;
      await store.updateExecution(record.executionId, {
        status: record.status,
        endTime: new Date().toISOString(),
        ...(result?.sessionId ? { sessionId: result.sessionId } : {}),
        ...(result?.summary ? { summary: result.summary } : {}),
        ...(result?.costUsd !== undefined ? { costUsd: result.costUsd } : {}),
        ...(record.error ? { error: record.error } : {}),
        ...(result?.paths
          ? {
              stdoutPath: result.paths.stdoutPath,
              stderrPath: result.paths.stderrPath,
              artifactDir: result.paths.artifactDir,
              sandboxDir: result.paths.sandboxDir,
            }
          : {}),
      });
      if (result?.changeStats) await store.updateExecutionChangestats(record.executionId, result.changeStats);
      if (result?.summary) await store.updateTaskSummary(record.taskId, result.summary);
      if (result?.question) {
        await store.updateTaskQuestion(record.taskId, result.question);
        const execution = await store.getExecution(record.executionId);
        await store.appendTaskInteraction({
          id: `${record.executionId}:question`,
          taskId: record.taskId,
          kind: 'question',
          text: result.question.text,
          ...(result.question.options ? { options: result.question.options } : {}),
          executionId: record.executionId,
          at: execution.endTime ?? new Date().toISOString(),
        });
      }
      if (record.taskState) {
        await store.updateTaskState(record.taskId, record.taskState, {
          error: record.error ?? (record.taskState === 'READY' || record.taskState === 'COMPLETED' ? null : undefined),
        });
      }
      return neighbours(record.taskId);
    },

    /** A human answered: the answer joins the history, the question is cleared, the task queues again. */
    async recordAnswer(input: { taskId: string; executionId: string; answer: string; by?: string }): Promise<void> {
      await store.appendTaskInteraction({
        id: `${input.executionId}:answer`,
        taskId: input.taskId,
        kind: 'answer',
        text: input.answer,
        executionId: input.executionId,
        at: new Date().toISOString(),
      });
      await store.updateTaskQuestion(input.taskId, null);
      await store.updateTaskState(input.taskId, 'QUEUED');
    },
  };
}
