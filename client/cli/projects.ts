/** `claudomator project …`: the repositories stories work on. */
import type { Command } from 'commander';
import type { Project } from '../index.js';
import { out, printFields, printJson, printTable, withClient, type JsonOption } from './common.js';

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

export function registerProjectCommands(program: Command): void {
  const project = program.command('project').description('Projects: the repositories stories work on.');
  project
    .command('add <id>')
    .description('Add a project (or update the one with this id).')
    .requiredOption('--repo <url|path>', 'git URL, local path or bare repository')
    .option('--default-branch <branch>', 'branch stories merge into (default main)')
    .option(
      '--deploy-cmd <command>',
      'shell line (sh -c) run in a checkout of the default branch after a story merges, such as "npm ci && npm run deploy" (none: no deploy step)',
    )
    .option('--validate <command>', 'shell line (sh -c) that validates a merged story, such as "npm ci && npm test"')
    .option('--validate-instructions <text>', 'instructions for an agent that validates a merged story')
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      [
        '',
        'Deploy and validation commands run through `sh -c`, so `&&`, pipes and variables work. A command',
        'the shell cannot find (exit 127) or run (126) stops the story at NEEDS_FIX at once; add the',
        'project again with the corrected command (add replaces all its settings), then `story start`.',
      ].join('\n'),
    )
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
}

export function printProject(p: Project): void {
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
