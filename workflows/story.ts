/**
 * storyWorkflow (id `story-<id>`): takes a story's tasks to review.
 *
 * It starts the story's tasks as child workflows (and tasks added later, on `taskAdded`), follows
 * them by the `taskSettled` signals they send, and when every task is COMPLETED or READY it merges
 * the story branch into the project's default branch (SHIPPABLE), deploys with the project's command
 * (DEPLOYING, retried with backoff), and validates with a validation task (VALIDATING). Success is
 * REVIEW_READY; a failed validation starts a bounded fix loop (a fix task carrying the failure, then
 * merge/deploy/validate again), after which NEEDS_FIX waits for a human. A merge conflict is
 * NEEDS_FIX with the files; so is a deploy or validation command that cannot start (a configuration
 * error: no fix attempt is spent on it, no deploy retried). Status goes to Postgres first, then to
 * search attributes and details; NEEDS_FIX and REVIEW_READY also notify people (notify.ts).
 *
 * `story start` after NEEDS_FIX or FAILED runs the workflow again: its validation and fix tasks get
 * fresh ids (numbered on from the story's earlier ones), so a restart never reads an old run's tasks.
 *
 * Longer than most files here because the story's steps (tasks, merge, deploy, validation, the fix
 * loop, cancellation) read as one sequence in one function, as the Web UI's history shows them.
 */
import {
  ActivityCancellationType,
  ActivityFailure,
  ApplicationFailure,
  CancellationScope,
  ChildWorkflowCancellationType,
  condition,
  isCancellation,
  log,
  ParentClosePolicy,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setCurrentDetails,
  setHandler,
  startChild,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/common';
import type { Activities } from '../activities/index.js';
import { BOOKKEEPING, GIT } from './activity-options.js';
import { toError } from './assert.js';
import {
  awaitStoryChangeUpdate,
  checkAwaitChange,
  ProjectIdKey,
  StoryIdKey,
  storyStatusQuery,
  StoryStatusKey,
  taskAddedSignal,
  taskSettledSignal,
  taskWorkflowId,
} from './definitions.js';
import { FailureType } from './failures.js';
import { notify } from './notify.js';
import { dependencySatisfied, TERMINAL_FAILURE_STATES } from './states.js';
import type { taskWorkflow } from './task.js';
import type { Project, StoryState, StoryStatusView, StoryWorkflowInput, TaskKind } from './types.js';

/** Postgres writes; a conflict (a task id taken by another task) is final, and the story says so. */
const bookkeeping = proxyLocalActivities<Activities>(BOOKKEEPING);

/** Why a task waits: only for the story's details, so two quick tries and no more. */
const inspect = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 2 },
});

/** How often a story waiting on its validation run checks why it waits: 5 s, doubling to 5 minutes. */
const WAIT_CHECK_FIRST_MS = 5_000;
const WAIT_CHECK_MAX_MS = 5 * 60_000;

const gitOps = proxyActivities<Activities>(GIT);

export async function storyWorkflow(input: StoryWorkflowInput): Promise<StoryStatusView> {
  const { storyId, settings } = input;
  const deployRetry = { initialIntervalMs: 5_000, maximumAttempts: 5, ...input.deployRetry };
  const deploy = proxyActivities<Activities>({
    startToCloseTimeout: '1 hour',
    heartbeatTimeout: '1 minute',
    // A cancelled story waits until the deploy's processes are really gone.
    cancellationType: ActivityCancellationType.WAIT_CANCELLATION_COMPLETED,
    summary: 'deploy',
    retry: {
      initialInterval: deployRetry.initialIntervalMs,
      backoffCoefficient: 2,
      maximumInterval: '5 minutes',
      maximumAttempts: deployRetry.maximumAttempts,
      nonRetryableErrorTypes: [FailureType.CommandConfig],
    },
  });

  // ---- State and message handlers (registered before the first await) --------------------------
  const view: StoryStatusView = {
    storyId,
    status: 'PENDING',
    step: 'starting',
    tasks: {},
    fixAttempts: 0,
    maxFixAttempts: 2,
  };
  const kinds: Record<string, TaskKind> = {};
  const subtasks = new Set<string>();
  const added: string[] = [];
  const started = new Set<string>();
  /** Set once the story's status is its own (it starts as a placeholder PENDING). */
  let loaded = false;
  /** Counts what a watcher sees change: status, step, details and task states. */
  let revision = 0;
  const storyKey = (): string => `${view.status}#${revision}`;

  setHandler(storyStatusQuery, () => view, {
    description: 'Where the story stands: status, step, its tasks and the fix loop.',
  });
  setHandler(
    taskSettledSignal,
    (notice) => {
      view.tasks[notice.taskId] = notice.state;
      revision++;
    },
    { description: 'A task of this story settled; sent by the task.' },
  );
  setHandler(
    taskAddedSignal,
    ({ taskId }) => {
      added.push(taskId);
    },
    { description: 'A task was added to the story after it started; the story starts it.' },
  );

  setHandler(
    awaitStoryChangeUpdate,
    async ({ from, timeoutMs }) => {
      // Not cancelled with the workflow: a cancellation is a change the waiter wants to see.
      const changed = await CancellationScope.nonCancellable(() =>
        condition(() => loaded && storyKey() !== from, timeoutMs),
      );
      return { state: view.status, key: storyKey(), changed };
    },
    {
      description:
        "Wait until the story changes (its status, step or a task's state) from `from`, at most `timeoutMs`; how `story watch` follows a story.",
      validator: checkAwaitChange,
    },
  );

  const show = (status: StoryState, step: string, extra = ''): void => {
    view.status = status;
    view.step = step;
    revision++;
    upsertSearchAttributes([{ key: StoryStatusKey, value: status }]);
    const rows = Object.entries(view.tasks)
      .filter(([id]) => kinds[id] !== 'validation')
      .map(([id, state]) => `| ${id} | ${state} |`);
    setCurrentDetails(
      `**${status}** — ${step}${extra ? `\n\n${extra}` : ''}${rows.length ? `\n\n| task | state |\n| --- | --- |\n${rows.join('\n')}` : ''}`,
    );
  };
  const record = async (status: StoryState, step: string, extra = ''): Promise<void> => {
    await bookkeeping.recordStoryStatus({ storyId, status, detail: step });
    show(status, step, extra);
    // Where a story stops for a human, people hear of it (without the story waiting for them).
    if ((status === 'NEEDS_FIX' || status === 'REVIEW_READY') && patched('notify-story')) {
      await notify({
        kind: status === 'NEEDS_FIX' ? 'story_needs_fix' : 'story_review_ready',
        storyId,
        // Only called once the story's context is loaded (every status after the first load).
        projectId: project.id,
        reason: extra ? `${step}\n${extra}` : step,
      });
    }
  };

  const startTask = async (taskId: string, name: string): Promise<void> => {
    if (started.has(taskId)) return;
    started.add(taskId);
    try {
      const child = await startChild<typeof taskWorkflow>('taskWorkflow', {
        workflowId: taskWorkflowId(taskId),
        args: [{ taskId, settings }],
        staticSummary: name,
        parentClosePolicy: ParentClosePolicy.REQUEST_CANCEL,
        cancellationType: ChildWorkflowCancellationType.WAIT_CANCELLATION_COMPLETED,
      });
      // The settle signal is the source of truth; the result is a backstop for a missed signal.
      child.result().then(
        (result) => {
          view.tasks[taskId] ??= result.state;
        },
        () => undefined,
      );
    } catch (err) {
      // Already running (started by the client, or a retry): its settle signal still reaches us.
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  };

  // ---- Main workflow logic ------------------------------------------------------------------------
  const context = await bookkeeping.loadStoryContext(storyId);
  const { story, project } = context;
  view.maxFixAttempts = story.maxFixAttempts;
  // Validation runs and fix tasks are numbered on from the story's earlier ones (a restart's are fresh).
  let validationRuns = context.tasks.filter((t) => t.kind === 'validation').length;
  let fixTasks = context.tasks.filter((t) => t.kind === 'fix').length;
  const restartHint = `then \`claudomator story start ${storyId}\``;

  /** A story task whose id is taken by a different task: NEEDS_FIX naming it (retrying cannot help). */
  const createStoryTask = async (
    input: Parameters<Activities['createStoryTask']>[0],
  ): Promise<{ id: string; name: string; state: StoryStatusView['tasks'][string] } | undefined> => {
    try {
      return await bookkeeping.createStoryTask(input);
    } catch (err) {
      if (failureType(err) !== FailureType.Conflict) throw err;
      const failure = describe(err);
      view.lastFailure = failure;
      await record(
        'NEEDS_FIX',
        `cannot create the ${input.kind} task: ${failure} (remove or rename that task), ${restartHint}`,
      );
      return undefined;
    }
  };
  upsertSearchAttributes([
    { key: StoryIdKey, value: storyId },
    { key: ProjectIdKey, value: project.id },
  ]);
  for (const task of context.tasks) {
    kinds[task.id] = task.kind;
    if (task.parentTaskId) subtasks.add(task.id);
    view.tasks[task.id] ??= task.state;
  }

  /** Tasks that must be COMPLETED or READY before the story ships (validation runs are separate). */
  const workTasks = (): string[] => Object.keys(view.tasks).filter((id) => kinds[id] !== 'validation');
  const startPending = async (): Promise<void> => {
    const fresh = await bookkeeping.loadStoryContext(storyId);
    for (const task of fresh.tasks) {
      kinds[task.id] = task.kind;
      if (task.parentTaskId) subtasks.add(task.id);
      view.tasks[task.id] ??= task.state;
      // Subtasks are started by their parent task; settled tasks need nothing.
      if (task.parentTaskId || kinds[task.id] === 'validation') continue;
      const state = view.tasks[task.id]!;
      if (state === 'PENDING' || state === 'QUEUED' || state === 'RUNNING' || state === 'BLOCKED')
        await startTask(task.id, task.name);
    }
  };

  try {
    await record('IN_PROGRESS', 'creating the story branch');
    loaded = true;
    await gitOps.ensureBranch.executeWithOptions({ summary: `create ${story.branch}` }, [
      { remoteUrl: project.remoteUrl, branch: story.branch, from: project.defaultBranch },
    ]);

    for (;;) {
      // 1. The tasks.
      await startPending();
      for (;;) {
        const ids = workTasks();
        const pending = ids.filter((id) => !dependencySatisfied(view.tasks[id]!));
        if (ids.length > 0 && pending.length === 0) break;
        const failed = pending.filter((id) => TERMINAL_FAILURE_STATES.includes(view.tasks[id]!));
        const step =
          ids.length === 0 ? 'waiting for tasks to be added' : `waiting for ${pending.length} of ${ids.length} tasks`;
        const hint = failed.length
          ? `Failed: ${failed.map((id) => `${id} (${view.tasks[id]})`).join(', ')}. Retry with \`claudomator task retry ${failed[0]}\`.`
          : '';
        if (view.status !== 'IN_PROGRESS' || view.step !== step) await record('IN_PROGRESS', step, hint);
        else show('IN_PROGRESS', step, hint);
        const snapshot = JSON.stringify(view.tasks);
        await condition(() => added.length > 0 || JSON.stringify(view.tasks) !== snapshot);
        if (added.length > 0) {
          added.length = 0;
          await startPending();
        }
      }

      // 2. Merge the story branch into the default branch.
      await record('SHIPPABLE', `merging ${story.branch} into ${project.defaultBranch}`);
      try {
        await gitOps.integrateBranch.executeWithOptions(
          { summary: `merge ${story.branch} → ${project.defaultBranch}` },
          [
            {
              remoteUrl: project.remoteUrl,
              source: story.branch,
              target: project.defaultBranch,
              message: `Merge story ${storyId} (${story.name}) into ${project.defaultBranch}`,
            },
          ],
        );
      } catch (err) {
        if (isCancellation(err)) throw err;
        const failure = describe(err);
        view.lastFailure = failure;
        await record(
          'NEEDS_FIX',
          `${failureType(err) === FailureType.MergeConflict ? 'merge conflict' : 'merge failed'}: ${failure}`,
          'Resolve the conflict on the story branch, then `claudomator story start ' + storyId + '`.',
        );
        return view;
      }

      // 3. Deploy, when the project has a deploy command.
      if (project.deployCommand) {
        await record('DEPLOYING', `deploying ${project.defaultBranch}: ${project.deployCommand}`);
        try {
          await deploy.deployRef({
            remoteUrl: project.remoteUrl,
            ref: project.defaultBranch,
            command: project.deployCommand,
          });
        } catch (err) {
          if (isCancellation(err)) throw err;
          const failure = describe(err);
          view.lastFailure = failure;
          if (failureType(err) === FailureType.CommandConfig) {
            // A configuration error: retrying or fixing the code cannot help, the project's command must change.
            await record(
              'NEEDS_FIX',
              `${failure} — fix the project's deploy command (${projectAddHint(project, 'deploy')}), ${restartHint}`,
            );
            return view;
          }
          await record(
            'NEEDS_FIX',
            `deploy failed: ${failure}`,
            'Fix the deploy, then `claudomator story start ' + storyId + '`.',
          );
          return view;
        }
      }

      // 4. Validate.
      const validation = project.validation;
      if (!validation) {
        await record('VALIDATING', 'no validation configured');
        await record('REVIEW_READY', 'merged; no validation configured');
        return view;
      }
      const run = ++validationRuns;
      const validationTask = await createStoryTask({ storyId, kind: 'validation', number: run });
      if (!validationTask) return view;
      kinds[validationTask.id] = 'validation';
      view.tasks[validationTask.id] = validationTask.state;
      const validatingStep = `validation run ${run}: ${validation.command ?? 'agent'}`;
      await record('VALIDATING', validatingStep);
      await startTask(validationTask.id, validationTask.name);
      const validated = (): boolean => {
        const state = view.tasks[validationTask.id]!;
        return dependencySatisfied(state) || TERMINAL_FAILURE_STATES.includes(state);
      };
      if (patched('story-explains-validation-wait')) {
        // A run waiting QUEUED on a drained, paused or rate-limited agent says so, with what to do.
        let checkMs = WAIT_CHECK_FIRST_MS;
        let shown = '';
        while (!(await condition(validated, checkMs))) {
          const why = await inspect
            .explainTaskWait({ taskId: validationTask.id, poolWorkflowId: settings.poolWorkflowId })
            .catch((err: unknown) => {
              if (isCancellation(err)) throw err;
              return undefined; // only an explanation: the wait goes on without it
            });
          if ((why ?? '') !== shown && !validated()) {
            shown = why ?? '';
            await record('VALIDATING', why ? `${validatingStep} — ${why}` : validatingStep);
          }
          checkMs = Math.min(checkMs * 2, WAIT_CHECK_MAX_MS);
        }
      } else {
        await condition(validated);
      }
      if (dependencySatisfied(view.tasks[validationTask.id]!)) {
        await record('REVIEW_READY', `validated (run ${run})`);
        return view;
      }

      // 5. The fix loop.
      const failure =
        (await bookkeeping.loadTaskError(validationTask.id)) ?? `validation ${view.tasks[validationTask.id]}`;
      view.lastFailure = failure;
      if (validation.command && validationCommandCannotStart(failure)) {
        // A configuration error: no fix attempt can help, the project's command must change.
        await record(
          'NEEDS_FIX',
          `validation command \`${validation.command}\` cannot start: ${failure} — fix the project's validation command (${projectAddHint(project, 'validate')}), ${restartHint}`,
        );
        return view;
      }
      if (view.fixAttempts >= story.maxFixAttempts) {
        await record(
          'NEEDS_FIX',
          `validation failed after ${view.fixAttempts} fix attempt(s): ${failure}`,
          'A human must fix it: push to the story branch or add a task, then `claudomator story start ' +
            storyId +
            '`.',
        );
        return view;
      }
      view.fixAttempts++;
      // NEEDS_FIX is where a story stops for a human: the fix loop goes on IN_PROGRESS, so that a
      // watcher waiting for NEEDS_FIX does not stop at a fix attempt.
      if (!patched('story-fix-loop-in-progress')) {
        await record(
          'NEEDS_FIX',
          `validation failed; starting fix attempt ${view.fixAttempts} of ${story.maxFixAttempts}`,
        );
      }
      const fix = await createStoryTask({ storyId, kind: 'fix', number: ++fixTasks, failure });
      if (!fix) return view;
      kinds[fix.id] = 'fix';
      view.tasks[fix.id] = fix.state;
      await record(
        'IN_PROGRESS',
        `fix attempt ${view.fixAttempts} of ${story.maxFixAttempts}: ${fix.id}`,
        `Validation run ${run} failed: ${failure}`,
      );
    }
  } catch (err) {
    if (isCancellation(err)) {
      await CancellationScope.nonCancellable(async () => {
        await bookkeeping.recordStoryStatus({ storyId, status: 'FAILED', detail: 'cancelled' });
        show('FAILED', 'cancelled');
      });
    } else if (err instanceof ActivityFailure) {
      // A step that failed for good (a missing branch, a store refusal): the story says why before it fails.
      const failure = describe(err);
      view.lastFailure = failure;
      const step = `failed while ${view.step}: ${failure}`;
      await bookkeeping
        .recordStoryStatus({ storyId, status: 'FAILED', detail: step })
        .then(() => show('FAILED', step, `Fix the cause, ${restartHint}.`))
        .catch(() => undefined);
    }
    throw err;
  }
}

/**
 * Whether a command validation's error says its command could not start: the shell's 127 (not found)
 * or 126 (not executable) as the command agent reports it (`exit 127: …`), or no shell at all.
 */
export function validationCommandCannotStart(error: string): boolean {
  return /^exit 12[67]\b/.test(error) || /^cannot start /.test(error);
}

/** The `project add` line that changes one command of `project` and keeps the rest. */
function projectAddHint(project: Project, change: 'deploy' | 'validate'): string {
  const keep: string[] = [`--repo ${JSON.stringify(project.remoteUrl)}`, `--default-branch ${project.defaultBranch}`];
  if (change === 'deploy') keep.push('--deploy-cmd "<command>"');
  else if (project.deployCommand) keep.push(`--deploy-cmd ${JSON.stringify(project.deployCommand)}`);
  if (change === 'validate') keep.push('--validate "<command>"');
  else if (project.validation?.command) keep.push(`--validate ${JSON.stringify(project.validation.command)}`);
  if (project.validation?.instructions)
    keep.push(`--validate-instructions ${JSON.stringify(project.validation.instructions)}`);
  return `\`claudomator project add ${project.id} ${keep.join(' ')}\``;
}

/** The failure type under an activity failure (an `ApplicationFailure`'s type: a `FailureType`). */
function failureType(err: unknown): string | undefined {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  return e instanceof ApplicationFailure ? (e.type ?? undefined) : undefined;
}

function describe(err: unknown): string {
  let e: unknown = err;
  while (e instanceof ActivityFailure && e.cause) e = e.cause;
  if (e instanceof ApplicationFailure && e.type === FailureType.MergeConflict) return e.message;
  log.warn('Story step failed', { error: toError(e).message });
  return toError(e).message;
}
