#!/usr/bin/env node
/**
 * Worker process entry for images and process managers: `node dist/worker/main.js`, the role from
 * CLAUDOMATOR_WORKER_ROLE (all, orchestration or agents). Same as `claudomator worker`.
 */
import { loadConfig } from '../infra/config.js';
import { runWorkerUntilSignal } from './run.js';

async function main(): Promise<void> {
  await runWorkerUntilSignal(loadConfig());
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exit(1);
});
