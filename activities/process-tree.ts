/**
 * The processes of an agent run, found and ended: by process group, and by the marker variable every
 * process of a run carries in its environment (Claude Code runs each Bash command in a new session, and
 * a backgrounded command is reparented to init, so neither the group nor the process tree reaches
 * it). `killNow`/`waitGone` signal the group and every marked process, SIGTERM then SIGKILL; the owner
 * variable lets the next worker of a host end what a killed worker left running (`killOrphanedRuns`).
 * Everything here reads `/proc`; without it, only the process group is signalled.
 */
import { readdirSync, readFileSync } from 'node:fs';

/** An environment variable that marks every process of one run. */
export interface Marker {
  name: string;
  value: string;
}

/**
 * Which marked processes to find: those with exactly `value`, or with a value starting `prefix` (other
 * than `except`). `startedAfter` (clock ticks since boot) skips older processes without reading them.
 */
export type MarkerQuery = (Marker | { name: string; prefix: string; except?: string }) & { startedAfter?: number };

/** Pids of live (not zombie) processes in process group `pgid`, or carrying `marker` in their environment. */
export function findRunProcesses(pgid: number | undefined, marker: MarkerQuery | undefined): number[] {
  const procs = listProcesses();
  if (procs === undefined) {
    if (pgid === undefined) return [];
    try {
      process.kill(-pgid, 0);
      return [pgid];
    } catch {
      return [];
    }
  }
  const found: number[] = [];
  for (const p of procs) {
    if (p.pid === process.pid || p.state === 'Z') continue;
    if (pgid !== undefined && p.pgrp === pgid) {
      found.push(p.pid);
    } else if (
      marker !== undefined &&
      !(marker.startedAfter !== undefined && p.startTime < marker.startedAfter) &&
      markerMatches(readEnviron(p.pid), marker)
    ) {
      found.push(p.pid);
    }
  }
  return found;
}

function markerMatches(environ: string | undefined, query: MarkerQuery): boolean {
  if (environ === undefined) return false;
  const key = `${query.name}=`;
  const entry = environ.split('\0').find((e) => e.startsWith(key));
  if (entry === undefined) return false;
  const value = entry.slice(key.length);
  return 'value' in query ? value === query.value : value.startsWith(query.prefix) && value !== query.except;
}

/** Kill every process that `marker` matches (such as the leftovers of earlier attempts of a run). */
export async function killMarkedProcesses(marker: MarkerQuery, graceMs: number): Promise<number> {
  const pids = findRunProcesses(undefined, marker);
  if (pids.length === 0) return 0;
  signalPids(pids, 'SIGTERM');
  if (!(await waitGone(undefined, marker, graceMs))) {
    signalPids(findRunProcesses(undefined, marker), 'SIGKILL');
    await waitGone(undefined, marker, 5_000);
  }
  return pids.length;
}

/**
 * End a run: signal process group `pgid` and every process `marker` matches with SIGTERM, SIGKILL what
 * is left after `graceMs`, then wait until nothing is left (at most a few seconds more).
 */
export async function terminateRun(pgid: number, marker: MarkerQuery, graceMs: number): Promise<void> {
  if (!alive(pgid, marker)) return;
  killNow(pgid, marker, 'SIGTERM');
  if (await waitGone(pgid, marker, graceMs)) return;
  killNow(pgid, marker, 'SIGKILL');
  await waitGone(pgid, marker, 5_000);
}

/**
 * Names the worker process that owns an agent process: `<host>:<pid>:<start ticks>`, in the environment
 * of the agent and its descendants. A worker killed outright (SIGKILL, the OOM killer) cannot stop its
 * agents, which run on, orphaned; a later worker of the same host finds them by an owner that is gone.
 */
export const OWNER_VARIABLE = 'CLAUDOMATOR_WORKER';

export function ownerTag(host: string): string {
  return `${host}:${process.pid}:${startTicks(process.pid) ?? 0}`;
}

function startTicks(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19]);
  } catch {
    return undefined;
  }
}

/** Live agent processes of `host` whose owning worker process no longer exists (its pid gone or reused). */
export function findOrphanedRuns(host: string): number[] {
  const procs = listProcesses();
  if (procs === undefined) return [];
  const live = new Map(procs.filter((p) => p.state !== 'Z').map((p) => [p.pid, p.startTime]));
  const prefix = `${OWNER_VARIABLE}=${host}:`;
  const found: number[] = [];
  for (const p of procs) {
    if (p.pid === process.pid || p.state === 'Z') continue;
    const entry = readEnviron(p.pid)
      ?.split('\0')
      .find((e) => e.startsWith(prefix));
    if (entry === undefined) continue;
    const [owner, start] = entry.slice(prefix.length).split(':').map(Number);
    if (owner === undefined || live.get(owner) !== start) found.push(p.pid);
  }
  return found;
}

/**
 * Kill the agent processes of `host` that a dead worker left behind (SIGTERM, SIGKILL after `graceMs`);
 * returns their pids. Run processes of live workers, this one's included, are never touched.
 */
export async function killOrphanedRuns(host: string, graceMs: number): Promise<number[]> {
  const pids = findOrphanedRuns(host);
  if (pids.length === 0) return [];
  signalPids(pids, 'SIGTERM');
  const gone = async (timeoutMs: number): Promise<boolean> => {
    const deadline = Date.now() + timeoutMs;
    while (findOrphanedRuns(host).length > 0) {
      if (Date.now() >= deadline) return false;
      await new Promise((resolve) => setTimeout(resolve, 25));
    }
    return true;
  };
  if (!(await gone(graceMs))) {
    signalPids(findOrphanedRuns(host), 'SIGKILL');
    await gone(5_000);
  }
  return pids;
}

function alive(pgid: number | undefined, marker: MarkerQuery | undefined): boolean {
  return findRunProcesses(pgid, marker).length > 0;
}

export function killNow(pgid: number, marker: MarkerQuery, signal: NodeJS.Signals): void {
  try {
    process.kill(-pgid, signal);
  } catch {
    // The group is gone already.
  }
  signalPids(findRunProcesses(undefined, marker), signal);
}

function signalPids(pids: number[], signal: NodeJS.Signals): void {
  for (const pid of pids) {
    try {
      process.kill(pid, signal);
    } catch {
      // Exited meanwhile.
    }
  }
}

async function waitGone(
  pgid: number | undefined,
  marker: MarkerQuery | undefined,
  timeoutMs: number,
): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (!alive(pgid, marker)) return true;
    if (Date.now() >= deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
}

export interface ProcInfo {
  pid: number;
  state: string;
  pgrp: number;
  /** Clock ticks after boot. */
  startTime: number;
  /** User + system CPU time so far, in clock ticks (USER_HZ). */
  cpuTicks: number;
  /** Resident set size, in pages. */
  rssPages: number;
}

/** Every process from /proc, or undefined where there is no /proc. */
export function listProcesses(): ProcInfo[] | undefined {
  let entries: string[];
  try {
    entries = readdirSync('/proc');
  } catch {
    return undefined;
  }
  const out: ProcInfo[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
    } catch {
      continue;
    }
    // "pid (comm) state ppid pgrp …": comm may hold spaces and parentheses, so split after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.push({
      pid: Number(entry),
      state: fields[0] ?? '?',
      pgrp: Number(fields[2]),
      cpuTicks: Number(fields[11]) + Number(fields[12]),
      startTime: Number(fields[19]),
      rssPages: Number(fields[21]),
    });
  }
  return out;
}

/**
 * Clock ticks since boot, a second early (a margin for rounding), in the unit of /proc/<pid>/stat's start
 * time (USER_HZ, 100 on Linux); undefined without /proc.
 */
export function ticksNow(): number | undefined {
  try {
    return Math.floor(parseFloat(readFileSync('/proc/uptime', 'utf8')) * 100) - 100;
  } catch {
    return undefined;
  }
}

function readEnviron(pid: number): string | undefined {
  try {
    return readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return undefined;
  }
}
