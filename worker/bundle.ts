/**
 * The workflow bundle: built once (at `npm run build`, or once per test run) and loaded by every
 * worker, so workers start fast and run exactly the code that was built.
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, type WorkflowBundleOption } from '@temporalio/worker';
import { FAILURE_CONVERTER_PATH } from '../infra/codec.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The workflow source entry (`workflows/index.ts`), also when running from dist/. */
export function workflowsEntry(): string {
  const source = path.resolve(here, '..', 'workflows', 'index.ts');
  if (existsSync(source)) return source;
  return path.resolve(here, '..', '..', 'workflows', 'index.ts');
}

/** Where `npm run build` writes the bundle. */
export function prebuiltBundlePath(): string {
  return path.resolve(here, runningFromDist() ? '..' : path.join('..', 'dist'), 'workflow-bundle.js');
}

export async function buildWorkflowBundle(outFile: string): Promise<string> {
  const { code } = await bundleWorkflowCode(bundleOptions());
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, code);
  return outFile;
}

export interface LoadedBundle {
  bundle: WorkflowBundleOption;
  /** Where it came from, for the worker's start-up log. */
  source: string;
}

/**
 * The workflow code a worker runs: the configured bundle; else `dist/workflow-bundle.js` when it is
 * at least as new as every workflow source file (or when running from dist/, where there are no
 * sources to compare); else a bundle built from source now (development, several seconds).
 */
export async function loadWorkflowBundle(configuredPath?: string): Promise<LoadedBundle> {
  if (configuredPath) return prebuiltWorkflowBundle(configuredPath);
  const prebuilt = prebuiltBundlePath();
  if (existsSync(prebuilt) && (runningFromDist() || (await isCurrent(prebuilt)))) {
    return { bundle: { codePath: prebuilt }, source: prebuilt };
  }
  const { code } = await bundleWorkflowCode(bundleOptions());
  return { bundle: { code }, source: `${path.dirname(workflowsEntry())} (bundled at start)` };
}

/**
 * A bundle built beforehand and nothing else: the configured one, else `dist/workflow-bundle.js`.
 * For workers that must not bundle at start (a Lambda's cold start, worker/lambda.ts).
 */
export function prebuiltWorkflowBundle(configuredPath?: string): LoadedBundle {
  const file = configuredPath ?? prebuiltBundlePath();
  if (!existsSync(file)) {
    throw new Error(
      configuredPath
        ? `The workflow bundle ${file} (CLAUDOMATOR_WORKFLOW_BUNDLE) does not exist; run npm run build.`
        : `The workflow bundle ${file} does not exist: run npm run build, or set CLAUDOMATOR_WORKFLOW_BUNDLE.`,
    );
  }
  return { bundle: { codePath: file }, source: file };
}

/** The workflows, with the failure converter every worker and client uses (infra/failure-converter.cjs). */
function bundleOptions(): Parameters<typeof bundleWorkflowCode>[0] {
  return { workflowsPath: workflowsEntry(), failureConverterPath: FAILURE_CONVERTER_PATH, logger: quietLogger };
}

function runningFromDist(): boolean {
  return here.split(path.sep).includes('dist');
}

/** A bundle older than a workflow source file would run stale code. */
async function isCurrent(bundleFile: string): Promise<boolean> {
  const sources = path.dirname(workflowsEntry());
  if (!existsSync(sources)) return true;
  const built = (await stat(bundleFile)).mtimeMs;
  const files = await readdir(sources, { recursive: true });
  for (const file of files) {
    if (!file.endsWith('.ts')) continue;
    if ((await stat(path.join(sources, file))).mtimeMs > built) return false;
  }
  return true;
}

const noop = (): void => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };
