// @ts-check
import js from '@eslint/js';
import prettier from 'eslint-config-prettier';
import importX from 'eslint-plugin-import-x';
import tseslint from 'typescript-eslint';

const NODE_BUILTINS = [
  'assert',
  'async_hooks',
  'buffer',
  'child_process',
  'cluster',
  'console',
  'crypto',
  'dgram',
  'dns',
  'events',
  'fs',
  'fs/promises',
  'http',
  'http2',
  'https',
  'inspector',
  'module',
  'net',
  'os',
  'path',
  'perf_hooks',
  'process',
  'querystring',
  'readline',
  'stream',
  'string_decoder',
  'timers',
  'tls',
  'tty',
  'url',
  'util',
  'v8',
  'vm',
  'worker_threads',
  'zlib',
];

/**
 * The layers (docs/ARCHITECTURE.md, "Layers"): each top-level folder and the folders it may import.
 * Workflows may also import *types* from the layers above (the activities they proxy).
 */
const LAYERS = {
  workflows: [],
  agents: ['workflows'],
  store: ['workflows'],
  infra: ['workflows', 'store'],
  activities: ['workflows', 'agents', 'store', 'infra'],
  worker: ['workflows', 'agents', 'store', 'infra', 'activities'],
  client: ['workflows', 'agents', 'store', 'infra'],
};
/** The CLI hosts processes (`up`, `worker`, `demo`): it may start a worker too. */
const CLI_ALSO = ['worker'];

/** An import of `folder` from anywhere below another top-level folder ('../x/…', '../../x/…'). */
const importOf = (folder) => ({ regex: `^(\\.\\./)+${folder}/` });

const WORKFLOW_ONLY = [
  ...NODE_BUILTINS.map((name) => ({ name, message: 'Workflow code must be deterministic: no Node built-ins.' })),
  { name: 'pg', message: 'Workflow code must not do I/O; use an activity.' },
  { name: 'execa', message: 'Workflow code must not spawn processes; use an activity.' },
  { name: '@temporalio/activity', message: 'Use @temporalio/workflow in workflow code.' },
  { name: '@temporalio/worker', message: 'Not allowed in workflow code.' },
  { name: '@temporalio/client', message: 'Not allowed in workflow code; use signals or an activity.' },
];

function layerRules() {
  const rule = (folder, allowed, extra = {}) => {
    const forbidden = Object.keys(LAYERS).filter((f) => f !== folder && !allowed.includes(f));
    return {
      'no-restricted-imports': [
        'error',
        {
          ...(extra.paths ? { paths: extra.paths } : {}),
          patterns: [
            ...(extra.patterns ?? []),
            ...forbidden.map((f) => ({
              ...importOf(f),
              ...(extra.allowTypeImports ? { allowTypeImports: true } : {}),
              message: `${folder}/ may not import ${f}/ (allowed: ${allowed.join(', ') || 'nothing but itself'}${extra.allowTypeImports ? ', and types from anywhere' : ''}); see docs/ARCHITECTURE.md, "Layers".`,
            })),
          ],
        },
      ],
    };
  };
  return [
    ...Object.entries(LAYERS)
      .filter(([folder]) => folder !== 'workflows')
      .map(([folder, allowed]) => ({ files: [`${folder}/**/*.ts`], rules: rule(folder, allowed) })),
    { files: ['client/cli/**/*.ts', 'client/cli.ts'], rules: rule('client', [...LAYERS.client, ...CLI_ALSO]) },
    {
      // Workflow code runs in Temporal's deterministic sandbox: no I/O, no Node built-ins, no runtime code.
      files: ['workflows/**/*.ts'],
      rules: rule('workflows', [], {
        paths: WORKFLOW_ONLY,
        patterns: [{ group: ['node:*'], message: 'Workflow code must be deterministic: no Node built-ins.' }],
        allowTypeImports: true,
      }),
    },
  ];
}

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', '.tools/**', 'coverage/**', 'test/fixtures/**/*.json*'] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    plugins: { 'import-x': importX },
    rules: {
      '@typescript-eslint/no-floating-promises': 'error',
      '@typescript-eslint/consistent-type-imports': ['error', { fixStyle: 'inline-type-imports' }],
      '@typescript-eslint/no-explicit-any': 'error',
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      eqeqeq: ['error', 'always', { null: 'ignore' }],
      '@typescript-eslint/explicit-module-boundary-types': 'error',
      'import-x/no-cycle': ['error', { ignoreExternal: true }],
      // Only infra/config.ts reads the environment; everything else gets a typed Config.
      'no-restricted-syntax': [
        'error',
        {
          selector: "MemberExpression[object.name='process'][property.name='env']",
          message: 'Read configuration through infra/config.ts (loadConfig).',
        },
      ],
    },
  },
  {
    // config.ts is the one reader; binaries.ts searches PATH like a shell does; tests and tools set up their own world.
    files: ['infra/config.ts', 'infra/binaries.ts', 'test/**', 'bench/**', 'scripts/**'],
    rules: { 'no-restricted-syntax': 'off' },
  },
  {
    files: ['test/**', 'bench/**', 'scripts/**', '*.config.ts'],
    rules: { '@typescript-eslint/explicit-module-boundary-types': 'off' },
  },
  ...layerRules(),
  {
    files: ['**/*.js', '**/*.mjs', '**/*.cjs'],
    ...tseslint.configs.disableTypeChecked,
    // Node scripts: their globals (process, URL, …) are Node's, which no-undef does not know.
    rules: { ...tseslint.configs.disableTypeChecked.rules, 'no-undef': 'off' },
  },
  {
    // CommonJS modules (the failure converter the Temporal SDK require()s by path).
    files: ['**/*.cjs'],
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
  prettier,
);
