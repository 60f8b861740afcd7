/**
 * `ClaudomatorClient.connect` only connects: it creates no database, applies no migration and hosts
 * no embedded Postgres. What it cannot use is an UnavailableError that says which command fixes it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, inject, it } from 'vitest';
import { ClaudomatorClient, loadConfig, UnavailableError } from '../../client/index.js';
import { freePort } from '../../infra/dev-server.js';
import { findDatabase, NoDatabaseError } from '../../infra/postgres.js';
import { databaseUrl } from '../helpers/db.js';

const server = inject('postgresServerUrl');
const emptyName = `${inject('testDatabasePrefix')}_empty`;
const dataDir = mkdtempSync(path.join(os.tmpdir(), 'sdk-connect-'));

afterAll(() => rmSync(dataDir, { recursive: true, force: true }));

async function admin<T>(fn: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: server });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

describe('ClaudomatorClient.connect', () => {
  it('refuses a database without the migrations, and leaves it as it was', async () => {
    await admin((c) => c.query(`create database ${pg.escapeIdentifier(emptyName)}`));
    const url = databaseUrl(server, emptyName);
    const config = loadConfig({ DATABASE_URL: url, CLAUDOMATOR_DATA_DIR: dataDir });

    const error = await ClaudomatorClient.connect(config).catch((err: unknown) => err);
    expect(error).toBeInstanceOf(UnavailableError);
    expect((error as UnavailableError).message).toMatch(/lacks \d+ migration\(s\) of this version \(0001_/);
    expect((error as UnavailableError).hint).toContain('claudomator migrate');

    const db = new pg.Client({ connectionString: url });
    await db.connect();
    try {
      const { rows } = await db.query<{ n: string }>(
        "select count(*) as n from information_schema.tables where table_schema = 'public'",
      );
      expect(Number(rows[0]!.n)).toBe(0);
    } finally {
      await db.end();
    }
  });

  it('connects to a migrated database given as databaseUrl, without touching Temporal', async () => {
    const url = databaseUrl(server, `${inject('templateDatabase')}`);
    const config = loadConfig({ CLAUDOMATOR_DATA_DIR: dataDir, TEMPORAL_ADDRESS: '127.0.0.1:1' });
    const client = await ClaudomatorClient.connect(config, { databaseUrl: url });
    try {
      expect(await client.listProjects()).toEqual([]);
    } finally {
      await client.close();
    }
  });

  it('finds no database when nothing answers and no process serves the embedded one, and says how to get one', async () => {
    const closed = `postgres://postgres@127.0.0.1:${await freePort()}/claudomator`;
    const config = { databaseUrl: undefined, dataDir };
    await expect(findDatabase(config, { localUrl: closed })).rejects.toThrow(NoDatabaseError);
    await expect(findDatabase(config, { localUrl: closed })).rejects.toThrow(/no claudomator process serves/);
  });
});
