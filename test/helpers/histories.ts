/**
 * Recorded workflow histories for the determinism guard (test/replay). Tests of each lifecycle path
 * call `recordHistory` on the workflow they drove; with RECORD_HISTORIES=1 the history is written to
 * test/replay/histories/<name>.json, and the replay test replays every committed file against the
 * current workflow code. Re-record only when a change is meant to be incompatible (and then version it).
 *
 * Each file is `{ workflowId, history }`: the history as `temporal workflow show --output json` prints
 * it, and the workflow id, which replay needs (the workflows check their own id).
 */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';
import { execa } from 'execa';
import { inject } from 'vitest';

export const HISTORIES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'replay', 'histories');

/** Record the latest run of `handle`'s workflow, or with `runId` that run (one that continued as new). */
export async function recordHistory(handle: WorkflowHandle, name: string, runId?: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const { stdout } = await execa(inject('temporalCliPath'), [
    'workflow',
    'show',
    '--workflow-id',
    handle.workflowId,
    ...(runId ? ['--run-id', runId] : []),
    '--address',
    inject('temporalAddress'),
    '--namespace',
    inject('temporalNamespace'),
    '--output',
    'json',
  ]);
  await mkdir(HISTORIES_DIR, { recursive: true });
  const file = { workflowId: handle.workflowId, history: JSON.parse(stdout) as unknown };
  await writeFile(path.join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify(file, null, 1)}\n`);
}

/**
 * Record the history as the SDK fetches it, for a server the temporal CLI does not reach (the
 * time-skipping test server, which each test file starts on a port of its own): the same proto JSON.
 */
export async function recordFetchedHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = JSON.parse(historyToJSON(await handle.fetchHistory())) as unknown;
  await mkdir(HISTORIES_DIR, { recursive: true });
  const file = { workflowId: handle.workflowId, history };
  await writeFile(path.join(HISTORIES_DIR, `${name}.json`), `${JSON.stringify(file, null, 1)}\n`);
}
