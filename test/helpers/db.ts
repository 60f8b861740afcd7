/**
 * Test databases: one template per run (migrated once in global setup), cloned per test file with
 * `create database … template …`, all dropped at the end of the run.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { Store } from '../../store/index.js';
import { migrate } from '../../store/migrate.js';

/** The Postgres server tests use: TEST_DATABASE_URL, else the local server. Must allow `create database`. */
export function testServerUrl(): string {
  return process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
}

export function databaseUrl(serverUrl: string, database: string): string {
  const url = new URL(serverUrl);
  url.pathname = `/${database}`;
  return url.toString();
}

async function withAdmin<T>(serverUrl: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: serverUrl, connectionTimeoutMillis: 5_000 });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTemplateDatabase(prefix: string, serverUrl = testServerUrl()): Promise<string> {
  const name = `${prefix}_template`;
  await withAdmin(serverUrl, (c) => c.query(`create database ${pg.escapeIdentifier(name)}`));
  await migrate(databaseUrl(serverUrl, name));
  return name;
}

export interface TestDatabase {
  name: string;
  url: string;
  store: Store;
  drop(): Promise<void>;
}

/** A fresh, migrated database cloned from the run's template, with a store connected to it. */
export async function createTestDatabase(options: {
  serverUrl: string;
  template: string;
  prefix: string;
}): Promise<TestDatabase> {
  const name = `${options.prefix}_${randomUUID().slice(0, 8)}`;
  await withAdmin(options.serverUrl, (c) =>
    c.query(`create database ${pg.escapeIdentifier(name)} template ${pg.escapeIdentifier(options.template)}`),
  );
  const url = databaseUrl(options.serverUrl, name);
  const store = await Store.connect(url);
  return {
    name,
    url,
    store,
    async drop() {
      await store.close();
      await withAdmin(options.serverUrl, (c) =>
        c.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`),
      );
    },
  };
}

/** Drop every database of this run (clones and template). */
export async function dropTestDatabases(prefix: string, serverUrl = testServerUrl()): Promise<void> {
  await withAdmin(serverUrl, async (c) => {
    const { rows } = await c.query<{ datname: string }>(
      `select datname from pg_database where datname like $1::text order by datname desc`,
      [`${prefix}%`],
    );
    // Clones first, the template last (it cannot be dropped while a clone is being made from it).
    for (const row of rows.sort(
      (a, b) => Number(a.datname.endsWith('_template')) - Number(b.datname.endsWith('_template')),
    )) {
      await c.query(`drop database if exists ${pg.escapeIdentifier(row.datname)} with (force)`);
    }
  });
}
