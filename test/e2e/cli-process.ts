/**
 * Runs the real `claudomator` binary (client/cli.ts under tsx's loader, in one node process so
 * signals reach it directly) in a clean environment: only what a test passes, plus PATH and HOME.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execa } from 'execa';
import { afterAll, inject } from 'vitest';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = path.join(ROOT, 'client', 'cli.ts');

export type CliEnv = Record<string, string>;

// Data dirs made for the importing test file (the dev server's state among them), removed after it.
const dataDirs: string[] = [];
afterAll(async () => {
  await Promise.all(dataDirs.splice(0).map((dir) => rm(dir, { recursive: true, force: true })));
});

/**
 * The environment of a CLI run against the test run's dev server and the given database: a fresh
 * data dir, per-test task queues, and the prebuilt workflow bundle (so workers start fast).
 */
export async function cliEnv(options: { databaseUrl: string; queue: string; extra?: CliEnv }): Promise<CliEnv> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-cli-'));
  dataDirs.push(dataDir);
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? os.homedir(),
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    TEMPORAL_CLI_PATH: inject('temporalCliPath'),
    DATABASE_URL: options.databaseUrl,
    CLAUDOMATOR_DATA_DIR: dataDir,
    CLAUDOMATOR_TASK_QUEUE: options.queue,
    CLAUDOMATOR_AGENT_TASK_QUEUE: `${options.queue}-agents`,
    CLAUDOMATOR_HOST_ID: 'test-host',
    CLAUDOMATOR_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
    ...options.extra,
  };
}

export function startCli(args: string[], env: CliEnv) {
  return execa(process.execPath, ['--import', 'tsx', CLI, ...args], {
    cwd: ROOT,
    env,
    extendEnv: false,
    reject: false,
    all: true,
    stdin: 'ignore',
  });
}

export type CliProcess = ReturnType<typeof startCli>;

export interface CliResult {
  exitCode: number | undefined;
  stdout: string;
  stderr: string;
}

export async function runCli(args: string[], env: CliEnv): Promise<CliResult> {
  const result = await startCli(args, env);
  return { exitCode: result.exitCode, stdout: result.stdout, stderr: result.stderr };
}

/** Resolve with the first output line matching `pattern`; reject if the process ends first. */
export async function waitForOutput(child: CliProcess, pattern: RegExp): Promise<string> {
  let seen = '';
  return new Promise((resolve, reject) => {
    const onData = (chunk: Buffer): void => {
      seen += chunk.toString();
      const line = seen.split('\n').find((l) => pattern.test(l));
      if (line !== undefined) {
        child.all?.off('data', onData);
        resolve(line);
      }
    };
    child.all?.on('data', onData);
    void child.then((result) =>
      reject(new Error(`the process exited (${String(result.exitCode)}) before printing ${pattern}:\n${seen}`)),
    );
  });
}
