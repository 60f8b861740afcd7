/**
 * A worker process for the memory benchmark: `startWorker` (the code behind `claudomator worker`)
 * with the role given as the first argument and the configuration from the environment, plus an IPC
 * channel on which the parent asks for this process's memory and cache figures, so they are the
 * worker's alone. Started by bench/blocked-tasks-memory.ts with `--import tsx --expose-gc`.
 */
import { readFileSync } from 'node:fs';
import { loadConfig, WORKER_ROLES, type WorkerRole } from '../infra/config.js';
import { startWorker } from '../worker/run.js';

export interface WorkerStats {
  /** Resident set size now, and its peak since the process started (VmRSS, VmHWM), bytes. */
  rss: number;
  peakRss: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
  /** Workflow executions held in the workers' caches. */
  cachedWorkflows: number;
}

export type WorkerRequest = { type: 'stats'; gc: boolean } | { type: 'stop' };
export type WorkerMessage = { type: 'ready' } | { type: 'stats'; stats: WorkerStats };

const role = process.argv[2] as WorkerRole;
if (!WORKER_ROLES.includes(role))
  throw new Error(`worker role must be one of ${WORKER_ROLES.join(', ')}, got "${role}"`);
const running = await startWorker(loadConfig(), { role });

function statusKb(field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  return Number(match?.[1] ?? NaN) * 1024;
}

const send = (message: WorkerMessage): void => {
  process.send?.(message);
};

process.on('message', (request: WorkerRequest) => {
  if (request.type === 'stop') {
    running.shutdown();
    return;
  }
  if (request.gc) globalThis.gc?.();
  const memory = process.memoryUsage();
  send({
    type: 'stats',
    stats: {
      rss: statusKb('VmRSS'),
      peakRss: statusKb('VmHWM'),
      heapUsed: memory.heapUsed,
      heapTotal: memory.heapTotal,
      external: memory.external,
      cachedWorkflows: running.workers.reduce((n, { worker }) => n + worker.getStatus().numCachedWorkflows, 0),
    },
  });
});
send({ type: 'ready' });
await running.done;
process.disconnect?.();
