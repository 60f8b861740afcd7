/**
 * Store throughput on the embedded Postgres (PGlite behind infra/embedded-postgres.ts) against the
 * local Postgres server, measured in the same run: the baseline is the real server. Prints
 * operations per second for each and the ratio. `npx tsx bench/embedded-postgres.ts [operations]`
 * (needs Postgres on 127.0.0.1:5432 or TEST_DATABASE_URL for the baseline).
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startEmbeddedPostgres } from '../infra/embedded-postgres.js';
import { openStore } from '../infra/postgres.js';
import type { Store } from '../store/index.js';

const OPERATIONS = Number(process.argv[2] ?? 400);
const CONCURRENCY = 10;

/** A mix like the workers': a transactional create, a state change, and reads. */
async function workload(store: Store, label: string): Promise<number> {
  await store.upsertProject({ id: `bench-${label}`, remoteUrl: '/srv/git/bench.git', defaultBranch: 'main' });
  let next = 0;
  const started = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      for (let i = next++; i < OPERATIONS; i = next++) {
        const id = `${label}-${i}`;
        await store.createTask({
          id,
          name: 'n',
          instructions: 'i',
          agent: { type: 'claude' },
          projectId: `bench-${label}`,
        });
        await store.updateTaskState(id, 'QUEUED');
        await store.getTask(id);
        await store.listProjects();
      }
    }),
  );
  return (OPERATIONS * 4) / ((performance.now() - started) / 1000);
}

const dir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-bench-'));
const serverUrl = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const baselineDb = `claudomator_bench_${process.pid}`;
const admin = new pg.Client({ connectionString: serverUrl });
await admin.connect();
await admin.query(`create database ${baselineDb}`);
const embedded = await startEmbeddedPostgres({ dir: path.join(dir, 'pgdata') });
try {
  const baselineUrl = new URL(serverUrl);
  baselineUrl.pathname = `/${baselineDb}`;
  const local = await openStore(baselineUrl.toString());
  const localOps = await workload(local, 'local');
  await local.close();

  const store = await openStore(embedded.url);
  const embeddedOps = await workload(store, 'embedded');
  await store.close();

  console.log(`store operations, ${OPERATIONS * 4} per database, ${CONCURRENCY} concurrent clients`);
  console.log(`  local Postgres (baseline)  ${localOps.toFixed(0).padStart(6)} ops/s`);
  console.log(`  embedded (PGlite)          ${embeddedOps.toFixed(0).padStart(6)} ops/s`);
  console.log(`  embedded / baseline        ${(embeddedOps / localOps).toFixed(2)}`);
} finally {
  await embedded.stop();
  await admin.query(`drop database if exists ${baselineDb} with (force)`);
  await admin.end();
  await rm(dir, { recursive: true, force: true });
}
