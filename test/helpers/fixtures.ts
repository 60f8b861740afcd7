/**
 * Per-file fixtures: a fresh database cloned from the run's template (dropped afterwards).
 */
import { afterAll, beforeAll, inject } from 'vitest';
import { createTestDatabase, type TestDatabase } from './db.js';

/** Register hooks that give the file its own database; read `.current` inside tests. */
export function useTestDatabase(): { readonly current: TestDatabase } {
  let db: TestDatabase | undefined;
  beforeAll(async () => {
    db = await createTestDatabase({
      serverUrl: inject('postgresServerUrl'),
      template: inject('templateDatabase'),
      prefix: inject('testDatabasePrefix'),
    });
  });
  afterAll(async () => {
    await db?.drop();
  });
  return {
    get current(): TestDatabase {
      if (!db) throw new Error('the test database is created in beforeAll; use it inside tests');
      return db;
    },
  };
}
