/**
 * Finds the Postgres claudomator uses.
 *
 * In order: DATABASE_URL; else the local server on 127.0.0.1:5432 when its port answers; else the
 * embedded Postgres of the data directory (PGlite, see infra/embedded-postgres.ts). Processes that
 * own the database (`up`, `migrate`, a worker) use `resolveDatabase`, which hosts the embedded server
 * when nobody serves it and creates and migrates the database; clients (the SDK, the CLI's other
 * commands) use `findDatabase`, which only finds one.
 */
import pg from 'pg';
import { DatabaseUnreachableError, describeTarget, Store, UnavailableError } from '../store/index.js';
import { migrate } from '../store/migrate.js';
import type { Config } from './config.js';
import { acquireEmbeddedPostgres, embeddedDir, servedEmbeddedPostgres } from './embedded-postgres.js';
import { urlAnswers } from './net.js';

export const LOCAL_DATABASE_URL = 'postgres://postgres@127.0.0.1:5432/claudomator';

/** DATABASE_URL, else the local server's URL; without the embedded fallback (use `resolveDatabase` for that). */
export function resolveDatabaseUrl(config: Pick<Config, 'databaseUrl'>): string {
  return config.databaseUrl ?? LOCAL_DATABASE_URL;
}

export type DatabaseSource = 'DATABASE_URL' | 'local' | 'embedded';

export interface ResolvedDatabase {
  url: string;
  source: DatabaseSource;
  /** Where it is, without credentials, for messages. */
  description: string;
  /** Stops the embedded server when this process hosts it; otherwise nothing. */
  close(): Promise<void>;
}

export interface ResolveDatabaseOptions {
  /**
   * A process that runs for long (`up`, a worker) hosts the embedded server itself rather than lean
   * on one served by a short CLI command.
   */
  longLived?: boolean;
  /** The local server to try before the embedded one (tests point it at a closed port). */
  localUrl?: string;
  log?: (line: string) => void;
}

/** Where this process's database is (see the module comment for the order). */
export async function resolveDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  options: ResolveDatabaseOptions = {},
): Promise<ResolvedDatabase> {
  const none = (): Promise<void> => Promise.resolve();
  if (config.databaseUrl) {
    return {
      url: config.databaseUrl,
      source: 'DATABASE_URL',
      description: describeTarget(config.databaseUrl),
      close: none,
    };
  }
  const localUrl = options.localUrl ?? LOCAL_DATABASE_URL;
  if (await urlAnswers(localUrl, 5432)) {
    return { url: localUrl, source: 'local', description: describeTarget(localUrl), close: none };
  }
  const embedded = await acquireEmbeddedPostgres(config.dataDir, {
    longLived: options.longLived ?? false,
    ...(options.log ? { log: options.log } : {}),
  });
  return {
    url: embedded.url,
    source: 'embedded',
    description: `embedded Postgres in ${embeddedDir(config.dataDir)} (${describeTarget(embedded.url)})`,
    close: () => embedded.release(),
  };
}

/**
 * Where a client's database is: DATABASE_URL, else the local server when it answers, else the embedded
 * database a running claudomator process serves. Hosts nothing and creates nothing; when there is no
 * database, the error says how to get one.
 */
export async function findDatabase(
  config: Pick<Config, 'databaseUrl' | 'dataDir'>,
  options: Pick<ResolveDatabaseOptions, 'localUrl'> = {},
): Promise<string> {
  if (config.databaseUrl) return config.databaseUrl;
  const localUrl = options.localUrl ?? LOCAL_DATABASE_URL;
  if (await urlAnswers(localUrl, 5432)) return localUrl;
  const embedded = await servedEmbeddedPostgres(config.dataDir);
  if (embedded) return embedded;
  throw new NoDatabaseError(config.dataDir);
}

/** No database to connect to: DATABASE_URL unset, no local server, and no process serving the embedded one. */
export class NoDatabaseError extends UnavailableError {
  override readonly name = 'NoDatabaseError';
  constructor(dataDir: string) {
    super(
      'database',
      `No database: DATABASE_URL is unset, nothing answers on 127.0.0.1:5432, and no claudomator process serves ` +
        `the embedded database of ${dataDir}.`,
      'Start the local stack with `claudomator up` (it hosts the embedded Postgres), or set DATABASE_URL.',
    );
  }
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
