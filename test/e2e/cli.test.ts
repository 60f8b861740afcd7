import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { uniqueName } from '../helpers/temporal.js';
import { cliEnv, runCli, type CliEnv } from './cli-process.js';

/** The real `claudomator` binary as a subprocess, against the run's dev server and this file's database. */
describe('claudomator CLI', () => {
  const db = useTestDatabase();
  let env: CliEnv;

  beforeAll(async () => {
    env = await cliEnv({ databaseUrl: db.current.url, queue: uniqueName('cli') });
  });

  it('project add, then project show --json returns it with camelCase fields', async () => {
    const added = await runCli(
      [
        'project',
        'add',
        'acme',
        '--repo',
        '/srv/git/acme.git',
        '--deploy-cmd',
        'make deploy',
        '--validate',
        'npm test',
      ],
      env,
    );
    expect(added.exitCode, added.stderr).toBe(0);
    expect(added.stdout).toContain('project acme saved');

    const shown = await runCli(['project', 'show', 'acme', '--json'], env);
    expect(shown.exitCode, shown.stderr).toBe(0);
    expect(JSON.parse(shown.stdout)).toMatchObject({
      id: 'acme',
      remoteUrl: '/srv/git/acme.git',
      defaultBranch: 'main',
      deployCommand: 'make deploy',
      validation: { command: 'npm test' },
    });
  });

  it('story create with an unknown project: exit 3, says what to do, writes nothing', async () => {
    const result = await runCli(['story', 'create', 'st-1', '--project', 'ghost', '--branch', 'feature/x'], env);
    expect(result.exitCode).toBe(3);
    expect(result.stderr).toContain('No project "ghost"');
    expect(result.stderr).toContain('claudomator project add ghost --repo');
    expect(await db.current.store.listStories()).toEqual([]);
  });

  it('invalid values: exit 2 naming the flag, nothing written', async () => {
    const project = await runCli(
      ['project', 'add', 'bad', '--repo', '/srv/git/x.git', '--default-branch', 'a..b'],
      env,
    );
    expect(project.exitCode).toBe(2);
    expect(project.stderr).toMatch(/--default-branch \(defaultBranch\): is not a valid git branch name/);

    const story = await runCli(
      ['story', 'create', 'st-2', '--project', 'acme', '--branch', 'feature/y', '--max-fix-attempts', '11', '--json'],
      env,
    );
    expect(story.exitCode).toBe(2);
    expect(story.stderr).toContain('--max-fix-attempts (maxFixAttempts): must be at most 10');
    expect(JSON.parse(story.stdout)).toMatchObject({
      error: { code: 'INVALID', issues: [{ path: '--max-fix-attempts (maxFixAttempts)' }] },
    });

    expect((await db.current.store.listProjects()).map((p) => p.id)).not.toContain('bad');
    expect(await db.current.store.listStories()).toEqual([]);
  });
});

describe('claudomator temporal setup', () => {
  let connection: Connection;
  let namespace: string;

  beforeAll(async () => {
    // A namespace of its own, so the first run has every attribute to add.
    connection = await Connection.connect({ address: inject('temporalAddress') });
    namespace = uniqueName('setup');
    await connection.workflowService.registerNamespace({
      namespace,
      workflowExecutionRetentionPeriod: msToTs(86_400_000),
    });
  });
  afterAll(async () => {
    await connection?.close();
  });

  it('registers the search attributes on a namespace, and the second run changes nothing', async () => {
    const env = await cliEnv({ databaseUrl: 'postgres://unused@127.0.0.1:1/unused', queue: namespace });
    env.TEMPORAL_NAMESPACE = namespace;

    const first = await runCli(['temporal', 'setup', '--json'], env);
    expect(first.exitCode, first.stderr).toBe(0);
    expect(JSON.parse(first.stdout)).toEqual({
      namespace,
      added: SEARCH_ATTRIBUTES.map((key) => key.name),
    });

    const second = await runCli(['temporal', 'setup', '--json'], env);
    expect(second.exitCode, second.stderr).toBe(0);
    expect(JSON.parse(second.stdout)).toEqual({ namespace, added: [] });

    const { customAttributes } = await connection.operatorService.listSearchAttributes({ namespace });
    expect(Object.keys(customAttributes ?? {})).toEqual(expect.arrayContaining(SEARCH_ATTRIBUTES.map((k) => k.name)));
  });
});
