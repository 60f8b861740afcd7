/**
 * Applies the numbered SQL files in `migrations/` with node-pg-migrate.
 *
 * Forward-only; each file runs in its own transaction; an advisory lock makes concurrent runners
 * wait for each other, so two workers starting at once do not race. Running it twice is a no-op.
 * A database that has migrations this code does not know (it is newer than the code) is refused.
 */
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { runner } from 'node-pg-migrate';
import type pg from 'pg';

/** The migrations directory, whether running from source (tsx) or from dist/. */
export function migrationsDir(): string {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const fromSource = path.resolve(here, '..', 'migrations');
  const fromDist = path.resolve(here, '..', '..', 'migrations');
  return here.split(path.sep).includes('dist') ? fromDist : fromSource;
}

/** Apply pending migrations; returns the names of those applied (empty when up to date). */
export async function migrate(databaseUrl: string, options: { log?: (msg: string) => void } = {}): Promise<string[]> {
  try {
    const applied = await runner({
      // A connect timeout, so an unreachable database fails in seconds instead of hanging.
      databaseUrl: { connectionString: databaseUrl, connectionTimeoutMillis: 5_000 },
      dir: migrationsDir(),
      direction: 'up',
      migrationsTable: 'claudomator_migrations',
      checkOrder: true,
      advisoryLockMode: 'wait',
      log: options.log ?? (() => undefined),
    });
    return applied.map((m) => m.name);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    if (message.includes('have been deleted')) {
      throw new Error(
        `The database has migrations this version of claudomator does not know (${message}); ` +
          'it was migrated by a newer version. Upgrade claudomator instead of running an older one against it.',
        { cause: err },
      );
    }
    throw err;
  }
}

/** The migrations this code has that the database has not applied (all of them on an empty database). */
export async function unappliedMigrations(db: Pick<pg.Pool, 'query'>): Promise<string[]> {
  const known = readdirSync(migrationsDir())
    .filter((f) => f.endsWith('.sql'))
    .map((f) => f.replace(/\.sql$/, ''))
    .sort();
  const { rows: table } = await db.query<{ exists: boolean }>(
    "select to_regclass('claudomator_migrations') is not null as exists",
  );
  const { rows } = table[0]?.exists
    ? await db.query<{ name: string }>('select name from claudomator_migrations')
    : { rows: [] };
  const applied = new Set(rows.map((r) => r.name));
  return known.filter((name) => !applied.has(name));
}
