/**
 * Agent processes: spawn one with execa (never through a shell) in its own process group, stream its
 * stdout and stderr to log files, hand complete JSON-looking stdout lines to a parser, and kill it with
 * everything it started (finding and killing: process-tree.ts; following the logs: log-follow.ts).
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
import { closeSync, fstatSync, openSync } from 'node:fs';
import { lchown, lstat, mkdir, readdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { DEFAULT_MAX_LINE_BYTES, DEFAULT_TAIL_BYTES, LineSplitter, LogReader, readLogs } from './log-follow.js';
import {
  killNow,
  type Marker,
  type MarkerQuery,
  OWNER_VARIABLE,
  ownerTag,
  terminateRun,
  ticksNow,
} from './process-tree.js';

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
    await terminateRun(this.pid, this.marker, graceMs);
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
