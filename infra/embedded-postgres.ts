/**
 * An embedded Postgres that needs nothing installed: PGlite (Postgres compiled to WebAssembly, data
 * in `<dataDir>/pglite/pgdata`) behind a TCP server that speaks the Postgres wire protocol, so the
 * same `pg` code (store, migrations) runs against it as against a real server.
 *
 * PGlite is one Postgres backend: one session. The server lets several clients connect and gives
 * the session to one of them at a time, from its first message until the session is idle again
 * (after a Sync or a simple Query, outside a transaction block). That keeps the extended-protocol
 * steps of one query (Parse, Bind, Execute, Sync) and whole transactions together; the multiplexer
 * of `@electric-sql/pglite-socket` interleaves them per message and breaks concurrent `pg` pools
 * ("unnamed prepared statement does not exist"), which is why this file exists.
 * Limits (see docs/decisions/embedded-postgres.md): transactions of different clients run one after
 * another, session state (SET, advisory locks, temp tables) is shared by all clients, no COPY, no
 * LISTEN/NOTIFY, no cancel requests. Only one process may open the data directory: the process that
 * hosts the server writes `<dataDir>/pglite/server.json`, and other claudomator processes connect
 * to it instead of opening the files themselves (see `acquireEmbeddedPostgres`).
 */
import { mkdir, open, readFile, rm, unlink, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { PGlite } from '@electric-sql/pglite';
import { migrate } from '../store/migrate.js';
import { urlAnswers } from './net.js';

export interface EmbeddedPostgres {
  /** A `postgres://` URL that `pg` and the store connect to. */
  url: string;
  port: number;
  stop(): Promise<void>;
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;
const CANCEL_REQUEST = 80877102;
const SYNC_MESSAGE = new Uint8Array([0x53, 0, 0, 0, 4]);

/** A FIFO mutex: the PGlite session, held by one client connection at a time. */
class SessionLock {
  private held = false;
  private readonly waiters: Array<() => void> = [];

  async acquire(): Promise<void> {
    if (!this.held) {
      this.held = true;
      return;
    }
    await new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  release(): void {
    const next = this.waiters.shift();
    if (next) next();
    else this.held = false;
  }
}

/** One client connection: frames its messages and runs them on the shared session. */
class ClientConnection {
  private buffer = Buffer.alloc(0);
  private started = false;
  private holding = false;
  private closed = false;
  private work: Promise<void> = Promise.resolve();
  /** Resolves once the connection closed and gave the session back. */
  readonly finished: Promise<void>;

  constructor(
    private readonly socket: net.Socket,
    private readonly db: PGlite,
    private readonly lock: SessionLock,
  ) {
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, chunk]);
      this.work = this.work
        .then(() => this.drain())
        .catch(() => {
          this.socket.destroy();
        });
    });
    socket.on('error', () => socket.destroy());
    this.finished = new Promise((resolve) => {
      socket.on('close', () => {
        this.closed = true;
        this.work = this.work.then(() => this.giveBack()).catch(() => undefined);
        void this.work.then(resolve);
      });
    });
  }

  private async drain(): Promise<void> {
    while (!this.closed) {
      if (!this.started) {
        if (this.buffer.length < 8) return;
        const length = this.buffer.readInt32BE(0);
        if (this.buffer.length < length) return;
        const code = this.buffer.readInt32BE(4);
        const message = this.take(length);
        if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
          this.socket.write('N'); // no encryption on a loopback server; the client goes on in plain text
        } else if (code === CANCEL_REQUEST) {
          this.socket.end();
          return;
        } else {
          this.started = true;
          await this.run(message, true);
        }
        continue;
      }
      if (this.buffer.length < 5) return;
      const type = String.fromCharCode(this.buffer[0]!);
      const length = 1 + this.buffer.readInt32BE(1);
      if (this.buffer.length < length) return;
      const message = this.take(length);
      if (type === 'X') {
        this.socket.end();
        return;
      }
      // Sync ends an extended-protocol query, Query a simple one: the session may change hands there.
      await this.run(message, type === 'S' || type === 'Q');
    }
  }

  private take(length: number): Uint8Array {
    const message = new Uint8Array(this.buffer.subarray(0, length));
    this.buffer = this.buffer.subarray(length);
    return message;
  }

  private async run(message: Uint8Array, endsUnit: boolean): Promise<void> {
    if (!this.holding) {
      await this.lock.acquire();
      this.holding = true;
    }
    await this.db.runExclusive(() =>
      this.db.execProtocolRawStream(message, {
        onRawData: (data) => {
          if (!this.closed && data.length > 0) this.socket.write(data);
        },
      }),
    );
    if (endsUnit && !this.db.isInTransaction()) {
      this.holding = false;
      this.lock.release();
    }
  }

  /** A client that went away mid-query or mid-transaction: end its work so the next client starts clean. */
  private async giveBack(): Promise<void> {
    if (!this.holding) return;
    try {
      await this.db.runExclusive(() => this.db.execProtocolRaw(SYNC_MESSAGE));
      if (this.db.isInTransaction()) await this.db.exec('rollback');
    } finally {
      this.holding = false;
      this.lock.release();
    }
  }
}

/**
 * Open (creating on first use) the PGlite database in `dir` and serve it on `host:port` (port 0:
 * a free one). The first start runs initdb, which takes several seconds.
 */
export async function startEmbeddedPostgres(options: {
  dir: string;
  host?: string;
  port?: number;
}): Promise<EmbeddedPostgres> {
  const host = options.host ?? '127.0.0.1';
  await mkdir(options.dir, { recursive: true });
  // Loaded on demand: the WebAssembly module is large and most processes never need it.
  const { PGlite } = await import('@electric-sql/pglite');
  const db = await PGlite.create(options.dir);
  const lock = new SessionLock();
  const connections = new Set<ClientConnection>();
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    const connection = new ClientConnection(socket, db, lock);
    connections.add(connection);
    void connection.finished.finally(() => connections.delete(connection));
  });
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(options.port ?? 0, host, () => resolve());
    });
  } catch (err) {
    await db.close();
    throw err;
  }
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  let stopped: Promise<void> | undefined;
  return {
    url: `postgres://postgres@${host}:${port}/postgres`,
    port,
    stop() {
      stopped ??= (async () => {
        const closing = new Promise<void>((resolve) => server.close(() => resolve()));
        for (const socket of sockets) socket.destroy();
        await closing;
        await Promise.all([...connections].map((c) => c.finished.catch(() => undefined)));
        await db.close();
      })();
      return stopped;
    },
  };
}

// ---- One host per data directory ------------------------------------------------------------

/** What the hosting process writes to `<dataDir>/pglite/server.json`. */
interface Announcement {
  pid: number;
  url: string;
  /** Hosted by a long-lived process (`up`, a worker), as opposed to a one-off CLI command. */
  longLived: boolean;
  startedAt: string;
}

export interface EmbeddedDatabase {
  url: string;
  /** True when this process hosts the server (and `release` stops it). */
  hosted: boolean;
  release(): Promise<void>;
}

export class EmbeddedDatabaseBusyError extends Error {
  override readonly name = 'EmbeddedDatabaseBusyError';
  constructor(dir: string, pid: number) {
    super(
      `The embedded database in ${dir} is held by another process (pid ${pid}) that does not serve it. ` +
        `Stop that process, or set DATABASE_URL to a Postgres server.`,
    );
  }
}

export function embeddedDir(dataDir: string): string {
  return path.join(dataDir, 'pglite');
}

/**
 * The embedded database of `dataDir`: the server another claudomator process already serves, or a
 * server hosted by this process. The host migrates the database before it announces the server, so
 * clients never race on migrations (advisory locks cannot separate clients of one session).
 *
 * A long-lived caller (`up`, a worker) does not lean on a server hosted by a one-off command, which
 * will stop soon: it waits for that command to finish and hosts the server itself.
 */
export async function acquireEmbeddedPostgres(
  dataDir: string,
  options: { longLived?: boolean; waitMs?: number; log?: (line: string) => void } = {},
): Promise<EmbeddedDatabase> {
  const dir = embeddedDir(dataDir);
  const lockFile = path.join(dir, 'owner.lock');
  const announceFile = path.join(dir, 'server.json');
  const longLived = options.longLived ?? false;
  const deadline = Date.now() + (options.waitMs ?? 60_000);
  await mkdir(dir, { recursive: true });

  for (;;) {
    const announced = await readAnnouncement(announceFile);
    if (
      announced &&
      isAlive(announced.pid) &&
      (announced.longLived || !longLived) &&
      (await urlAnswers(announced.url, 5432))
    ) {
      return { url: announced.url, hosted: false, release: () => Promise.resolve() };
    }
    const owner = await tryLock(lockFile);
    if (owner === 'acquired') break;
    if (Date.now() > deadline) throw new EmbeddedDatabaseBusyError(dir, owner);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }

  try {
    const fresh = !(await exists(path.join(dir, 'pgdata', 'PG_VERSION')));
    if (fresh)
      options.log?.(`creating the embedded database in ${path.join(dir, 'pgdata')} (first start takes a few seconds)`);
    const server = await startEmbeddedPostgres({ dir: path.join(dir, 'pgdata') });
    try {
      await migrate(server.url);
    } catch (err) {
      await server.stop();
      throw err;
    }
    const announcement: Announcement = {
      pid: process.pid,
      url: server.url,
      longLived,
      startedAt: new Date().toISOString(),
    };
    await writeFile(announceFile, `${JSON.stringify(announcement, null, 2)}\n`);
    let released: Promise<void> | undefined;
    return {
      url: server.url,
      hosted: true,
      release() {
        released ??= (async () => {
          await rm(announceFile, { force: true });
          await server.stop();
          await unlink(lockFile).catch(() => undefined);
        })();
        return released;
      },
    };
  } catch (err) {
    await unlink(lockFile).catch(() => undefined);
    throw err;
  }
}

/**
 * The URL of the embedded database another claudomator process (`up`, a worker, `migrate`) serves
 * for `dataDir` now, or undefined: this looks, and never hosts or creates anything.
 */
export async function servedEmbeddedPostgres(dataDir: string): Promise<string | undefined> {
  const announced = await readAnnouncement(path.join(embeddedDir(dataDir), 'server.json'));
  if (announced && isAlive(announced.pid) && (await urlAnswers(announced.url, 5432))) return announced.url;
  return undefined;
}

/** Create the lock file holding our pid; a lock whose process is gone is taken over. */
async function tryLock(lockFile: string): Promise<'acquired' | number> {
  for (;;) {
    try {
      const handle = await open(lockFile, 'wx');
      await handle.writeFile(String(process.pid));
      await handle.close();
      return 'acquired';
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const pid = Number((await readFile(lockFile, 'utf8').catch(() => '')).trim());
    if (Number.isInteger(pid) && pid > 0 && isAlive(pid)) return pid;
    // Stale (its process died without cleaning up) or half-written: remove it and try again.
    await unlink(lockFile).catch(() => undefined);
    if (!pid) await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

async function readAnnouncement(file: string): Promise<Announcement | undefined> {
  try {
    const value = JSON.parse(await readFile(file, 'utf8')) as Partial<Announcement>;
    if (typeof value.pid === 'number' && typeof value.url === 'string') {
      return { pid: value.pid, url: value.url, longLived: value.longLived === true, startedAt: value.startedAt ?? '' };
    }
  } catch {
    // Missing or half-written: treated as no announcement.
  }
  return undefined;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

async function exists(file: string): Promise<boolean> {
  return readFile(file).then(
    () => true,
    () => false,
  );
}
