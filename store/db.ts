/** Where a store function sends its statements: the pool, or the one connection holding a transaction. */
import type pg from 'pg';

export type Db = pg.Pool | pg.PoolClient;

/** Where the connection string points, without credentials, for error messages. */
export function describeTarget(connectionString: string): string {
  try {
    const url = new URL(connectionString);
    return `${url.hostname}:${url.port || '5432'}${url.pathname}`;
  } catch {
    return 'the configured DATABASE_URL';
  }
}
