/**
 * Agent processes: spawn one with execa (never through a shell) in its own process group, stream its
 * stdout and stderr to log files, hand complete JSON-looking stdout lines to a parser, and kill it with
 * everything it started.
 *
 * Killing a process group is not enough for agent CLIs: Claude Code runs each Bash tool command in a new
 * session (`setsid`), and a backgrounded command is reparented to init, so neither the group nor the
 * process tree reaches it. Every process of a run therefore carries a marker variable in its environment
 * (inherited by all descendants that do not wipe their environment), and `terminate` signals the group
 * and every process whose `/proc/<pid>/environ` holds the marker: SIGTERM, then SIGKILL after a grace
 * period, then it waits until none is left. On systems without `/proc` only the group is signalled.
 * Each process also names its worker process (`OWNER_VARIABLE`), so that what a killed worker left
 * running can be found and ended by the next worker of the host (`killOrphanedRuns`).
 *
 * The output path is built for volume: the CLI writes its stdout and stderr straight into the log files
 * (inherited descriptors, appended after earlier attempts), so its output never passes through the
 * worker and a slow reader can never stall the agent. The worker follows stdout from the file as it
 * grows, cuts lines with `Buffer.indexOf` and hands on only lines starting with `{`; stderr is only
 * measured, and its tail read at the end. A grandchild that keeps the descriptors open cannot hang the
 * end of a run either, as it would with pipes. Only the last few kilobytes of each stream stay in memory.
 */
import { once } from 'node:events';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync } from 'node:fs';
import { lchown, lstat, mkdir, open, readdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';

/** What to run and where its output goes. */
export interface SpawnRequest {
  file: string;
  args: readonly string[];
  cwd: string;
  /** The complete environment of the process (nothing is inherited from the worker). */
  env: Readonly<Record<string, string>>;
  stdoutPath: string;
  stderrPath: string;
  /** Set in the environment of the process; every descendant that keeps its environment is found by it. */
  marker: Marker;
  /** The agent host: marks the process as this worker process's, so that a later worker can find it orphaned. */
  host?: string;
  /**
   * Run as this user instead of the worker's (the worker needs CAP_SETUID and CAP_SETGID): the agent
   * then cannot read the worker's /proc/<pid>/environ, which holds its database URL and Temporal key.
   */
  user?: { uid: number; gid: number };
  /**
   * Gets each complete stdout line that starts with `{`, up to `maxLineBytes` (longer lines are skipped),
   * as a view valid only during the call.
   */
  onLine?: (line: Buffer) => void;
  maxLineBytes?: number;
  /** Bytes of each stream kept for error messages. */
  tailBytes?: number;
}

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

export interface ProcessExit {
  exitCode: number | undefined;
  signal: string | undefined;
}

/** The executable could not be started (missing, not executable): a configuration problem, not a run. */
export class SpawnError extends Error {
  override readonly name = 'SpawnError';
  constructor(
    readonly file: string,
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

const DEFAULT_MAX_LINE_BYTES = 16 * 1024 * 1024;
const DEFAULT_TAIL_BYTES = 16 * 1024;
const READ_BLOCK_BYTES = 4 * 1024 * 1024;
/** How often the log files are checked for new output when there was none. */
const IDLE_POLL_MS = 25;
const NEWLINE = 0x0a;
const OPEN_BRACE = 0x7b;

/**
 * The runs of this worker process, killed when it exits (execa's `cleanup` does not apply to detached
 * processes). One set and one listener for the process, however many agents run at once.
 */
const killOnExit = new Set<{ pgid: number; marker: MarkerQuery }>();
process.on('exit', () => {
  for (const run of killOnExit) killNow(run.pgid, run.marker, 'SIGKILL');
});

/** A running agent process and its process group. */
export class AgentProcess {
  private readonly stdout: LogReader;
  private readonly stderr: LogReader;
  private exitInfo: ProcessExit | undefined;

  /** Resolves when the process has exited, its leftovers are gone and its output is read to the end. */
  readonly done: Promise<ProcessExit>;

  private constructor(
    readonly pid: number,
    private readonly marker: MarkerQuery,
    stdout: LogReader,
    stderr: LogReader,
    start: (self: AgentProcess) => Promise<ProcessExit>,
  ) {
    this.stdout = stdout;
    this.stderr = stderr;
    this.done = start(this);
  }

  /** Start `request.file`; throws `SpawnError` if it cannot be started. */
  static async spawn(request: SpawnRequest): Promise<AgentProcess> {
    const tailBytes = request.tailBytes ?? DEFAULT_TAIL_BYTES;
    const lines = new LineSplitter(request.maxLineBytes ?? DEFAULT_MAX_LINE_BYTES, request.onLine);
    // The CLI writes straight into the log files (appending after earlier attempts): its output never
    // passes through this process, so a slow reader can neither stall the agent nor lose a byte.
    const stdoutFd = openSync(request.stdoutPath, 'a');
    const stderrFd = openSync(request.stderrPath, 'a');
    const stdout = new LogReader(
      request.stdoutPath,
      fstatSync(stdoutFd).size,
      tailBytes,
      request.onLine ? (chunk) => lines.push(chunk) : undefined,
    );
    const stderr = new LogReader(request.stderrPath, fstatSync(stderrFd).size, tailBytes);
    // Only processes started from now on can belong to this run: older ones need not be looked at.
    const marker: MarkerQuery = { ...request.marker, startedAfter: ticksNow() };

    const start = () =>
      execa(request.file, [...request.args], {
        cwd: request.cwd,
        env: {
          ...request.env,
          [request.marker.name]: request.marker.value,
          ...(request.host !== undefined ? { [OWNER_VARIABLE]: ownerTag(request.host) } : {}),
        },
        extendEnv: false,
        ...(request.user ? { uid: request.user.uid, gid: request.user.gid } : {}),
        // Its own process group, so that one signal reaches the CLI and the children in its group.
        detached: true,
        // An open stdin pipe makes Claude wait and Codex read it into the prompt.
        stdin: 'ignore',
        // Any open descriptor is handed to spawn as it is; execa's types only spell out 3 to 9.
        stdout: stdoutFd as 3,
        stderr: stderrFd as 3,
        buffer: false,
        reject: false,
        // We kill the whole group ourselves; execa would signal only the direct child.
        forceKillAfterDelay: false,
      });
    let subprocess: ReturnType<typeof start>;
    try {
      subprocess = start();
    } finally {
      // The child has its own copies.
      closeSync(stdoutFd);
      closeSync(stderrFd);
    }

    if (subprocess.pid === undefined) {
      const result = await subprocess;
      const code = 'code' in result && typeof result.code === 'string' ? result.code : undefined;
      throw new SpawnError(
        request.file,
        code,
        `cannot start ${request.file}: ${code === 'ENOENT' ? 'no such executable' : (result.originalMessage ?? result.message ?? 'unknown error')}`,
      );
    }
    const pid = subprocess.pid;
    const run = { pgid: pid, marker };
    killOnExit.add(run);

    return new AgentProcess(pid, marker, stdout, stderr, async (self) => {
      let finish = (): void => undefined;
      const finished = new Promise<void>((resolve) => (finish = resolve));
      // Handled at once: a log file removed under a running agent must fail this run, not the worker.
      const reading = readLogs([stdout, stderr], finished).then(
        () => undefined,
        (err: unknown) => (err instanceof Error ? err : new Error('reading the agent logs failed', { cause: err })),
      );
      let readError: Error | undefined;
      try {
        const [exitCode, signal] = (await once(subprocess, 'exit')) as [number | null, NodeJS.Signals | null];
        self.exitInfo = { exitCode: exitCode ?? undefined, signal: signal ?? undefined };
        // The CLI's exit ends the run: what it left running is killed before the logs are read to the end.
        await self.terminate(2_000);
        await subprocess;
      } finally {
        finish();
        readError = await reading;
        lines.end();
        killOnExit.delete(run);
      }
      if (readError) throw readError;
      return self.exitInfo;
    });
  }

  /** Bytes of stdout and stderr read so far (output lags the process by at most a poll interval). */
  get bytes(): number {
    return this.stdout.bytes + this.stderr.bytes;
  }

  /** Whether the CLI itself has exited (its leftovers may still be being killed). */
  get exited(): boolean {
    return this.exitInfo !== undefined;
  }

  stdoutTail(): string {
    return this.stdout.tail.text();
  }

  stderrTail(): string {
    return this.stderr.tail.text();
  }

  /**
   * Kill the process group and every marked process: SIGTERM, SIGKILL for what is left after `graceMs`,
   * then wait until nothing is left (at most a few seconds more). Safe to call more than once.
   */
  async terminate(graceMs: number): Promise<void> {
    if (!alive(this.pid, this.marker)) return;
    killNow(this.pid, this.marker, 'SIGTERM');
    if (await waitGone(this.pid, this.marker, graceMs)) return;
    killNow(this.pid, this.marker, 'SIGKILL');
    await waitGone(this.pid, this.marker, 5_000);
  }
}

/**
 * Make `uid:gid` the owner of `dir` and everything under it (symlinks themselves, never their targets),
 * creating `dir` if needed: what an agent running as that user must write (its sandbox, its execution
 * dir, its HOME). Entries that already belong to it are left alone, so a second hand-over costs one
 * lstat per entry.
 */
export async function handOver(dir: string, user: { uid: number; gid: number }): Promise<void> {
  await mkdir(dir, { recursive: true });
  const visit = async (p: string): Promise<void> => {
    const st = await lstat(p);
    if (st.uid !== user.uid || st.gid !== user.gid) await lchown(p, user.uid, user.gid);
    if (st.isDirectory()) {
      for (const entry of await readdir(p)) await visit(path.join(p, entry));
    }
  };
  await visit(dir);
}

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
 * Names the worker process that owns an agent process: `<host>:<pid>:<start ticks>`, in the environment
 * of the agent and its descendants. A worker killed outright (SIGKILL, the OOM killer) cannot stop its
 * agents, which run on, orphaned; a later worker of the same host finds them by an owner that is gone.
 */
export const OWNER_VARIABLE = 'CLAUDOMATOR_WORKER';

function ownerTag(host: string): string {
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

function killNow(pgid: number, marker: MarkerQuery, signal: NodeJS.Signals): void {
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
function ticksNow(): number | undefined {
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

/**
 * Follows a log file from an offset as it grows. With `onBlock`, it reads every byte and hands each block
 * on (stdout, for the parser); without, it only tracks the size and reads the tail at the end (stderr, and
 * the output of agents that have no events), which costs nothing per byte.
 */
class LogReader {
  readonly tail: TailBuffer;
  private handle: FileHandle | undefined;
  private position: number;
  private size: number;

  constructor(
    private readonly path: string,
    private readonly start: number,
    private readonly tailBytes: number,
    private readonly onBlock?: (block: Buffer) => void,
  ) {
    this.position = start;
    this.size = start;
    this.tail = new TailBuffer(tailBytes);
  }

  /** Bytes written after the start so far. */
  get bytes(): number {
    return Math.max(this.position, this.size) - this.start;
  }

  /** Take in what is there now; returns the number of bytes read (always 0 when only the size is tracked). */
  async poll(buffer: Buffer): Promise<number> {
    this.handle ??= await open(this.path, 'r');
    if (this.onBlock === undefined) {
      this.size = (await this.handle.stat()).size;
      return 0;
    }
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, this.position);
    if (bytesRead > 0) {
      const block = buffer.subarray(0, bytesRead);
      this.position += bytesRead;
      this.tail.push(block);
      this.onBlock(block);
    }
    return bytesRead;
  }

  /** After the last poll: the tail of a file whose bytes were not all read. */
  async finish(): Promise<void> {
    if (this.onBlock !== undefined || this.handle === undefined) return;
    this.size = (await this.handle.stat()).size;
    const from = Math.max(this.start, this.size - this.tailBytes);
    const buffer = Buffer.alloc(this.size - from);
    const { bytesRead } = await this.handle.read(buffer, 0, buffer.length, from);
    this.tail.push(buffer.subarray(0, bytesRead));
  }

  async close(): Promise<void> {
    await this.handle?.close();
    this.handle = undefined;
  }
}

/** Follow the logs until `finished` resolves and everything written before it has been read. */
async function readLogs(readers: LogReader[], finished: Promise<void>): Promise<void> {
  const buffer = Buffer.allocUnsafe(READ_BLOCK_BYTES);
  let done = false;
  void finished.then(() => {
    done = true;
  });
  try {
    for (;;) {
      // Checked before reading: once the writers are gone, one more pass that finds nothing ends it.
      const last = done;
      let got = 0;
      for (const reader of readers) got += await reader.poll(buffer);
      if (got > 0) continue;
      if (last) break;
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([finished, new Promise((resolve) => (timer = setTimeout(resolve, IDLE_POLL_MS)))]);
      clearTimeout(timer);
    }
    for (const reader of readers) await reader.finish();
  } finally {
    await Promise.all(readers.map((r) => r.close()));
  }
}

/**
 * Cuts a byte stream into lines and passes on those that start with `{`, without `\r\n`, as views into
 * the stream's buffers: valid only during the call (copy what you keep).
 */
export class LineSplitter {
  private carry: Buffer[] = [];
  private carryBytes = 0;
  /** The current (unfinished) line: undefined at a line start, else whether it is kept. */
  private keep: boolean | undefined;

  constructor(
    private readonly maxLineBytes: number,
    private readonly onLine: ((line: Buffer) => void) | undefined,
  ) {}

  push(chunk: Buffer): void {
    if (this.onLine === undefined) return;
    let start = 0;
    while (start < chunk.length) {
      if (this.keep === undefined) this.keep = chunk[start] === OPEN_BRACE;
      const end = chunk.indexOf(NEWLINE, start);
      if (end === -1) {
        if (this.keep) this.hold(chunk.subarray(start));
        return;
      }
      if (this.keep) {
        if (this.carryBytes === 0) this.onLine(chunk.subarray(start, trimCr(chunk, start, end)));
        else {
          this.hold(chunk.subarray(start, end));
          if (this.keep) this.emitCarry();
        }
      }
      this.carry = [];
      this.carryBytes = 0;
      this.keep = undefined;
      start = end + 1;
    }
  }

  /** The last line, if the stream did not end with a newline. */
  end(): void {
    if (this.keep && this.carryBytes > 0) this.emitCarry();
    this.carry = [];
    this.carryBytes = 0;
    this.keep = undefined;
  }

  private hold(part: Buffer): void {
    if (this.carryBytes + part.length > this.maxLineBytes) {
      this.keep = false;
      this.carry = [];
      this.carryBytes = 0;
      return;
    }
    // Copied: a view would keep the whole 64 KiB chunk alive.
    this.carry.push(Buffer.from(part));
    this.carryBytes += part.length;
  }

  private emitCarry(): void {
    const line = Buffer.concat(this.carry, this.carryBytes);
    this.onLine?.(line.subarray(0, trimCr(line, 0, line.length)));
  }
}

function trimCr(buf: Buffer, start: number, end: number): number {
  return end > start && buf[end - 1] === 0x0d ? end - 1 : end;
}

/** The last `size` bytes of a stream. */
class TailBuffer {
  private buf = Buffer.alloc(0);
  constructor(private readonly size: number) {}

  push(chunk: Buffer): void {
    if (chunk.length >= this.size) {
      this.buf = Buffer.from(chunk.subarray(chunk.length - this.size));
    } else {
      const joined = Buffer.concat([this.buf, chunk]);
      this.buf = joined.length > this.size ? Buffer.from(joined.subarray(joined.length - this.size)) : joined;
    }
  }

  text(): string {
    // A cut may fall inside a multi-byte character; the replacement character is harmless in a tail.
    return this.buf.toString('utf8');
  }
}

const SECRET_NAME = /KEY|TOKEN|SECRET|PASSWORD/i;

/**
 * `text` with secrets blanked, for logs, errors and anything else that leaves the worker: the values of
 * `env` entries whose names look secret, and `NAME=value` / `"name": "value"` / `--name value` pairs whose
 * names look secret.
 */
export function redact(text: string, env: Readonly<Record<string, string>> = {}): string {
  let out = text;
  for (const [name, value] of Object.entries(env)) {
    if (SECRET_NAME.test(name) && value.length >= 6) out = out.split(value).join('***');
  }
  return out
    .replace(/\b([A-Za-z0-9_]*(?:KEY|TOKEN|SECRET|PASSWORD)[A-Za-z0-9_]*)=(\S+)/gi, '$1=***')
    .replace(/("[A-Za-z0-9_-]*(?:key|token|secret|password)[A-Za-z0-9_-]*"\s*:\s*)"[^"]*"/gi, '$1"***"')
    .replace(/(--[a-z0-9-]*(?:key|token|secret|password)[a-z0-9-]*)(=|\s+)(\S+)/gi, '$1$2***');
}
