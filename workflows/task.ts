/**
 * taskWorkflow (id `task-<id>`): one task's whole life, durable.
 *
 * It waits for its dependencies (signals from them, plus one look at start), asks the agent pool for
 * a slot, runs the agent as a heartbeating activity in the task's sandbox, and acts on the outcome:
 * a question blocks the task until a human answers (the `answer` update, or the `answer` signal:
 * validated-signals.ts), then the same session resumes in the same sandbox; a rate limit hands the
 * slot back (the pool pauses the agent) and the task queues again; success makes it READY (COMPLETED
 * as a subtask), or BLOCKED until its subtasks complete. The state and the rules are the `TaskEntity` (task-state.ts); this file wires its
 * messages and does what it decides. Every state change is written to Postgres by idempotent local
 * activities first, then shown in search attributes and the current details. A question also notifies
 * people (notify.ts), without waiting for them; under a question policy (question-policy.ts) the wait
 * for its answer runs on durable timers that remind, escalate and, at the deadline, fail or cancel the
 * task or resume the agent with a default answer. Nothing polls; crash recovery is Temporal's.
 *
 * Longer than most files because the task's loop (dependencies, slot, model, run, outcome) reads best
 * as the one function the Web UI's history mirrors; its rules are in TaskEntity.
 */
import {
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
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  startChild,
  TimeoutFailure,
  upsertSearchAttributes,
  workflowInfo,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { agentRunOptions, BOOKKEEPING, CLASSIFIER, GIT, publishOptions } from './activity-options.js';
import { assertNever, toError } from './assert.js';
import {
  AgentTypeKey,
  answerSignal,
  answerUpdate,
  awaitTaskChangeUpdate,
  checkAwaitChange,
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
import { FailureType } from './failures.js';
import { notify as notifyPeople } from './notify.js';
import { PoolClient, slotDenial } from './pool-client.js';
import {
  defaultAnswerText,
  describeQuestionTimers,
  expiredError,
  hasTimers,
  nextQuestionStep,
  questionTimers,
  type QuestionProgress,
} from './question-policy.js';
import { deniedSlotError, TaskEntity, toldByHuman } from './task-state.js';
import { ValidatedSignals } from './validated-signals.js';
import type {
  AgentRunInput,
  AgentRunResult,
  NotificationChannel,
  QuestionPolicy,
  RunReport,
  SlotGrant,
  TaskNeighbours,
  TaskOutcomeRecord,
  TaskSettings,
  TaskState,
  TaskWorkflowInput,
} from './types.js';

const bookkeeping = proxyLocalActivities<Activities>(BOOKKEEPING);
const gitOps = proxyActivities<Activities>(GIT);
const classifier = proxyLocalActivities<Activities>(CLASSIFIER);

export interface TaskResult {
  taskId: string;
  state: TaskState;
  summary?: string;
}

export async function taskWorkflow(input: TaskWorkflowInput): Promise<TaskResult> {
  const { taskId, settings } = validateInput(input);
  const info = workflowInfo();
  const entity = new TaskEntity(taskId);
  const { status } = entity;
  const pool = new PoolClient({
    poolWorkflowId: settings.poolWorkflowId,
    ...(settings.poolSharding ? { sharding: settings.poolSharding } : {}),
  });

  // ---- Message handlers (registered before the first await) ------------------------------------
  setHandler(taskStatusQuery, () => status, {
    description: "The task's state, agent, session, question and what it waits for.",
  });
  setHandler(dependencyFinishedSignal, (notice) => entity.dependencyFinished(notice), {
    description: 'A dependency settled; sent by the dependency when it finishes.',
  });
  setHandler(
    subtaskChangedSignal,
    async (notice) => {
      if (!entity.subtaskChanged(notice)) return;
      // A new subtask runs as a child of this workflow, so the Web UI shows it under its parent.
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
  setHandler(answerUpdate, (answer) => entity.answer(answer), {
    description: "Answer the agent's question; the same agent session then resumes in the same sandbox.",
    validator: (answer: unknown) => entity.validateAnswer(answer),
  });
  const signals = new ValidatedSignals({ taskId, record: (rejected) => bookkeeping.recordRejectedSignal(rejected) });
  setHandler(
    answerSignal,
    signals.handler(
      answerSignal,
      'answer-signal',
      (answer) => entity.validateAnswer(answer),
      (answer) => entity.answer(answer),
    ),
    {
      description:
        'The `answer` update as a signal, {answer, by?}: a refused one is recorded in Postgres and listed under "Rejected signals" here.',
    },
  );
  setHandler(
    awaitTaskChangeUpdate,
    async ({ from, timeoutMs }) => {
      const moved = (): boolean => {
        const key = entity.stateKey();
        return key !== undefined && key !== from;
      };
      // Not cancelled with the workflow: a cancellation is a change the waiter wants to see.
      const changed = await CancellationScope.nonCancellable(() => condition(moved, timeoutMs));
      return { state: status.state, key: entity.stateKey() ?? status.state, changed };
    },
    {
      description:
        "Wait until the task's state differs from `from` (BLOCKED? is BLOCKED on a question), at most `timeoutMs`; how `task wait` follows a task.",
      validator: checkAwaitChange,
    },
  );

  // ---- Showing and telling ------------------------------------------------------------------------
  /** Search attributes, unless the server has none of claudomator's (`settings.searchAttributes: false`). */
  const setAttributes = (pairs: Parameters<typeof upsertSearchAttributes>[0]): void => {
    if (settings.searchAttributes !== false) upsertSearchAttributes(pairs);
  };
  const show = (state: TaskState, waitingFor?: string, extra = ''): void => {
    status.state = state;
    status.waitingFor = waitingFor;
    setAttributes([{ key: TaskStateKey, value: state }]);
    signals.setDetails(`**${state}**${waitingFor ? ` — waiting for ${waitingFor}` : ''}${extra ? `\n\n${extra}` : ''}`);
  };

  /** Record a settled state's neighbours' news, and end the workflow accordingly. */
  const settle = async (
    state: TaskState,
    neighbours: TaskNeighbours,
    error?: string,
    type: FailureType = FailureType.AgentFailed,
  ): Promise<TaskResult> => {
    show(state, undefined, error ? `Error: ${error}` : '');
    await notify(taskId, neighbours, state, error);
    if (state === 'READY' || state === 'COMPLETED')
      return { taskId, state, ...(entity.summary ? { summary: entity.summary } : {}) };
    throw ApplicationFailure.create({
      type: state === 'BUDGET_EXCEEDED' ? FailureType.BudgetExceeded : type,
      message: `Task ${taskId} ended ${state}: ${error ?? 'no details'}`,
      nonRetryable: true,
    });
  };

  // ---- The task -----------------------------------------------------------------------------------
  /**
   * Wait for the answer, performing the policy's reminders and escalation (`perform`) as their durable
   * timers fire; true when the deadline passed first.
   */
  const awaitAnswerOrDeadline = async (
    policy: QuestionPolicy,
    progress: QuestionProgress,
    perform: (step: { kind: 'remind'; reminder: number } | { kind: 'escalate' }) => Promise<void>,
  ): Promise<boolean> => {
    const answered = (): boolean => entity.answered !== undefined;
    for (;;) {
      const step = nextQuestionStep(policy, progress);
      if (!step) {
        await condition(answered);
        return false;
      }
      const wait = step.at - Date.now();
      if (wait > 0) await condition(answered, wait);
      if (answered()) return false;
      if (step.kind === 'expire') return true;
      await perform(step);
    }
  };

  const context = await bookkeeping.loadTaskContext(taskId);
  const { task } = context;
  setAttributes([
    { key: TaskStateKey, value: task.state },
    ...(task.storyId ? [{ key: StoryIdKey, value: task.storyId }] : []),
    ...(task.projectId ? [{ key: ProjectIdKey, value: task.projectId }] : []),
    ...(task.parentTaskId ? [{ key: ParentTaskIdKey, value: task.parentTaskId }] : []),
  ]);
  entity.load(context, input.retry?.message);

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
    // 1. Dependencies: signals from them, and the states they had when this task started; the list shrinks as they settle.
    while (entity.waitingDependencies().length > 0 && !entity.brokenDependency()) {
      const pending = entity.waitingDependencies();
      show('PENDING', `dependencies: ${pending.join(', ')}`);
      await condition(
        () => entity.waitingDependencies().length < pending.length || entity.brokenDependency() !== undefined,
      );
    }
    const broken = entity.brokenDependency();
    if (broken) {
      const neighbours = await bookkeeping.recordTaskState({ taskId, state: 'FAILED', error: broken });
      return await settle('FAILED', neighbours, broken, FailureType.DependencyFailed);
    }

    for (;;) {
      // 3. A slot from the pool: a resume asks for the agent that owns the session.
      await bookkeeping.recordTaskState({ taskId, state: 'QUEUED' });
      const choice = entity.slotChoice();
      show('QUEUED', entity.slotWait(settings.poolWorkflowId));
      const requestId = `${info.workflowId}/${info.runId}/${++requestSeq}`;
      openRequest = requestId;
      let grant: SlotGrant;
      try {
        grant = await pool.acquire({ requestId, agent: choice, taskId });
      } catch (err) {
        const denial = slotDenial(err);
        if (!denial) throw err;
        // The pool can never grant this request: the task fails for good, and its dependents and story hear it.
        openRequest = undefined;
        const error = deniedSlotError(choice, settings.poolWorkflowId, denial.reason);
        return await settle('FAILED', await bookkeeping.recordTaskState({ taskId, state: 'FAILED', error }), error);
      }
      const { agent } = grant;
      status.agent = agent;
      setAttributes([{ key: AgentTypeKey, value: agent }]);

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

      // 5. The execution record (log paths are filled in by the runner before the process starts).
      const resume = entity.pendingResume;
      const {
        execution,
        agentConfig,
        input: runInput,
      } = entity.startRun({
        executionId: `${info.runId}-${requestSeq}`,
        agent,
        model,
        modelReason,
        startTime: new Date().toISOString(),
        defaultTimeoutMs: settings.defaultTimeoutMs,
      });
      await bookkeeping.recordExecutionStart({ execution, agent: agentConfig });
      runningExecution = execution.id;
      const runNumber = context.executions.length + requestSeq;
      show(
        'RUNNING',
        undefined,
        `${agent} run #${runNumber}${resume ? ` (resuming session ${resume.sessionId})` : ''}` +
          (modelReason ? `\n\nModel: ${model ?? "the agent's default"} (${modelReason})` : ''),
      );

      // 6. The agent run.
      let result: AgentRunResult;
      try {
        try {
          result = await runAgentOn(settings, runInput, resume?.hostQueue, `${agent} run #${runNumber}`);
        } catch (err) {
          if (!(resume?.hostQueue && isScheduleToStartTimeout(err))) throw err;
          // The host that holds the sandbox and session is gone: run afresh elsewhere, telling the agent what it was told.
          log.warn('Sandbox host unavailable; running afresh', { taskId, hostQueue: resume.hostQueue });
          result = await runAgentOn(
            settings,
            { ...runInput, prompt: toldByHuman(entity.prompt, resume.answer), resume: undefined },
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
          executionId: execution.id,
          status: 'FAILED',
          taskState: 'FAILED',
          error,
        });
        return await settle('FAILED', neighbours, error);
      }

      // 7. The outcome.
      const verdict = entity.handleRunResult(result, execution, Date.now());
      const { outcome: _outcome, paths: _paths, ...rest } = result;
      const recorded = {
        taskId,
        executionId: execution.id,
        status: verdict.executionStatus,
        result: { ...rest, paths: result.paths },
      };
      await releaseSlot(verdict.pool);
      switch (verdict.next) {
        case 'complete': {
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
          entity.subtaskStates(await bookkeeping.loadSubtaskStates(taskId));
          if (entity.subtaskWait().pending.length === 0) {
            const state = entity.doneState();
            return await settle(state, await recordOutcome({ ...recorded, taskState: state }));
          }
          // BLOCKED on subtasks, until each is COMPLETED (they signal as they settle).
          await recordOutcome({ ...recorded, taskState: 'BLOCKED' });
          for (;;) {
            const wait = entity.subtaskWait();
            if (wait.pending.length === 0) break;
            const states = entity.subtaskStates();
            show(
              'BLOCKED',
              `subtasks: ${wait.pending.map((id) => `${id} (${states[id]})`).join(', ')}`,
              wait.failed.length > 0
                ? `Failed subtasks keep this task BLOCKED: ${wait.failed.map((f) => `${f.taskId} (${f.state})`).join(', ')}; retry them.`
                : '',
            );
            const before = JSON.stringify(states);
            await condition(() => JSON.stringify(entity.subtaskStates()) !== before);
          }
          const state = entity.doneState();
          return await settle(state, await bookkeeping.recordTaskState({ taskId, state, error: null }));
        }
        case 'ask': {
          const { question } = verdict;
          // Timers only for a task with a question policy, on code that knows them (histories before it replay as they ran).
          const policy =
            hasTimers(context.questionPolicy) && patched('question-policy') ? context.questionPolicy : undefined;
          const progress: QuestionProgress = { askedAt: Date.now(), remindersSent: 0, escalated: false };
          if (policy) status.questionTimers = questionTimers(policy, progress);
          // The deadline is written with the question, so whoever reads the question in Postgres reads its timers.
          await recordOutcome({
            ...recorded,
            taskState: 'BLOCKED',
            ...(status.questionTimers ? { questionTimers: status.questionTimers } : {}),
          });
          status.question = question;
          const questionText = `${question.text}${question.options?.length ? `\nOptions: ${question.options.join(' · ')}` : ''}`;
          const showQuestion = (): void =>
            show(
              'BLOCKED',
              'an answer',
              `**Question:** ${question.text}${question.options?.length ? `\n\nOptions: ${question.options.join(' · ')}` : ''}` +
                (status.questionTimers
                  ? `\n\n${describeQuestionTimers(status.questionTimers, policy?.defaultAnswer)}`
                  : '') +
                `\n\nAnswer with \`claudomator task answer ${taskId} "<answer>"\`, or here: More Actions → Send an Update (or Send a Signal) \`answer\` with \`{"answer": "<answer>"}\`.`,
            );
          const tell = (channel: NotificationChannel, reminder?: number): Promise<void> =>
            notifyPeople({
              kind: 'task_question',
              taskId,
              executionId: execution.id,
              question: questionText,
              ...(task.projectId ? { projectId: task.projectId } : {}),
              ...(task.storyId ? { storyId: task.storyId } : {}),
              channel,
              ...(reminder !== undefined ? { reminder } : {}),
              ...(status.questionTimers?.expiresAt
                ? { expiresAt: status.questionTimers.expiresAt, onExpire: status.questionTimers.onExpire }
                : {}),
            });
          showQuestion();
          if (patched('notify-task-question')) await tell('primary');
          if (!policy) await condition(() => entity.answered !== undefined);
          else {
            const expired = await awaitAnswerOrDeadline(policy, progress, async (step) => {
              if (step.kind === 'remind') {
                progress.remindersSent = step.reminder;
                await tell('primary', step.reminder);
              } else {
                progress.escalated = true;
                await tell('escalation');
              }
              status.questionTimers = questionTimers(policy, progress);
              showQuestion();
              await bookkeeping.recordQuestionTimers({ taskId, timers: status.questionTimers });
            });
            if (expired) {
              entity.expireQuestion();
              const onExpire = policy.onExpire ?? 'fail';
              switch (onExpire) {
                case 'answer': {
                  // The same session resumes with the default, worded so the agent knows nobody chose it.
                  const text = defaultAnswerText(policy);
                  log.info('Question expired; resuming with the default answer', { taskId, executionId: execution.id });
                  await bookkeeping.recordAnswer({ taskId, executionId: execution.id, answer: text, isDefault: true });
                  entity.resumeWithAnswer(result, agent, text);
                  continue;
                }
                case 'fail':
                case 'cancel': {
                  const state: TaskState = onExpire === 'cancel' ? 'CANCELLED' : 'FAILED';
                  const error = expiredError(policy);
                  const neighbours = await bookkeeping.recordTaskState({ taskId, state, error, question: null });
                  return await settle(state, neighbours, error, FailureType.QuestionExpired);
                }
                default:
                  return assertNever(onExpire);
              }
            }
          }
          const given = entity.answered!;
          await bookkeeping.recordAnswer({
            taskId,
            executionId: execution.id,
            answer: given.text,
            ...(given.by ? { by: given.by } : {}),
          });
          entity.resumeWithAnswer(result, agent, given.text);
          continue;
        }
        case 'requeue':
          // Not a failure: the pool pauses this agent until the reset; the task simply queues again.
          await recordOutcome({ ...recorded, taskState: 'QUEUED', error: verdict.error });
          continue;
        case 'settle':
          return await settle(
            verdict.state,
            await recordOutcome({ ...recorded, taskState: verdict.state, error: verdict.error }),
            verdict.error,
          );
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
      await notify(taskId, neighbours, 'CANCELLED', 'cancelled');
    });
    throw err;
  }
}

/** Tell the task's dependents, parent and story that it settled. */
async function notify(taskId: string, neighbours: TaskNeighbours, state: TaskState, error?: string): Promise<void> {
  const notice = { taskId, state, ...(error ? { error } : {}) };
  const sends: Array<[string, Promise<void>]> = neighbours.dependents.map((id) => [
    id,
    getExternalWorkflowHandle(taskWorkflowId(id)).signal(dependencyFinishedSignal, notice),
  ]);
  if (neighbours.parentTaskId) {
    const parent = getExternalWorkflowHandle(taskWorkflowId(neighbours.parentTaskId));
    sends.push([neighbours.parentTaskId, parent.signal(subtaskChangedSignal, notice)]);
  }
  if (neighbours.storyId) {
    const story = getExternalWorkflowHandle(storyWorkflowId(neighbours.storyId));
    sends.push([neighbours.storyId, story.signal(taskSettledSignal, notice)]);
  }
  // A neighbour whose workflow is not running (not started yet, or finished) reads the state from the store when it starts.
  await Promise.all(
    sends.map(([id, send]) =>
      send.catch((err: unknown) =>
        log.debug('Neighbour not notified', { taskId, neighbour: id, error: toError(err).message }),
      ),
    ),
  );
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
  settings: TaskSettings,
  input: AgentRunInput,
  hostQueue: string | undefined,
  summary: string,
): Promise<AgentRunResult> {
  const { runAgent } = proxyActivities<Activities>(
    agentRunOptions(settings, { timeoutMs: input.timeoutMs, hostQueue, summary }),
  );
  return runAgent(input);
}

/** Commit and push the agent's work, on the host that holds the sandbox. */
async function publishWork(
  settings: TaskSettings,
  result: AgentRunResult,
  branch: string,
  message: string,
): Promise<void> {
  const { publishTaskChanges } = proxyActivities<Activities>(publishOptions(settings, result.hostQueue, branch));
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
