import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  acquireEmbeddedPostgres,
  EmbeddedDatabaseBusyError,
  type EmbeddedDatabase,
} from '../../infra/embedded-postgres.js';
import { freePort } from '../../infra/dev-server.js';
import { openStore, resolveDatabase } from '../../infra/postgres.js';
import { Store } from '../../store/index.js';
import { migrate } from '../../store/migrate.js';
import { ROOT } from '../e2e/cli-process.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-pglite-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

// One data directory for the file: creating one (initdb in WebAssembly) takes several seconds.
const dataDir = (): string => path.join(dir, 'data');

describe('embedded Postgres (PGlite behind a socket server)', () => {
  let server: EmbeddedDatabase;
  let store: Store;

  beforeAll(async () => {
    server = await acquireEmbeddedPostgres(dataDir());
    store = await openStore(server.url);
  });
  afterAll(async () => {
    await store?.close();
    await server?.release();
  });

  it('runs the migrations (with their advisory lock) and the store on the same pg code', async () => {
    expect(server.hosted).toBe(true);
    expect(await migrate(server.url)).toEqual([]);
    await store.upsertProject({ id: 'p1', remoteUrl: '/srv/git/app.git', defaultBranch: 'main' });
    const { story } = await store.createStory({ id: 's1', projectId: 'p1', name: 'S', branch: 'b', maxFixAttempts: 2 });
    const { task } = await store.createTask({
      id: 't1',
      name: 'Task',
      instructions: 'Do it',
      agent: { type: 'command', command: 'true' },
      storyId: story.id,
      projectId: 'p1',
    });
    const second = await store.createTask({
      id: 't2',
      name: 'Next',
      instructions: 'Then',
      agent: { type: 'claude' },
      dependsOn: ['t1'],
    });
    expect(task.state).toBe('PENDING');
    expect(second.task.dependsOn).toEqual(['t1']);
    expect((await store.listTasksByStory('s1')).map((t) => t.id)).toEqual(['t1']);
    expect(await store.updateTaskState('t1', 'QUEUED')).toEqual({ from: 'PENDING' });
    expect((await store.getTask('t1')).state).toBe('QUEUED');
  });

  it('keeps concurrent clients apart: extended-protocol queries and transactions never interleave', async () => {
    // Different statement texts on ten connections at once: the stock pglite-socket multiplexer
    // interleaves Parse/Bind across connections here and fails with "unnamed prepared statement does not exist".
    const pool = new pg.Pool({ connectionString: server.url, max: 10 });
    try {
      await pool.query('create table concurrency (id int primary key)');
      const results = await Promise.all(
        Array.from({ length: 120 }, async (_, i) => {
          if (i % 2 === 0) {
            const { rows } = await pool.query<Record<string, number>>(`select $1::int + ${i % 5} as v${i % 7}`, [i]);
            return rows[0]![`v${i % 7}`] === i + (i % 5);
          }
          const client = await pool.connect();
          try {
            await client.query('begin');
            await client.query('insert into concurrency values ($1::int)', [i]);
            const { rows } = await client.query<{ n: number }>(
              'select count(*)::int as n from concurrency where id = $1::int',
              [i],
            );
            await client.query(i % 4 === 1 ? 'commit' : 'rollback');
            return rows[0]!.n === 1;
          } finally {
            client.release();
          }
        }),
      );
      expect(results.every(Boolean)).toBe(true);
      const { rows } = await pool.query<{ n: number }>('select count(*)::int as n from concurrency');
      expect(rows[0]!.n).toBe(30); // i % 4 === 1 for i < 120
    } finally {
      await pool.end();
    }
  });

  it('rolls back the open transaction of a client that goes away, and serves the next one', async () => {
    const client = new pg.Client({ connectionString: server.url });
    client.on('error', () => undefined);
    await client.connect();
    await client.query('begin');
    await client.query(`insert into projects (id, remote_url, default_branch) values ('ghost', '/x', 'main')`);
    // Drop the TCP connection without a Terminate message, as a crashed process would.
    (client as unknown as { connection: { stream: { destroy(): void } } }).connection.stream.destroy();
    const projects = await store.listProjects();
    expect(projects.map((p) => p.id)).toEqual(['p1']);
  });
});

describe('one host per data directory', () => {
  it('keeps its data across restarts', async () => {
    const first = await acquireEmbeddedPostgres(dataDir());
    expect(first.hosted).toBe(true);
    const store = await Store.connect(first.url);
    await store.upsertProject({ id: 'kept', remoteUrl: '/srv/git/kept.git', defaultBranch: 'main' });
    await store.close();
    await first.release();

    const second = await acquireEmbeddedPostgres(dataDir());
    const again = await Store.connect(second.url);
    try {
      expect((await again.getProject('kept')).remoteUrl).toBe('/srv/git/kept.git');
    } finally {
      await again.close();
      await second.release();
    }
  });

  it('lets other processes use the server a process hosts; a long-lived one waits for a short-lived host', async () => {
    // Another process hosts the embedded database as a one-off command would, until its stdin closes.
    const host = execa(
      process.execPath,
      [
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        `import { acquireEmbeddedPostgres } from './infra/embedded-postgres.ts';
         const db = await acquireEmbeddedPostgres(${JSON.stringify(dataDir())});
         console.log('URL ' + db.url);
         process.stdin.resume();
         process.stdin.on('end', async () => { await db.release(); console.log('RELEASED'); });`,
      ],
      { cwd: ROOT, stdin: 'pipe', reject: false },
    );
    const url = await new Promise<string>((resolve, reject) => {
      host.stdout?.on('data', (chunk: Buffer) => {
        const match = /URL (\S+)/.exec(chunk.toString());
        if (match) resolve(match[1]!);
      });
      void host.then((r) => reject(new Error(`host exited: ${r.stderr}`)));
    });

    const client = await acquireEmbeddedPostgres(dataDir());
    expect(client).toMatchObject({ url, hosted: false });
    const store = await Store.connect(client.url);
    expect((await store.getProject('kept')).id).toBe('kept');
    await store.close();

    await expect(acquireEmbeddedPostgres(dataDir(), { longLived: true, waitMs: 500 })).rejects.toThrow(
      EmbeddedDatabaseBusyError,
    );

    const waiting = acquireEmbeddedPostgres(dataDir(), { longLived: true });
    host.stdin?.end();
    const result = await host;
    expect(result.stdout).toContain('RELEASED');
    const longLived = await waiting;
    try {
      expect(longLived.hosted).toBe(true);
      expect(longLived.url).not.toBe(url);
    } finally {
      await longLived.release();
    }
  });

  it('is what resolveDatabase falls back to when neither DATABASE_URL nor a local server answers', async () => {
    const closedPort = await freePort();
    const database = await resolveDatabase(
      { databaseUrl: undefined, dataDir: dataDir() },
      { localUrl: `postgres://postgres@127.0.0.1:${closedPort}/claudomator` },
    );
    try {
      expect(database.source).toBe('embedded');
      const store = await Store.connect(database.url);
      expect((await store.listProjects()).map((p) => p.id)).toEqual(['kept', 'p1']);
      await store.close();
    } finally {
      await database.close();
    }
  });
});
