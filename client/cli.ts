#!/usr/bin/env node
/**
 * `claudomator`: the command line, built only on the SDK (client/index.ts) and the process entry
 * points (worker/stack.ts, worker/run.ts). Each command parses arguments, calls one SDK verb, and
 * prints the result for a person or, with --json, as JSON (camelCase fields). Errors print the reason
 * and what to do next, and end the process with a meaningful status (see EXIT in cli/common.ts).
 */
import { Command, CommanderError } from 'commander';
import { toClientError } from './index.js';
import { registerAgentCommands } from './cli/agents.js';
import { registerCodecCommands } from './cli/codec.js';
import { EXIT, EXIT_HELP, exitCodeFor, reportError } from './cli/common.js';
import { registerDemoCommand } from './cli/demo.js';
import { registerProjectCommands } from './cli/projects.js';
import { registerSetupCommands } from './cli/setup.js';
import { registerStoryCommands } from './cli/stories.js';
import { registerTaskCommands } from './cli/tasks.js';

function buildProgram(): Command {
  const program = new Command('claudomator')
    .description('Run AI coding agents on git repositories, durably, on Temporal.')
    .version('0.1.0')
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText('after', EXIT_HELP);
  registerSetupCommands(program);
  registerDemoCommand(program);
  registerProjectCommands(program);
  registerStoryCommands(program);
  registerTaskCommands(program);
  registerAgentCommands(program);
  registerCodecCommands(program);
  return program;
}

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
