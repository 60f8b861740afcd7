/**
 * The workflow bundle: built once (at `npm run build`, or once per test run) and loaded by every
 * worker, so workers start fast and run exactly the code that was built.
 */
import { existsSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode } from '@temporalio/worker';

const here = path.dirname(fileURLToPath(import.meta.url));

/** The workflow source entry (`workflows/index.ts`), also when running from dist/. */
export function workflowsEntry(): string {
  const source = path.resolve(here, '..', 'workflows', 'index.ts');
  if (existsSync(source)) return source;
  return path.resolve(here, '..', '..', 'workflows', 'index.ts');
}

/** Where `npm run build` writes the bundle. */
export function prebuiltBundlePath(): string {
  const inDist = here.split(path.sep).includes('dist');
  return path.resolve(here, inDist ? '..' : path.join('..', 'dist'), 'workflow-bundle.js');
}

export async function buildWorkflowBundle(outFile: string): Promise<string> {
  const { code } = await bundleWorkflowCode({ workflowsPath: workflowsEntry(), logger: quietLogger });
  await mkdir(path.dirname(outFile), { recursive: true });
  await writeFile(outFile, code);
  return outFile;
}

const noop = (): void => undefined;
const quietLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };
