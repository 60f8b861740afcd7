/**
 * Commands that run or set up the installation: the local stack, workers, migrations, Temporal
 * search attributes, and `doctor`.
 */
import { Option, type Command } from 'commander';
import { loadConfig, WORKER_ROLES, type WorkerRole } from '../../infra/config.js';
import { diagnose, migrateDatabase, setupTemporal, type DoctorReport } from '../index.js';
import { EXIT, info, out, parsePort, printFields, printJson, type JsonOption } from './common.js';

export function registerSetupCommands(program: Command): void {
  program
    .command('up')
    .description(
      'Run the local stack in the foreground: Temporal dev server with Web UI, database, migrations, worker. Ctrl-C stops it.',
    )
    .option('--ui-port <port>', 'Web UI port of the dev server started here', parsePort, 8233)
    .action(async (opts: { uiPort: number }) => {
      const { startStack, StackStartAbortedError } = await import('../../worker/stack.js');
      const { stopSignal } = await import('../../worker/run.js');
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
          `  payloads  ${stack.temporal.codecEndpoint ? `encrypted (key ${stack.config.encryption.keys[0]!.id}); the UI decrypts through ${stack.temporal.codecEndpoint}` : 'not encrypted (CLAUDOMATOR_ENCRYPTION=off)'}`,
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
      const { runWorkerUntilSignal } = await import('../../worker/run.js');
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
