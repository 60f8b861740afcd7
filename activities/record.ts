/**
 * Bookkeeping activities: the task workflow's mirror in Postgres. Each call is idempotent (the same
 * call twice leaves the same rows), because activities are retried, and each state change runs in
 * one transaction, so a crash or error part-way leaves no half-written task; together they keep what
 * the database says equal to what the workflow decided. They run as local activities on the
 * orchestration worker: short, and on the hot path of every task.
 */
import type { Store } from '../store/index.js';
import { shellCommandLine } from './repository.js';
import type {
  AgentConfig,
  Execution,
  Question,
  QuestionTimers,
  RejectedSignal,
  StoryContext,
  StoryState,
  Task,
  TaskContext,
  TaskNeighbours,
  TaskOutcomeRecord,
  TaskState,
} from '../workflows/types.js';
import { withStoreFailures } from './store-failures.js';

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createRecordActivities({ store }: { store: Store }) {
  async function neighbours(db: Store, taskId: string): Promise<TaskNeighbours> {
    const [task, dependents] = await Promise.all([db.getTask(taskId), db.listDependents(taskId)]);
    return {
      dependents: dependents.map((t) => t.id),
      ...(task.parentTaskId ? { parentTaskId: task.parentTaskId } : {}),
      ...(task.storyId ? { storyId: task.storyId } : {}),
    };
  }

  return withStoreFailures({
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
      // The repository comes from the task, else its project. A story's tasks each
      // work on a branch of their own, started from the story branch and merged back into it when they
      // succeed (two sandboxes cannot check out one branch); a validation run starts from the default
      // branch, where the story was just merged.
      const url = task.repositoryUrl ?? project?.remoteUrl;
      const integrateInto = story && task.kind !== 'validation' ? story.branch : undefined;
      const branch = task.branch ?? (integrateInto ? `${integrateInto}--${task.id}` : `claudomator/${task.id}`);
      const baseBranch = integrateInto ?? project?.defaultBranch;
      // A task's own policy replaces its project's whole policy, so every stored policy is one that was checked.
      const questionPolicy = task.questionPolicy ?? project?.questionPolicy;
      return {
        task,
        dependencies: Object.fromEntries(dependencies),
        subtasks: Object.fromEntries(subtasks.map((t) => [t.id, t.state])),
        executions,
        ...(url ? { repository: { url, branch, ...(baseBranch ? { baseBranch } : {}) } } : {}),
        ...(integrateInto ? { integrateInto } : {}),
        ...(questionPolicy ? { questionPolicy } : {}),
      };
    },

    // ---- Stories ------------------------------------------------------------------------------

    async loadStoryContext(storyId: string): Promise<StoryContext> {
      const story = await store.getStory(storyId);
      const [project, tasks] = await Promise.all([store.getProject(story.projectId), store.listTasksByStory(storyId)]);
      return {
        story,
        project,
        tasks: tasks.map((t) => ({
          id: t.id,
          kind: t.kind,
          name: t.name,
          state: t.state,
          ...(t.parentTaskId ? { parentTaskId: t.parentTaskId } : {}),
          ...(t.error ? { error: t.error } : {}),
        })),
      };
    },

    async recordStoryStatus(input: { storyId: string; status: StoryState; detail: string }): Promise<void> {
      await store.updateStoryStatus(input.storyId, input.status, input.detail);
    },

    /**
     * The story's validation run, or a fix task carrying a validation failure: `<story>-validate-<n>` or
     * `<story>-fix-<n>`, numbered by the story workflow over the story's whole life (a restart numbers on),
     * so a retried call finds the task it made and a restart never meets an old one. A different task
     * under that id is a `ConflictError`. A validation command runs as `sh -c <line>`.
     */
    async createStoryTask(input: {
      storyId: string;
      kind: 'validation' | 'fix';
      number: number;
      failure?: string;
    }): Promise<Pick<Task, 'id' | 'name' | 'state'>> {
      const story = await store.getStory(input.storyId);
      const project = await store.getProject(story.projectId);
      const validation = project.validation ?? {};
      const spec =
        input.kind === 'validation'
          ? {
              id: `${story.id}-validate-${input.number}`,
              name: `Validate ${story.name} (run ${input.number})`,
              instructions:
                validation.instructions ??
                `Validate the story by running: ${validation.command ?? 'the project checks'}`,
              agent: validation.command
                ? { type: 'command' as const, command: shellCommandLine(validation.command) }
                : { type: validation.agent ?? ('claude' as const) },
            }
          : {
              id: `${story.id}-fix-${input.number}`,
              name: `Fix validation of ${story.name} (fix ${input.number})`,
              instructions: [
                "The story's validation failed after its branch was merged:",
                '',
                input.failure ?? '(no details)',
                '',
                'Fix the code on this branch so that the validation passes.',
                ...(validation.command ? ['', `The validation runs: ${validation.command}`] : []),
                ...(validation.instructions ? ['', `Validation instructions: ${validation.instructions}`] : []),
              ].join('\n'),
              agent: { type: validation.agent && validation.agent !== 'any' ? validation.agent : ('claude' as const) },
            };
      const { task } = await store.createTask({ ...spec, kind: input.kind, storyId: story.id, projectId: project.id });
      return { id: task.id, name: task.name, state: task.state };
    },

    async loadTaskError(taskId: string): Promise<string | undefined> {
      return (await store.getTask(taskId)).error;
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
      return store.transaction(async (tx) => {
        if (input.question !== undefined) await tx.updateTaskQuestion(input.taskId, input.question);
        await tx.updateTaskState(input.taskId, input.state, input.error === undefined ? {} : { error: input.error });
        return neighbours(tx, input.taskId);
      });
    },

    /** A run starts: record the agent (and model) the task got, the execution, and RUNNING. */
    async recordExecutionStart(input: { execution: Execution; agent: AgentConfig }): Promise<void> {
      await store.transaction(async (tx) => {
        await tx.updateTaskAgent(input.execution.taskId, input.agent);
        await tx.createExecution(input.execution);
        await tx.updateTaskState(input.execution.taskId, 'RUNNING', { error: null });
      });
    },

    /**
     * A run ended: the execution's status and results, the task's summary, its question (and the
     * question in the interaction history), and its new state. Returns who must hear about it.
     */
    async recordOutcome(record: TaskOutcomeRecord): Promise<TaskNeighbours> {
      const { result } = record;
      return store.transaction(async (tx) => {
        await tx.updateExecution(record.executionId, {
          status: record.status,
          endTime: new Date().toISOString(),
          ...(result?.sessionId ? { sessionId: result.sessionId } : {}),
          ...(result?.hostQueue ? { hostQueue: result.hostQueue } : {}),
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
        if (result?.changeStats) await tx.updateExecutionChangestats(record.executionId, result.changeStats);
        if (result?.summary) await tx.updateTaskSummary(record.taskId, result.summary);
        if (result?.question) {
          await tx.updateTaskQuestion(record.taskId, result.question);
          if (record.questionTimers) await tx.updateTaskQuestionTimers(record.taskId, record.questionTimers);
          const execution = await tx.getExecution(record.executionId);
          await tx.appendTaskInteraction({
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
          await tx.updateTaskState(record.taskId, record.taskState, {
            error:
              record.error ?? (record.taskState === 'READY' || record.taskState === 'COMPLETED' ? null : undefined),
          });
        }
        return neighbours(tx, record.taskId);
      });
    },

    /**
     * A human answered (or, `isDefault`, the deadline passed and the question policy's default answer
     * stands in): the answer joins the history, the question and its timers are cleared, the task queues again.
     */
    async recordAnswer(input: {
      taskId: string;
      executionId: string;
      answer: string;
      by?: string;
      isDefault?: boolean;
    }): Promise<void> {
      await store.transaction(async (tx) => {
        await tx.appendTaskInteraction({
          id: `${input.executionId}:answer`,
          taskId: input.taskId,
          kind: input.isDefault ? 'default_answer' : 'answer',
          text: input.answer,
          executionId: input.executionId,
          at: new Date().toISOString(),
        });
        await tx.updateTaskQuestion(input.taskId, null);
        await tx.updateTaskState(input.taskId, 'QUEUED');
      });
    },

    /** The open question's deadline, next reminder and escalation, for `task show` (the workflow has them too). */
    async recordQuestionTimers(input: { taskId: string; timers: QuestionTimers }): Promise<void> {
      await store.updateTaskQuestionTimers(input.taskId, input.timers);
    },

    /**
     * A task workflow (as a local activity) or the agent pool (as an activity) refused a signal: keep
     * it, with the reason; the id makes a retry harmless.
     */
    async recordRejectedSignal(rejected: RejectedSignal): Promise<void> {
      await store.recordRejectedSignal(rejected);
    },
  });
}
