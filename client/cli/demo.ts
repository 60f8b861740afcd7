/** `claudomator demo`: the local stack, one small story end to end, and where to look. */
import type { Command } from 'commander';
import { loadConfig } from '../../infra/config.js';
import { claudeAvailable, runDemo } from '../demo.js';
import { ClaudomatorClient } from '../index.js';
import { EXIT, info, out, parseDuration, parsePort, printJson, type JsonOption } from './common.js';

export function registerDemoCommand(program: Command): void {
  program
    .command('demo')
    .description(
      'Run a small story end to end on the local stack (the command agent: no API key needed; claude too when configured).',
    )
    .option('--keep-running', 'leave the stack up afterwards (Ctrl-C stops it)')
    .option('--verbose', "show the worker's log lines too (at CLAUDOMATOR_LOG_LEVEL)")
    .option('--ui-port <port>', 'Web UI port of the dev server started here', parsePort, 8233)
    .option('--timeout <duration>', 'give up after this long (default 10m)', parseDuration)
    .option('--json', 'print the result as JSON')
    .action(
      async (opts: JsonOption & { keepRunning?: boolean; timeout?: number; uiPort: number; verbose?: boolean }) => {
        const { startStack } = await import('../../worker/stack.js');
        // The worker's own log lines would bury the story's progress: warnings only, unless asked.
        const config = opts.verbose ? loadConfig() : { ...loadConfig(), logLevel: 'WARN' as const };
        const stack = await startStack(config, { uiPort: opts.uiPort, log: info });
        try {
          const client = await ClaudomatorClient.connect(stack.config);
          try {
            const withClaude = claudeAvailable(stack.config);
            info(
              withClaude
                ? 'claude is configured: the story includes a Claude Code task'
                : 'no claude configured: the story uses the command agent only',
            );
            const result = await runDemo(client, { log: info, timeoutMs: opts.timeout ?? 10 * 60_000, withClaude });
            if (opts.json) printJson({ ...result, webUi: stack.temporal.uiUrl });
            else {
              out('');
              out(
                `story ${result.story.id}: ${result.story.status}${result.story.detail ? ` (${result.story.detail})` : ''}`,
              );
              for (const t of result.tasks) out(`  ${t.state.padEnd(10)} ${t.id}  ${t.name}`);
              out(`main branch of ${result.repository}:`);
              for (const line of result.mainLog.slice(0, 6)) out(`  ${line}`);
              out('');
              out('where to look');
              out(`  Web UI      ${client.storyUrl(result.story.id)}`);
              if (!opts.keepRunning)
                out('              (the stack stops now: `claudomator up` brings it back with this history)');
              out(`  a task      claudomator task show ${result.tasks[0]?.id ?? '<id>'}`);
              out(`  its logs    claudomator task logs ${result.tasks[0]?.id ?? '<id>'}`);
              out('  the agents  claudomator agents');
            }
            if (result.story.status !== 'REVIEW_READY') process.exitCode = EXIT.failure;
          } finally {
            await client.close();
          }
          if (opts.keepRunning) {
            info(`the stack stays up: Web UI ${stack.temporal.uiUrl}; Ctrl-C stops it`);
            await new Promise<void>((resolve) => {
              process.once('SIGINT', resolve);
              process.once('SIGTERM', resolve);
            });
          }
        } finally {
          await stack.stop();
        }
      },
    );
}
