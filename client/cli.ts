#!/usr/bin/env node
/**
 * `claudomator`: the command line, built only on the SDK (client/index.ts) and the process entry
 * points (infra/stack.ts, worker/run.ts). It parses arguments, calls one SDK verb, and prints the
 * result for a person or, with --json, as JSON (camelCase fields). Errors print the reason and what
 * to do next, and end the process with a meaningful status (see EXIT below).
 */
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { loadConfig, WORKER_ROLES, type WorkerRole } from '../infra/config.js';
import type { SpecIssue } from '../workflows/specs.js';
import {
  ClaudomatorClient,
  ClaudomatorError,
  diagnose,
  migrateDatabase,
  setupTemporal,
  toClientError,
  ValidationError,
  type DoctorReport,
  type Project,
  type Story,
  type StoryState,
} from './index.js';

/** Exit statuses: documented in `--help`, relied on by scripts. */
const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3 } as const;

const EXIT_HELP = `
Exit status:
  0  success
  1  failure (a service is down, a check failed, a conflict)
  2  usage error or invalid input (the message names the field)
  3  not found (no such project, story or task)`;

/** Flags as the user typed them, for messages about SDK fields. */
const PROJECT_FLAGS: Record<string, string> = {
  id: '<id>',
  remoteUrl: '--repo',
  defaultBranch: '--default-branch',
  deployCommand: '--deploy-cmd',
  validation: '--validate / --validate-instructions',
  'validation.command': '--validate',
  'validation.instructions': '--validate-instructions',
};
const STORY_FLAGS: Record<string, string> = {
  id: '<id>',
  project: '--project',
  branch: '--branch',
  name: '--name',
  maxFixAttempts: '--max-fix-attempts',
  status: '--status',
};

interface JsonOption {
  json?: boolean;
}

function buildProgram(): Command {
  const program = new Command('claudomator')
    .description('Run AI coding agents on git repositories, durably, on Temporal.')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_HELP);

  // ---- Local stack and processes --------------------------------------------------------------

  program
    .command('up')
    .description(
      'Run the local stack in the foreground: Temporal dev server with Web UI, database, migrations, worker. Ctrl-C stops it.',
    )
    .option('--ui-port <port>', 'Web UI port of the dev server started here', parsePort, 8233)
    .action(async (opts: { uiPort: number }) => {
      const { startStack, StackStartAbortedError } = await import('../infra/stack.js');
      const { stopSignal } = await import('../worker/run.js');
      const config = loadConfig();
      const stop = stopSignal();
      const stack = await startStack(config, { uiPort: opts.uiPort, log: (line) => info(line), signal: stop }).catch(
        (err: unknown) => {
          if (err instanceof StackStartAbortedError) return undefined;
          throw err;
        },
      );
      if (!stack) return info('stopped before the stack was up');
      const queues = stack.worker.workers.map((w) => w.taskQueue).join(', ');
      out(
        [
          '',
          'claudomator is up',
          `  Temporal  ${stack.temporal.address} (${stack.temporal.origin === 'existing' ? 'reused' : 'dev server started here'}), namespace ${stack.temporal.namespace}`,
          `  Web UI    ${stack.temporal.uiUrl}`,
          `  database  ${stack.database.description}`,
          `  worker    role ${stack.worker.role}, queues ${queues}`,
          '',
          'Press Ctrl-C to stop.',
        ].join('\n'),
      );
      let failure: Error | undefined;
      await Promise.race([
        new Promise<void>((resolve) => stop.addEventListener('abort', () => resolve(), { once: true })),
        stack.done.catch((err: unknown) => {
          failure = err instanceof Error ? err : new Error(String(err));
        }),
      ]);
      info(`stopping (running activities get up to ${Math.round(config.shutdownGraceMs / 1000)}s to finish)…`);
      await stack.stop();
      if (failure !== undefined) throw failure;
      info('stopped');
    });

  program
    .command('worker')
    .description('Run a worker until SIGINT/SIGTERM (graceful: running activities get the shutdown grace).')
    .addOption(
      new Option('--role <role>', 'what to run (default: CLAUDOMATOR_WORKER_ROLE, else all)').choices(WORKER_ROLES),
    )
    .action(async (opts: { role?: WorkerRole }) => {
      const { runWorkerUntilSignal } = await import('../worker/run.js');
      await runWorkerUntilSignal(loadConfig(), opts.role);
    });

  program
    .command('migrate')
    .description('Create the database if needed and apply pending migrations.')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const result = await migrateDatabase(loadConfig());
      if (opts.json) return printJson(result);
      out(result.applied.length ? `applied ${result.applied.join(', ')}` : `${result.database} is up to date`);
    });

  const temporal = program.command('temporal').description('Temporal server administration.');
  temporal
    .command('setup')
    .description("Register claudomator's search attributes on the namespace (idempotent).")
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const result = await setupTemporal(loadConfig());
      if (opts.json) return printJson(result);
      out(
        result.added.length
          ? `registered on namespace ${result.namespace}: ${result.added.join(', ')}`
          : `namespace ${result.namespace} already has every claudomator search attribute`,
      );
    });

  program
    .command('doctor')
    .description('Check configuration, database, Temporal and workers; say what to fix.')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const report = await diagnose(loadConfig());
      if (opts.json) printJson(report);
      else printDoctor(report);
      if (!report.ok) process.exitCode = EXIT.failure;
    });

  // ---- Projects -------------------------------------------------------------------------------

  const project = program.command('project').description('Projects: the repositories stories work on.');
  project
    .command('add <id>')
    .description('Add a project (or update the one with this id).')
    .requiredOption('--repo <url|path>', 'git URL, local path or bare repository')
    .option('--default-branch <branch>', 'branch stories merge into (default main)')
    .option('--deploy-cmd <command>', 'command run after a story merges (none: no deploy step)')
    .option('--validate <command>', 'command that validates a merged story, such as the test suite')
    .option('--validate-instructions <text>', 'instructions for an agent that validates a merged story')
    .option('--json', 'print JSON')
    .action(
      async (
        id: string,
        opts: JsonOption & {
          repo: string;
          defaultBranch?: string;
          deployCmd?: string;
          validate?: string;
          validateInstructions?: string;
        },
      ) => {
        const added = await withClient(
          (client) =>
            client.addProject({
              id,
              remoteUrl: opts.repo,
              ...(opts.defaultBranch !== undefined ? { defaultBranch: opts.defaultBranch } : {}),
              ...(opts.deployCmd !== undefined ? { deployCommand: opts.deployCmd } : {}),
              ...(opts.validate !== undefined || opts.validateInstructions !== undefined
                ? {
                    validation: {
                      ...(opts.validate !== undefined ? { command: opts.validate } : {}),
                      ...(opts.validateInstructions !== undefined ? { instructions: opts.validateInstructions } : {}),
                    },
                  }
                : {}),
            }),
          PROJECT_FLAGS,
        );
        if (opts.json) return printJson(added);
        out(`project ${added.id} saved`);
        printProject(added);
      },
    );

  project
    .command('list')
    .description('List projects.')
    .option('--json', 'print JSON')
    .action(async (opts: JsonOption) => {
      const projects = await withClient((client) => client.listProjects());
      if (opts.json) return printJson(projects);
      if (projects.length === 0)
        return out('no projects yet: add one with `claudomator project add <id> --repo <url|path>`');
      printTable(projects, [
        ['ID', (p) => p.id],
        ['REPOSITORY', (p) => p.remoteUrl],
        ['BRANCH', (p) => p.defaultBranch],
        ['DEPLOY', (p) => p.deployCommand ?? '-'],
      ]);
    });

  project
    .command('show <id>')
    .description('Show a project.')
    .option('--json', 'print JSON')
    .action(async (id: string, opts: JsonOption) => {
      const found = await withClient((client) => client.getProject(id));
      if (opts.json) return printJson(found);
      printProject(found);
    });

  // ---- Stories --------------------------------------------------------------------------------

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

  return program;
}

// ---- Running commands ---------------------------------------------------------------------------

/** Connect, run one SDK call, close; SDK field names in validation errors are shown as the flags typed. */
async function withClient<T>(
  fn: (client: ClaudomatorClient) => Promise<T>,
  flags: Record<string, string> = {},
): Promise<T> {
  const client = await ClaudomatorClient.connect(loadConfig(), { log: info });
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof ValidationError) throw withFlagNames(err, flags);
    throw err;
  } finally {
    await client.close();
  }
}

function withFlagNames(err: ValidationError, flags: Record<string, string>): ValidationError {
  const issues: SpecIssue[] = err.issues.map((issue) => ({
    ...issue,
    path: flags[issue.path] ? `${flags[issue.path]} (${issue.path})` : issue.path,
  }));
  const what = /^Invalid ([^:]+):/.exec(err.message)?.[1] ?? 'input';
  return new ValidationError(
    `Invalid ${what}:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
    issues,
    err.hint,
  );
}

function exitCodeFor(err: unknown): number {
  if (err instanceof ClaudomatorError) {
    switch (err.code) {
      case 'NOT_FOUND':
        return EXIT.notFound;
      case 'INVALID':
        return EXIT.usage;
      case 'CONFLICT':
      case 'UNAVAILABLE':
        return EXIT.failure;
    }
  }
  return EXIT.failure;
}

function reportError(err: unknown, json: boolean): void {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`error: ${message}`);
  if (err instanceof ClaudomatorError && err.hint) console.error(`next:  ${err.hint}`);
  if (json) {
    printJson({
      error: {
        code: err instanceof ClaudomatorError ? err.code : 'FAILED',
        message,
        ...(err instanceof ClaudomatorError && err.hint ? { hint: err.hint } : {}),
        ...(err instanceof ValidationError ? { issues: err.issues } : {}),
      },
    });
  }
}

// ---- Output -------------------------------------------------------------------------------------

function out(text: string): void {
  console.log(text);
}

/** Progress lines go to stderr, so stdout stays the command's result. */
function info(text: string): void {
  console.error(text);
}

function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

function printFields(fields: Array<[string, string | undefined]>): void {
  const shown = fields.filter((f): f is [string, string] => f[1] !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length));
  for (const [key, value] of shown) out(`  ${key.padEnd(width)}  ${value}`);
}

function printProject(p: Project): void {
  printFields([
    ['id', p.id],
    ['repository', p.remoteUrl],
    ['default branch', p.defaultBranch],
    ['deploy', p.deployCommand],
    ['validate', p.validation?.command],
    ['validation instructions', p.validation?.instructions],
    ['created', p.createdAt],
    ['updated', p.updatedAt],
  ]);
}

function printStory(s: Story, url: string): void {
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

function printTable<T>(rows: T[], columns: Array<[string, (row: T) => string]>): void {
  const cells = [columns.map(([title]) => title), ...rows.map((row) => columns.map(([, get]) => get(row)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  for (const line of cells)
    out(line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

function printDoctor(report: DoctorReport): void {
  out('configuration');
  printFields(Object.entries(report.config).map(([k, v]) => [k, v === null ? '-' : String(v)]));
  out('');
  out('checks');
  for (const check of report.checks) {
    out(`  ${check.ok ? 'ok  ' : 'FAIL'}  ${check.name}: ${check.detail}`);
    if (!check.ok && check.hint) out(`        next: ${check.hint}`);
  }
}

function parseCount(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError('expected a whole number.');
  return Number(raw);
}

function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port >= 65536) {
    throw new InvalidArgumentError('expected a port from 1 to 65535.');
  }
  return port;
}

// ---- Entry --------------------------------------------------------------------------------------

async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes('--json');
  try {
    await program.parseAsync(argv);
    return typeof process.exitCode === 'number' ? process.exitCode : EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // Commander printed the message (or the help) already.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    const translated = toClientError(err);
    reportError(translated, json);
    return exitCodeFor(translated);
  }
}

main(process.argv).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(err);
    process.exitCode = EXIT.failure;
  },
);
