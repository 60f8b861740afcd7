/**
 * Finds the Postgres claudomator uses, creates its database when missing and migrates it.
 * DATABASE_URL wins; without it, the local server on 127.0.0.1:5432.
 */
import pg from 'pg';
import { DatabaseUnreachableError, describeTarget, Store } from '../store/index.js';
import { migrate } from '../store/migrate.js';
import type { Config } from './config.js';

export const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/claudomator';

export function resolveDatabaseUrl(config: Pick<Config, 'databaseUrl'>): string {
  return config.databaseUrl ?? LOCAL_DATABASE_URL;
}

/** Create the database named in `url` if the server lacks it (connecting to the `postgres` maintenance database). */
export async function ensureDatabase(url: string): Promise<void> {
  const target = new URL(url);
  const name = decodeURIComponent(target.pathname.replace(/^\//, '')) || 'postgres';
  const admin = new URL(url);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString(), connectionTimeoutMillis: 5_000 });
  try {
    await client.connect();
  } catch (err) {
    throw new DatabaseUnreachableError(describeTarget(url), err);
  }
  try {
    const { rowCount } = await client.query('select 1 from pg_database where datname = $1::text', [name]);
    if (rowCount === 0) {
      await client.query(`create database ${pg.escapeIdentifier(name)}`).catch((err: unknown) => {
        // Two processes creating it at once: the loser finds it there.
        if (!(err instanceof pg.DatabaseError && err.code === '42P04')) throw err;
      });
    }
  } finally {
    await client.end();
  }
}

/** Ensure the database exists, apply migrations, and open the store. */
export async function openStore(url: string): Promise<Store> {
  await ensureDatabase(url);
  await migrate(url);
  return Store.connect(url);
}
