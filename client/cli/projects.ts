/** `claudomator project …`: the repositories stories work on. */
import type { Command } from 'commander';
import type { Project } from '../index.js';
import {
  describeQuestionPolicy,
  out,
  printFields,
  printJson,
  printTable,
  QUESTION_POLICY_FLAGS,
  questionPolicyFromFlags,
  questionPolicyOptions,
  withClient,
  type JsonOption,
  type QuestionPolicyOptions,
} from './common.js';

/** Flags as the user typed them, for messages about SDK fields. */
const PROJECT_FLAGS: Record<string, string> = {
  id: '<id>',
  remoteUrl: '--repo',
  defaultBranch: '--default-branch',
  deployCommand: '--deploy-cmd',
  validation: '--validate / --validate-instructions',
  'validation.command': '--validate',
  'validation.instructions': '--validate-instructions',
  'notify.webhookUrl': '--notify-webhook',
  'notify.slackUrl': '--notify-slack',
  'notify.escalationWebhookUrl': '--escalation-webhook',
  'notify.escalationSlackUrl': '--escalation-slack',
  ...QUESTION_POLICY_FLAGS,
};

export function registerProjectCommands(program: Command): void {
  const project = program.command('project').description('Projects: the repositories stories work on.');
  const add = project
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
    .option('--notify-webhook <url>', "JSON webhook for this project's notifications (instead of the global one)")
    .option(
      '--notify-slack <url>',
      "Slack incoming webhook for this project's notifications (instead of the global one)",
    )
    .option('--escalation-webhook <url>', "JSON webhook for this project's escalated questions")
    .option('--escalation-slack <url>', "Slack incoming webhook for this project's escalated questions");
  questionPolicyOptions(add, "a task's")
    .option('--json', 'print JSON')
    .addHelpText(
      'after',
      [
        '',
        'Deploy and validation commands run through `sh -c`, so `&&`, pipes and variables work. A command',
        'the shell cannot find (exit 127) or run (126) stops the story at NEEDS_FIX at once; add the',
        'project again with the corrected command (add replaces all its settings), then `story start`.',
        '',
        'Notifications (a question, NEEDS_FIX, REVIEW_READY, a drained or quota-paused agent) go to the',
        "project's --notify-* URLs; a receiver it does not set falls back to CLAUDOMATOR_NOTIFY_WEBHOOK_URL",
        'or CLAUDOMATOR_NOTIFY_SLACK_URL (escalations: CLAUDOMATOR_NOTIFY_ESCALATION_*).',
        '',
        "The question policy (--remind-after … --default-answer) applies to the project's tasks that set",
        'none of their own, e.g. --remind-after 30m --escalate-after 2h --expire-after 8h --on-expire fail.',
      ].join('\n'),
    )
    .action(
      async (
        id: string,
        opts: JsonOption &
          QuestionPolicyOptions & {
            repo: string;
            defaultBranch?: string;
            deployCmd?: string;
            validate?: string;
            validateInstructions?: string;
            notifyWebhook?: string;
            notifySlack?: string;
            escalationWebhook?: string;
            escalationSlack?: string;
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
              ...(notify(opts) ? { notify: notify(opts) } : {}),
              ...(questionPolicyFromFlags(opts) ? { questionPolicy: questionPolicyFromFlags(opts) } : {}),
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

/** The project's notification receivers from the flags; undefined when none is given. */
function notify(opts: {
  notifyWebhook?: string;
  notifySlack?: string;
  escalationWebhook?: string;
  escalationSlack?: string;
}): Project['notify'] {
  const config = {
    ...(opts.notifyWebhook !== undefined ? { webhookUrl: opts.notifyWebhook } : {}),
    ...(opts.notifySlack !== undefined ? { slackUrl: opts.notifySlack } : {}),
    ...(opts.escalationWebhook !== undefined ? { escalationWebhookUrl: opts.escalationWebhook } : {}),
    ...(opts.escalationSlack !== undefined ? { escalationSlackUrl: opts.escalationSlack } : {}),
  };
  return Object.keys(config).length > 0 ? config : undefined;
}

export function printProject(p: Project): void {
  printFields([
    ['id', p.id],
    ['repository', p.remoteUrl],
    ['default branch', p.defaultBranch],
    ['deploy', p.deployCommand],
    ['validate', p.validation?.command],
    ['validation instructions', p.validation?.instructions],
    ['notify webhook', p.notify?.webhookUrl && 'set'],
    ['notify slack', p.notify?.slackUrl && 'set'],
    ['escalation webhook', p.notify?.escalationWebhookUrl && 'set'],
    ['escalation slack', p.notify?.escalationSlackUrl && 'set'],
    ['question policy', p.questionPolicy && describeQuestionPolicy(p.questionPolicy)],
    ['created', p.createdAt],
    ['updated', p.updatedAt],
  ]);
}
