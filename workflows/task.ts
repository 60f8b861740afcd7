/**
 * taskWorkflow (id `task-<id>`): one task's whole life, durable.
 *
 * It waits for its dependencies (signals from them, plus one look at start), asks the agent pool for
 * a slot, runs the agent as a heartbeating activity in the task's sandbox, and acts on the outcome:
 * a question blocks the task until a human answers (the `answer` update), then the same session
 * resumes in the same sandbox; a rate limit hands the slot back (the pool pauses the agent) and the
 * task queues again; success makes it READY (COMPLETED as a subtask), or BLOCKED until its subtasks
 * complete. Every state change is written to Postgres by idempotent local activities first, then
 * shown in search attributes and the current details. Nothing polls; crash recovery is Temporal's.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  CancelledFailure,
  ChildWorkflowCancellationType,
  condition,
  getExternalWorkflowHandle,
  isCancellation,
  log,
  ParentClosePolicy,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { toError } from './assert.js';
import {
  AgentTypeKey,
  answerUpdate,
  dependencyFinishedSignal,
  ParentTaskIdKey,
  ProjectIdKey,
  StoryIdKey,
  storyWorkflowId,
  subtaskChangedSignal,
  taskSettledSignal,
  TaskStateKey,
  taskStatusQuery,
  taskWorkflowId,
} from './definitions.js';
import { withFailureHistory } from './failure-history.js';
import { FailureType } from './failures.js';
import { PoolClient } from './pool-client.js';
import { dependencySatisfied, TERMINAL_FAILURE_STATES } from './states.js';
import { doneState, executionStatusFor, failureStateFor, poolReportFor, subtaskWait } from './task-state.js';
import type {
  AgentConfig,
  AgentRunInput,
  AgentRunResult,
  AgentType,
  Execution,
  RunReport,
  SlotGrant,
  TaskContext,
  TaskNeighbours,
  TaskOutcomeRecord,
  TaskState,
  TaskStatus,
  TaskWorkflowInput,
} from './types.js';

/** Postgres writes: short, idempotent, on the orchestration worker. */
const bookkeeping = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: {
    initialInterval: '500 milliseconds',
    maximumInterval: '30 seconds',
    nonRetryableErrorTypes: ['IllegalTransitionError', 'NotFoundError', 'ConflictError'],
  },
});

/** Git work on the orchestration worker (a fresh clone each time); a conflict is final. */
const gitOps = proxyActivities<Activities>({
  startToCloseTimeout: '15 minutes',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '5 seconds',
    maximumAttempts: 5,
    nonRetryableErrorTypes: [FailureType.MergeConflict, FailureType.NotFound],
  },
});

/** The classifier is optional: one quick attempt, and a failure only means the agent's default model. */
const classifier = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { maximumAttempts: 1 },
});

export interface TaskResult {
  taskId: string;
  state: TaskState;
  summary?: string;
}

export async function taskWorkflow(input: TaskWorkflowInput): Promise<TaskResult> {
  const { taskId, settings } = validateInput(input);
  const info = workflowInfo();

  // ---- State and message handlers (registered before the first await) --------------------------
  const status: TaskStatus = { taskId, state: 'PENDING' };
  const dependencySignals: Record<string, TaskState> = {};
  const subtaskSignals: Record<string, TaskState> = {};
  let answer: { text: string; by?: string } | undefined;
  let lastExecutionId: string | undefined;
  const pool = new PoolClient({ poolWorkflowId: settings.poolWorkflowId });

  setHandler(taskStatusQuery, () => status, {
    description: "The task's state, agent, session, question and what it waits for.",
  });
  setHandler(
    dependencyFinishedSignal,
    (notice) => {
      dependencySignals[notice.taskId] = notice.state;
    },
    { description: 'A dependency settled; sent by the dependency when it finishes.' },
  );
  const startedSubtasks = new Set<string>();
  setHandler(
    subtaskChangedSignal,
    async (notice) => {
      subtaskSignals[notice.taskId] = notice.state;
      // A new subtask runs as a child of this workflow, so the Web UI shows it under its parent.
      if (notice.state !== 'PENDING' || startedSubtasks.has(notice.taskId)) return;
      startedSubtasks.add(notice.taskId);
      try {
        await startChild<typeof taskWorkflow>('taskWorkflow', {
          workflowId: taskWorkflowId(notice.taskId),
          args: [{ taskId: notice.taskId, settings }],
          parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
          cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
        });
      } catch (err) {
        // Already running (its creator started it): its settle signal still reaches this workflow.
        if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
      }
    },
    {
      description:
        'A subtask was created (this workflow starts it as a child) or settled; sent by the subtask or its creator.',
    },
  );
  setHandler(
    answerUpdate,
    ({ answer: text, by }) => {
      answer = { text: text.trim(), ...(by ? { by } : {}) };
      status.question = undefined; // a second answer to the same question is refused by the validator
      return { executionId: lastExecutionId ?? '' };
    },
    {
      description: "Answer the agent's question; the same agent session then resumes in the same sandbox.",
      validator: ({ answer: text }) => {
        if (status.state !== 'BLOCKED' || !status.question) {
          throw new Error(
            `Task ${taskId} is not waiting for an answer (it is ${status.state}${status.waitingFor ? `, waiting for ${status.waitingFor}` : ''}).`,
          );
        }
        if (typeof text !== 'string' || text.trim() === '') {
          throw new Error('The answer is empty: say what the agent should do.');
        }
      },
    },
  );

  // ---- Helpers ------------------------------------------------------------------------------------
  const show = (state: TaskState, waitingFor?: string, extra = ''): void => {
    status.state = state;
    status.waitingFor = waitingFor;
    upsertSearchAttributes([{ key: TaskStateKey, value: state }]);
    setCurrentDetails(`**${state}**${waitingFor ? ` — waiting for ${waitingFor}` : ''}${extra ? `\n\n${extra}` : ''}`);
  };

  const notify = async (neighbours: TaskNeighbours, state: TaskState, error?: string): Promise<void> => {
    const notice = { taskId, state, ...(error ? { error } : {}) };
    const sends: Array<[string, Promise<void>]> = [
      ...neighbours.dependents.map((id): [string, Promise<void>] => [
        id,
        getExternalWorkflowHandle(taskWorkflowId(id)).signal(dependencyFinishedSignal, notice),
      ]),
      ...(neighbours.parentTaskId
        ? [
            [
              neighbours.parentTaskId,
              getExternalWorkflowHandle(taskWorkflowId(neighbours.parentTaskId)).signal(subtaskChangedSignal, notice),
            ] as [string, Promise<void>],
          ]
        : []),
      ...(neighbours.storyId
        ? [
            [
              neighbours.storyId,
              getExternalWorkflowHandle(storyWorkflowId(neighbours.storyId)).signal(taskSettledSignal, notice),
            ] as [string, Promise<void>],
          ]
        : []),
    ];
    // A neighbour whose workflow is not running (not started yet, or finished) reads the state from the store when it starts.
    await Promise.all(
      sends.map(([id, send]) =>
        send.catch((err: unknown) =>
          log.debug('Neighbour not notified', { taskId, neighbour: id, error: toError(err).message }),
        ),
      ),
    );
  };

  /** Record a settled state, tell the neighbours, and end the workflow accordingly. */
  const settle = async (state: TaskState, neighbours: TaskNeighbours, error?: string): Promise<TaskResult> => {
    show(state, undefined, error ? `Error: ${error}` : '');
    await notify(neighbours, state, error);
    if (state === 'READY' || state === 'COMPLETED') return { taskId, state, ...(summary ? { summary } : {}) };
    const type = state === 'BUDGET_EXCEEDED' ? FailureType.BudgetExceeded : FailureType.AgentFailed;
    throw ApplicationFailure.create({
      type,
      message: `Task ${taskId} ended ${state}: ${error ?? 'no details'}`,
      nonRetryable: true,
    });
  };

  // ---- Main workflow logic ------------------------------------------------------------------------
  const context: TaskContext = await bookkeeping.loadTaskContext(taskId);
  const { task } = context;
  upsertSearchAttributes([
    { key: TaskStateKey, value: task.state },
    ...(task.storyId ? [{ key: StoryIdKey, value: task.storyId }] : []),
    ...(task.projectId ? [{ key: ProjectIdKey, value: task.projectId }] : []),
    ...(task.parentTaskId ? [{ key: ParentTaskIdKey, value: task.parentTaskId }] : []),
  ]);
  status.state = task.state;

  let summary = task.summary;
  let requestSeq = 0;
  /** The pool request in flight (waiting or granted); released exactly once. */
  let openRequest: string | undefined;
  /** The execution whose row is still RUNNING: a cancellation closes it as CANCELLED. */
  let runningExecution: string | undefined;

  /** Give the slot back, or withdraw the request if it was never granted (the pool treats both alike). */
  const releaseSlot = async (report: RunReport): Promise<void> => {
    if (!openRequest) return;
    const requestId = openRequest;
    openRequest = undefined;
    await pool.release({ requestId, report });
  };

  /** Close the run's execution row with its outcome (and set the task's state). */
  const recordOutcome = async (record: TaskOutcomeRecord): Promise<TaskNeighbours> => {
    const neighbours = await bookkeeping.recordOutcome(record);
    if (record.executionId === runningExecution) runningExecution = undefined;
    return neighbours;
  };

  try {
    // 1. Dependencies: signals from them, and the states they had when this task started.
    if (task.dependsOn.length > 0) {
      const stateOf = (id: string): TaskState => dependencySignals[id] ?? context.dependencies[id] ?? 'PENDING';
      const waiting = (): string[] => task.dependsOn.filter((id) => !dependencySatisfied(stateOf(id)));
      const failed = (): string | undefined =>
        task.dependsOn.find((id) => TERMINAL_FAILURE_STATES.includes(stateOf(id)));
      // Dependencies signal when they settle, so the list shrinks as they do.
      while (waiting().length > 0 && !failed()) {
        const pending = waiting();
        show('PENDING', `dependencies: ${pending.join(', ')}`);
        await condition(() => waiting().length < pending.length || failed() !== undefined);
      }
      const broken = failed();
      if (broken) {
        const error = `dependency ${broken} ended ${stateOf(broken)}`;
        const neighbours = await bookkeeping.recordTaskState({ taskId, state: 'FAILED', error });
        return await settle('FAILED', neighbours, error);
      }
    }

    // 2. What to run first: a fresh run with the failure history, or (a retry with a message) a resume.
    let pendingResume: { sessionId: string; answer: string; hostQueue?: string } | undefined;
    if (input.retry?.message) {
      const last = [...context.executions].reverse().find((e) => e.sessionId);
      if (last?.sessionId) pendingResume = { sessionId: last.sessionId, answer: input.retry.message };
    }
    let failureHistory = context.executions;

    for (;;) {
      // 3. A slot from the pool.
      await bookkeeping.recordTaskState({ taskId, state: 'QUEUED' });
      const choice = task.agent.type;
      show('QUEUED', `${choice === 'any' ? 'any agent' : `a ${choice}`} slot (${settings.poolWorkflowId})`);
      const requestId = `${info.workflowId}/${info.runId}/${++requestSeq}`;
      openRequest = requestId;
      const grant: SlotGrant = await pool.acquire({ requestId, agent: choice, taskId });
      const agent: AgentType = grant.agent;
      status.agent = agent;
      upsertSearchAttributes([{ key: AgentTypeKey, value: agent }]);

      // 4. The model: the task's, else the classifier's pick, else the agent's default.
      let model = task.agent.model;
      let modelReason = model ? 'the task sets it' : undefined;
      if (!model && agent !== 'command') {
        const picked = await classifier
          .classifyModel({ agent, name: task.name, instructions: task.instructions })
          .catch((err: unknown) => ({ model: undefined, reason: `classifier failed: ${describeFailure(err)}` }));
        model = picked.model;
        modelReason = picked.reason;
      }
      status.model = model;
      status.modelReason = modelReason;

      // 5. The execution record (log paths are filled in by the runner before the process starts).
      const executionId = `${info.runId}-${requestSeq}`;
      const agentConfig: AgentConfig = { ...task.agent, type: agent, ...(model ? { model } : {}) };
      const execution: Execution = {
        id: executionId,
        taskId,
        status: 'RUNNING',
        agent,
        ...(model ? { model } : {}),
        ...(modelReason ? { modelReason } : {}),
        startTime: new Date().toISOString(),
        ...(pendingResume ? { sessionId: pendingResume.sessionId, resumeAnswer: pendingResume.answer } : {}),
      };
      await bookkeeping.recordExecutionStart({ execution, agent: agentConfig });
      lastExecutionId = executionId;
      runningExecution = executionId;
      status.executionId = executionId;
      const runNumber = context.executions.length + requestSeq;
      show(
        'RUNNING',
        undefined,
        `${agent} run #${runNumber}${pendingResume ? ` (resuming session ${pendingResume.sessionId})` : ''}` +
          (modelReason ? `\n\nModel: ${model ?? "the agent's default"} (${modelReason})` : ''),
      );

      // 6. The agent run.
      const runInput: AgentRunInput = {
        taskId,
        executionId,
        agent,
        prompt: task.instructions,
        config: withFailureHistory(agentConfig, failureHistory),
        ...(context.repository ? { repository: context.repository } : {}),
        timeoutMs: task.timeoutMs ?? settings.defaultTimeoutMs,
        ...(pendingResume ? { resume: { sessionId: pendingResume.sessionId, answer: pendingResume.answer } } : {}),
      };
      let result: AgentRunResult;
      try {
        try {
          result = await runAgentOn(settings, runInput, pendingResume?.hostQueue, `${agent} run #${runNumber}`);
        } catch (err) {
          if (!(pendingResume?.hostQueue && isScheduleToStartTimeout(err))) throw err;
          // The host that holds the sandbox and session is gone: run afresh elsewhere, telling the agent what it was told.
          log.warn('Sandbox host unavailable; running afresh', { taskId, hostQueue: pendingResume.hostQueue });
          result = await runAgentOn(
            settings,
            {
              ...runInput,
              prompt: `${task.instructions}\n\nEarlier in this task a human told you: ${pendingResume.answer}`,
              resume: undefined,
            },
            undefined,
            `${agent} run #${runNumber} (fresh: sandbox host gone)`,
          );
        }
      } catch (err) {
        if (isCancellation(err)) throw err;
        // Cancelled while the run's host was gone: the run timed out instead of confirming the cancellation.
        if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('cancelled');
        const error = describeFailure(err);
        await releaseSlot({ kind: 'failed', error });
        const neighbours = await recordOutcome({
          taskId,
          executionId,
          status: 'FAILED',
          taskState: 'FAILED',
          error,
        });
        return await settle('FAILED', neighbours, error);
      }
      pendingResume = undefined;
      status.sessionId = result.sessionId ?? status.sessionId;
      if (result.summary) summary = result.summary;
      const { outcome, paths: _paths, ...rest } = result;
      const recorded = {
        taskId,
        executionId,
        status: executionStatusFor(outcome),
        result: { ...rest, paths: result.paths },
      };

      // 7. The outcome.
      await releaseSlot(poolReportFor(result, Date.now()));
      switch (outcome) {
        case 'success': {
          // The work joins the repository: committed and pushed on its branch, and merged into the story branch.
          if (context.repository && task.kind !== 'validation') {
            try {
              await publishWork(
                settings,
                result,
                context.repository.branch,
                `${task.name} (claudomator task ${taskId})`,
              );
              if (context.integrateInto) {
                await gitOps.integrateBranch.executeWithOptions(
                  { summary: `merge ${context.repository.branch} → ${context.integrateInto}` },
                  [
                    {
                      remoteUrl: context.repository.url,
                      source: context.repository.branch,
                      target: context.integrateInto,
                      message: `Merge task ${taskId}: ${task.name}`,
                    },
                  ],
                );
              }
            } catch (err) {
              if (isCancellation(err)) throw err;
              const error = describeFailure(err);
              return await settle('FAILED', await recordOutcome({ ...recorded, taskState: 'FAILED', error }), error);
            }
          }
          const subtasks = await bookkeeping.loadSubtaskStates(taskId);
          const effective = (): Record<string, TaskState> => ({ ...subtasks, ...subtaskSignals });
          if (subtaskWait(effective()).pending.length === 0) {
            const state = doneState(Boolean(task.parentTaskId));
            return await settle(state, await recordOutcome({ ...recorded, taskState: state }));
          }
          // BLOCKED on subtasks (the seed's maybeUnblockParent, by signal instead of a scan).
          await recordOutcome({ ...recorded, taskState: 'BLOCKED' });
          for (;;) {
            const wait = subtaskWait(effective());
            if (wait.pending.length === 0) break;
            show(
              'BLOCKED',
              `subtasks: ${wait.pending.map((id) => `${id} (${effective()[id]})`).join(', ')}`,
              wait.failed.length > 0
                ? `Failed subtasks keep this task BLOCKED: ${wait.failed.map((f) => `${f.taskId} (${f.state})`).join(', ')}; retry them.`
                : '',
            );
            const before = JSON.stringify(effective());
            await condition(() => JSON.stringify(effective()) !== before);
          }
          const state = doneState(Boolean(task.parentTaskId));
          return await settle(state, await bookkeeping.recordTaskState({ taskId, state, error: null }));
        }
        case 'question': {
          const question = result.question ?? { text: 'The agent asked for input.' };
          await recordOutcome({ ...recorded, taskState: 'BLOCKED' });
          status.question = question;
          answer = undefined;
          show(
            'BLOCKED',
            'an answer',
            `**Question:** ${question.text}${question.options?.length ? `\n\nOptions: ${question.options.join(' · ')}` : ''}\n\nAnswer with \`claudomator task answer ${taskId} "<answer>"\`.`,
          );
          await condition(() => answer !== undefined);
          const given = answer!;
          await bookkeeping.recordAnswer({
            taskId,
            executionId,
            answer: given.text,
            ...(given.by ? { by: given.by } : {}),
          });
          pendingResume = {
            sessionId: result.sessionId ?? '',
            answer: given.text,
            ...(result.hostQueue ? { hostQueue: result.hostQueue } : {}),
          };
          if (!result.sessionId) pendingResume = undefined;
          continue;
        }
        case 'rate_limited':
        case 'quota_exhausted': {
          // Not a failure: the pool pauses this agent until `retryAt`; the task simply queues again.
          await recordOutcome({
            ...recorded,
            taskState: 'QUEUED',
            error: `${agent} ${outcome.replace('_', ' ')} until ${result.retryAt ?? 'later'}`,
          });
          if (result.sessionId)
            pendingResume = {
              sessionId: result.sessionId,
              answer: 'You were interrupted by a rate limit. Continue the task where you left off.',
              ...(result.hostQueue ? { hostQueue: result.hostQueue } : {}),
            };
          continue;
        }
        case 'budget_exceeded':
        case 'timed_out':
        case 'failed': {
          const state = failureStateFor(outcome);
          const error = result.error ?? outcome.replace('_', ' ');
          failureHistory = [...failureHistory, { ...execution, status: executionStatusFor(outcome), error }];
          return await settle(state, await recordOutcome({ ...recorded, taskState: state, error }), error);
        }
      }
    }
  } catch (err) {
    if (!isCancellation(err)) throw err;
    // Cancelled: the agent's process group is already gone (the run activity waits for its cancellation);
    // give the slot back and record CANCELLED where no cancellation can interrupt it.
    await CancellationScope.nonCancellable(async () => {
      await releaseSlot({ kind: 'neutral' });
      const neighbours = runningExecution
        ? await bookkeeping.recordOutcome({
            taskId,
            executionId: runningExecution,
            status: 'CANCELLED',
            taskState: 'CANCELLED',
            error: 'cancelled',
          })
        : await bookkeeping.recordTaskState({ taskId, state: 'CANCELLED', error: 'cancelled' });
      show('CANCELLED');
      await notify(neighbours, 'CANCELLED', 'cancelled');
    });
    throw err;
  }
}

function validateInput(input: TaskWorkflowInput): TaskWorkflowInput {
  const problems: string[] = [];
  if (typeof input?.taskId !== 'string' || input.taskId === '') problems.push('taskId: required');
  const s = input?.settings;
  if (!s || typeof s.poolWorkflowId !== 'string' || typeof s.agentTaskQueue !== 'string')
    problems.push('settings: poolWorkflowId and agentTaskQueue are required');
  else {
    for (const key of ['defaultTimeoutMs', 'agentHeartbeatTimeoutMs', 'hostScheduleTimeoutMs'] as const) {
      if (!(typeof s[key] === 'number' && s[key] > 0))
        problems.push(`settings.${key}: must be a positive number of milliseconds`);
    }
  }
  if (input?.taskId && workflowInfo().workflowId !== taskWorkflowId(input.taskId)) {
    problems.push(`taskId: the workflow id must be ${taskWorkflowId(input.taskId)}, not ${workflowInfo().workflowId}`);
  }
  if (problems.length > 0) {
    throw ApplicationFailure.create({
      type: FailureType.InvalidInput,
      message: `Invalid taskWorkflow input: ${problems.join('; ')}`,
      nonRetryable: true,
    });
  }
  return input;
}

/** Run the agent on the shared agent queue, or (a resume) on the host that holds the sandbox. */
async function runAgentOn(
  settings: TaskWorkflowInput['settings'],
  input: AgentRunInput,
  hostQueue: string | undefined,
  summary: string,
): Promise<AgentRunResult> {
  const { runAgent } = proxyActivities<Activities>({
    taskQueue: hostQueue ?? settings.agentTaskQueue,
    // The runner enforces the task's timeout itself (and reports timed_out); this is only the backstop.
    startToCloseTimeout: input.timeoutMs + 5 * 60_000,
    heartbeatTimeout: settings.agentHeartbeatTimeoutMs,
    ...(hostQueue ? { scheduleToStartTimeout: settings.hostScheduleTimeoutMs } : {}),
    // Wait until the agent's process group is really gone before the workflow moves on.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    summary,
    retry: {
      initialInterval: '5 seconds',
      maximumInterval: '1 minute',
      maximumAttempts: 3,
      nonRetryableErrorTypes: [FailureType.AgentConfig],
    },
  });
  return runAgent(input);
}

/** Commit and push the agent's work, on the host that holds the sandbox. */
async function publishWork(
  settings: TaskWorkflowInput['settings'],
  result: AgentRunResult,
  branch: string,
  message: string,
): Promise<void> {
  const { publishTaskChanges } = proxyActivities<Activities>({
    taskQueue: result.hostQueue ?? settings.agentTaskQueue,
    startToCloseTimeout: '10 minutes',
    scheduleToStartTimeout: settings.hostScheduleTimeoutMs,
    retry: { initialInterval: '5 seconds', maximumAttempts: 3 },
    summary: `publish ${branch}`,
  });
  await publishTaskChanges({ sandboxDir: result.paths.sandboxDir, branch, message });
}

function isScheduleToStartTimeout(err: unknown): boolean {
  return (
    err instanceof ActivityFailure &&
    err.cause instanceof TimeoutFailure &&
    err.cause.timeoutType === 'SCHEDULE_TO_START'
  );
}

/** One line on why an activity failed, for the task's error and the pool's drain reason. */
function describeFailure(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return toError(e).message || 'the agent run failed';
}
