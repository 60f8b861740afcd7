import { defineConfig } from 'vitest/config';

/**
 * Two projects: `unit` (pure code, parallel threads) and `integration` (real Temporal dev server,
 * real Postgres, real git and processes). Integration files run in forked processes, because the
 * Temporal worker's native runtime does not like vitest threads (sdk-typescript#876).
 */
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          sequence: { groupOrder: 0 },
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/{store,activities,workflows,replay,e2e,infra}/**/*.test.ts'],
          globalSetup: ['test/global-setup.ts'],
          setupFiles: ['test/setup-runtime.ts'],
          pool: 'forks',
          sequence: { groupOrder: 1 },
          maxWorkers: 2,
          testTimeout: 120_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
