/** Running a story from the SDK: starting (or restarting) its workflow, cancelling it, its live progress. */
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowNotFoundError } from '@temporalio/client';
import {
  awaitStoryChangeUpdate,
  ProjectIdKey,
  StoryIdKey,
  storyStatusQuery,
  storyWorkflowId,
} from '../workflows/definitions.js';
import type { storyWorkflow } from '../workflows/story.js';
import { type Story, type StoryStatusView } from '../workflows/types.js';
import { ConflictError } from './errors.js';
import { taskSettings, truncate, type SdkContext } from './tasks.js';
import { handedOver } from './waits.js';

// ---- Stories ------------------------------------------------------------------------------------

/** Start (or restart, after NEEDS_FIX or FAILED) a story's workflow; starting a running story is a no-op. */
export async function startStory(ctx: SdkContext, storyId: string): Promise<Story> {
  const story = await ctx.store.getStory(storyId);
  if (story.status === 'REVIEW_READY') {
    throw new ConflictError(`Story ${storyId} is REVIEW_READY already.`, 'Create a new story for further work.');
  }
  if (story.status === 'NEEDS_FIX' || story.status === 'FAILED') await storyRunClosed(ctx, storyId);
  const handle = await ctx.temporal.workflow.start<typeof storyWorkflow>('storyWorkflow', {
    taskQueue: ctx.config.taskQueue,
    workflowId: storyWorkflowId(storyId),
    args: [
      {
        storyId,
        settings: taskSettings(ctx.config),
        deployRetry: { initialIntervalMs: ctx.config.deployRetryIntervalMs },
      },
    ],
    staticSummary: truncate(`${story.name} (${story.branch})`, 190),
    staticDetails: `**Project** ${story.projectId}\n\n**Branch** ${story.branch}`,
    typedSearchAttributes: [
      { key: StoryIdKey, value: storyId },
      { key: ProjectIdKey, value: story.projectId },
    ],
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  if (!handle.firstExecutionRunId) return story;
  return handedOver(ctx, storyWorkflowId(storyId), awaitStoryChangeUpdate, story.status, () =>
    ctx.store.getStory(storyId),
  );
}

/**
 * The run that recorded NEEDS_FIX or FAILED closes right after: wait for it (briefly), so that a start
 * just then is a new run and not a no-op on the closing one.
 */
async function storyRunClosed(ctx: SdkContext, storyId: string): Promise<void> {
  const handle = ctx.temporal.workflow.getHandle(storyWorkflowId(storyId));
  try {
    if ((await handle.describe()).status.name !== 'RUNNING') return;
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return;
    throw err;
  }
  // Its result (a long poll on the server) arrives when it closes, however it ends.
  const closed = handle.result().then(
    () => true,
    () => true,
  );
  if (await Promise.race([closed, sleep(30_000).then(() => false)])) return;
  throw new ConflictError(
    `Story ${storyId} is recorded as stopped, but its workflow still runs.`,
    `Look at it in the Web UI (${ctx.config.uiUrl}), or cancel it with \`claudomator story cancel ${storyId}\`, then start it again.`,
  );
}

export async function cancelStory(ctx: SdkContext, storyId: string): Promise<void> {
  await ctx.store.getStory(storyId);
  try {
    await ctx.temporal.workflow.getHandle(storyWorkflowId(storyId)).cancel();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) throw new ConflictError(`Story ${storyId} is not running.`);
    throw err;
  }
}

/** The story's live view from its workflow (step, tasks, fix loop), or undefined when it is not running. */
export async function storyProgress(ctx: SdkContext, storyId: string): Promise<StoryStatusView | undefined> {
  try {
    return await ctx.temporal.workflow.getHandle(storyWorkflowId(storyId)).query(storyStatusQuery);
  } catch {
    return undefined;
  }
}
