/**
 * Recorded workflow histories for the determinism guard (test/replay). Tests of each lifecycle path
 * call `recordHistory` on the workflow they drove; with RECORD_HISTORIES=1 the history is written to
 * test/replay/histories/<name>.json, and the replay test replays every committed file against the
 * current workflow code. Re-record only when a change is meant to be incompatible (and then version it).
 */
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { WorkflowHandle } from '@temporalio/client';
import { historyToJSON } from '@temporalio/common/lib/proto-utils.js';

export const HISTORIES_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', 'replay', 'histories');

export async function recordHistory(handle: WorkflowHandle, name: string): Promise<void> {
  if (process.env.RECORD_HISTORIES !== '1') return;
  const history = await handle.fetchHistory();
  await writeFile(path.join(HISTORIES_DIR, `${name}.json`), `${historyToJSON(history)}\n`);
}
