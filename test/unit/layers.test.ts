/**
 * The layer rules in eslint.config.js fail on a forbidden import: each folder is linted with one
 * import of every other top-level folder, and exactly the ones docs/ARCHITECTURE.md forbids are errors.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ESLint } from 'eslint';
import tseslint from 'typescript-eslint';
import { describe, expect, it } from 'vitest';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
// Only the import rules matter here; type-aware rules need the file in the TypeScript project.
const eslint = new ESLint({ cwd: ROOT, overrideConfig: [tseslint.configs.disableTypeChecked] });

const FOLDERS = ['workflows', 'agents', 'store', 'infra', 'activities', 'worker', 'client'] as const;
type Folder = (typeof FOLDERS)[number];

/** What each folder may import besides itself (the table in docs/ARCHITECTURE.md). */
const ALLOWED: Record<Folder, readonly Folder[]> = {
  workflows: [],
  agents: ['workflows'],
  store: ['workflows'],
  infra: ['workflows', 'store'],
  activities: ['workflows', 'agents', 'store', 'infra'],
  worker: ['workflows', 'agents', 'store', 'infra', 'activities'],
  client: ['workflows', 'agents', 'store', 'infra'],
};

async function forbiddenImports(file: string, code: string): Promise<string[]> {
  const [result] = await eslint.lintText(code, { filePath: path.join(ROOT, file) });
  return (result?.messages ?? []).filter((m) => m.ruleId === 'no-restricted-imports').map((m) => m.message);
}

describe('layer rules', { timeout: 60_000 }, () => {
  for (const folder of FOLDERS) {
    it(`${folder}/ may import ${ALLOWED[folder].join(', ') || 'only itself'}`, async () => {
      for (const other of FOLDERS.filter((f) => f !== folder)) {
        const errors = await forbiddenImports(
          `${folder}/probe.ts`,
          `import { x } from '../${other}/index.js';\nvoid x;\n`,
        );
        if (ALLOWED[folder].includes(other)) expect(errors, `${folder} → ${other}`).toEqual([]);
        else expect(errors.join('\n'), `${folder} → ${other}`).toContain(`${folder}/ may not import ${other}/`);
      }
    });
  }

  it('applies at any depth, and lets the CLI start a worker while the SDK may not', async () => {
    expect(
      await forbiddenImports('client/cli/probe.ts', "import { x } from '../../worker/run.js';\nvoid x;\n"),
    ).toEqual([]);
    expect(
      (await forbiddenImports('client/sdk/probe.ts', "import { x } from '../../worker/run.js';\nvoid x;\n")).join(),
    ).toContain('client/ may not import worker/');
    expect(
      (
        await forbiddenImports('activities/deep/probe.ts', "import { x } from '../../client/index.js';\nvoid x;\n")
      ).join(),
    ).toContain('activities/ may not import client/');
  });

  it('lets workflows import types, and only types, from the layers above', async () => {
    const typeOnly = "import type { Activities } from '../activities/index.js';\nexport type A = Activities;\n";
    expect(await forbiddenImports('workflows/probe.ts', typeOnly)).toEqual([]);
    const value = "import { createActivities } from '../activities/index.js';\nvoid createActivities;\n";
    expect((await forbiddenImports('workflows/probe.ts', value)).join()).toContain(
      'workflows/ may not import activities/',
    );
    expect((await forbiddenImports('workflows/probe.ts', "import fs from 'node:fs';\nvoid fs;\n")).join()).toContain(
      'deterministic',
    );
  });
});
