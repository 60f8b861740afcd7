/**
 * Agent processes whose worker died: `killOrphanedRuns` ends the host's processes whose owning worker
 * process is gone (or whose pid now belongs to another process), and never a live worker's run or
 * another host's. Real processes, told apart only by the owner variable in their environment.
 */
import { spawn, spawnSync } from 'node:child_process';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { AgentProcess } from '../../activities/process.js';
import { findOrphanedRuns, killOrphanedRuns, OWNER_VARIABLE } from '../../activities/process-tree.js';
import { isAlive, tempDir } from '../helpers/fake-agent.js';
import { uniqueName } from '../helpers/temporal.js';

const scratch = tempDir('orphans');
const started: number[] = [];
afterAll(() => {
  for (const pid of started) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Gone already.
    }
  }
  scratch.remove();
});

/** A detached `sleep` whose environment names `owner` as its worker. */
function sleeper(owner: string): number {
  const child = spawn('sleep', ['60'], {
    detached: true,
    stdio: 'ignore',
    env: { PATH: process.env.PATH, [OWNER_VARIABLE]: owner },
  });
  child.unref();
  started.push(child.pid!);
  return child.pid!;
}

describe('killOrphanedRuns', () => {
  it("kills the host's processes whose worker is gone or whose worker pid was reused, and nothing else", async () => {
    const host = uniqueName('host');
    const deadWorker = spawnSync('true').pid;
    const orphan = sleeper(`${host}:${deadWorker}:12345`);
    // The pid is alive (this process) but started at another time: it is not the worker that owned the run.
    const reused = sleeper(`${host}:${process.pid}:1`);
    const otherHost = sleeper(`${uniqueName('other')}:${deadWorker}:12345`);
    // A run of this (live) worker, marked the way the runner marks it.
    const live = await AgentProcess.spawn({
      file: 'sleep',
      args: ['60'],
      cwd: scratch.dir,
      env: { PATH: process.env.PATH ?? '' },
      stdoutPath: path.join(scratch.dir, 'out.log'),
      stderrPath: path.join(scratch.dir, 'err.log'),
      marker: { name: 'CLAUDOMATOR_RUN_ID', value: `${host}:1` },
      host,
    });
    started.push(live.pid);

    expect(findOrphanedRuns(host).sort()).toEqual([orphan, reused].sort());
    expect((await killOrphanedRuns(host, 1_000)).sort()).toEqual([orphan, reused].sort());
    expect([orphan, reused].filter(isAlive)).toEqual([]);
    expect(isAlive(otherHost)).toBe(true);
    expect(isAlive(live.pid)).toBe(true);
    expect(await killOrphanedRuns(host, 1_000)).toEqual([]);

    await live.terminate(1_000);
    expect(isAlive(live.pid)).toBe(false);
    await live.done; // its log readers finish before the scratch dir goes
  });
});
