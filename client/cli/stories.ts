/** `claudomator story …`: tasks of one project on one branch, taken to review. */
import type { Command } from 'commander';
import type { ClaudomatorClient, Story, StoryState } from '../index.js';
import {
  EXIT,
  info,
  out,
  parseCount,
  parseDuration,
  printFields,
  printJson,
  printTable,
  withClient,
  type JsonOption,
} from './common.js';

/** Flags as the user typed them, for messages about SDK fields. */
const STORY_FLAGS: Record<string, string> = {
  id: '<id>',
  project: '--project',
  branch: '--branch',
  name: '--name',
  maxFixAttempts: '--max-fix-attempts',
  status: '--status',
};

export function registerStoryCommands(program: Command): void {
  const story = program.command('story').description('Stories: tasks of one project on one branch.');
  story
    .command('create <id>')
    .description('Create a story (PENDING) of a project on a branch.')
    .requiredOption('--project <id>', 'the project it belongs to')
    .requiredOption('--branch <branch>', 'the story branch its tasks work on')
    .option('--name <name>', 'a readable name (default: the id)')
    .option('--max-fix-attempts <n>', 'fix-and-revalidate rounds before it waits for a person (default 2)', parseCount)
    .option('--json', 'print JSON')
    .action(
      async (
        id: string,
        opts: JsonOption & { project: string; branch: string; name?: string; maxFixAttempts?: number },
      ) => {
        const result = await withClient(
          (client) =>
            client
              .createStory({
                id,
                project: opts.project,
                branch: opts.branch,
                ...(opts.name !== undefined ? { name: opts.name } : {}),
                ...(opts.maxFixAttempts !== undefined ? { maxFixAttempts: opts.maxFixAttempts } : {}),
              })
              .then((r) => ({ ...r, url: client.storyUrl(id) })),
          STORY_FLAGS,
        );
        if (opts.json) return printJson(result);
        out(result.created ? `story ${result.story.id} created` : `story ${result.story.id} already exists`);
        printStory(result.story, result.url);
      },
    );

  story
    .command('list')
    .description('List stories.')
    .option('--project <id>', 'only this project')
    .option('--status <status>', 'only stories in this status')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption & { project?: string; status?: string }) => {
      const stories = await withClient(
        (client) =>
          client.listStories({
            ...(opts.project !== undefined ? { project: opts.project } : {}),
            ...(opts.status !== undefined ? { status: opts.status.toUpperCase() as StoryState } : {}),
          }),
        STORY_FLAGS,
      );
      if (opts.json) return printJson(stories);
      if (stories.length === 0)
        return out('no stories: create one with `claudomator story create <id> --project <p> --branch <b>`');
      printTable(stories, [
        ['ID', (s) => s.id],
        ['PROJECT', (s) => s.projectId],
        ['BRANCH', (s) => s.branch],
        ['STATUS', (s) => s.status],
        ['NAME', (s) => s.name],
      ]);
    });

  story
    .command('show <id>')
    .description('Show a story.')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: JsonOption) => {
      const shown = await withClient(async (client) => ({
        story: await client.getStory(id),
        url: client.storyUrl(id),
      }));
      if (opts.json) return printJson({ ...shown.story, url: shown.url });
      printStory(shown.story, shown.url);
    });

  story
    .command('start <id>')
    .description('Start the story: its tasks run, then merge, deploy and validation (restarts one in NEEDS_FIX).')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: JsonOption) => {
      const started = await withClient(async (client) => ({
        story: await client.startStory(id),
        url: client.storyUrl(id),
      }));
      if (opts.json) return printJson({ ...started.story, url: started.url });
      out(`story ${id} started; watch it: claudomator story watch ${id}\n  ${started.url}`);
    });

  story
    .command('watch <id>')
    .description('Follow a story live: its step and its tasks; exit 0 at REVIEW_READY, 1 at NEEDS_FIX or FAILED.')
    .option('--timeout <duration>', 'give up after this long (exit 4)', parseDuration)
    .option('--json', 'print the final story as JSON')
    .action(async (id: string, opts: JsonOption & { timeout?: number }) => {
      const final = await withClient((client) => watchStory(client, id, opts.timeout, !opts.json));
      if (opts.json) printJson(final);
      if (final.status !== 'REVIEW_READY') process.exitCode = EXIT.failure;
    });

  story
    .command('cancel <id>')
    .description('Cancel a running story; its running tasks are cancelled cleanly.')
    .action(async (id: string) => {
      await withClient((client) => client.cancelStory(id));
      out(`cancellation of story ${id} requested; watch it: claudomator story watch ${id}`);
    });
}

export function printStory(s: Story, url: string): void {
  printFields([
    ['id', s.id],
    ['name', s.name],
    ['project', s.projectId],
    ['branch', s.branch],
    ['status', s.status],
    ['detail', s.detail],
    ['max fix attempts', String(s.maxFixAttempts)],
    ['created', s.createdAt],
    ['Web UI', url],
  ]);
}

/** Print each change of the story's status, step and task states until it settles; returns the story. */
export async function watchStory(
  client: ClaudomatorClient,
  id: string,
  timeoutMs?: number,
  print = true,
): Promise<Story> {
  const started = Date.now();
  let last = '';
  const report = async (): Promise<void> => {
    const [story, tasks, progress] = await Promise.all([
      client.getStory(id),
      client.listTasks({ storyId: id }),
      client.storyProgress(id),
    ]);
    const line = `${story.status} — ${progress?.step ?? story.detail ?? ''} | ${tasks.map((t) => `${t.id}:${t.state}`).join(' ')}`;
    if (line !== last && print) info(`[${Math.round((Date.now() - started) / 1000)}s] story ${id}: ${line}`);
    last = line;
  };
  // The story workflow wakes the wait at every change (status, step, a task's state); each one is reported.
  let reporting = Promise.resolve();
  const onProgress = (): void => {
    reporting = reporting.then(report).catch(() => undefined);
  };
  await report();
  const final = await client.waitForStory(id, { ...(timeoutMs ? { timeoutMs } : {}), onProgress });
  await reporting;
  await report();
  if (print) {
    out(`story ${id} is ${final.status}${final.detail ? `: ${final.detail}` : ''}`);
    out(`  ${client.storyUrl(id)}`);
    if (final.status === 'NEEDS_FIX') out(`  next: fix what the detail says, then claudomator story start ${id}`);
  }
  return final;
}
