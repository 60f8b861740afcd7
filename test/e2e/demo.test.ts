import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { freePort } from '../../infra/dev-server.js';
import { portAnswers } from '../../infra/net.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { uniqueName } from '../helpers/temporal.js';
import { cliEnv, runCli } from './cli-process.js';

/** The README's first command, minus the install: the binary starts its own stack and runs a story. */
describe('claudomator demo', () => {
  const db = useTestDatabase();

  it('starts its own dev server, takes a story to REVIEW_READY with a real merge, and exits 0', async () => {
    const [port, uiPort] = [await freePort(), await freePort()];
    const env = await cliEnv({
      databaseUrl: db.current.url,
      queue: uniqueName('demo'),
      extra: { TEMPORAL_ADDRESS: `127.0.0.1:${port}`, TEMPORAL_NAMESPACE: 'default' },
    });
    const result = await runCli(['demo', '--json', '--timeout', '5m', '--ui-port', String(uiPort)], env);
    expect(result.exitCode, result.stderr).toBe(0);
    expect(result.stderr).toContain('temporal: starting the dev server');

    const demo = JSON.parse(result.stdout) as {
      story: { id: string; status: string };
      tasks: Array<{ name: string; state: string }>;
      repository: string;
    };
    expect(demo.story.status).toBe('REVIEW_READY');
    expect(demo.tasks.map((t) => t.state)).toEqual(['READY', 'READY', 'READY']);
    expect(demo.tasks.map((t) => t.name)).toContain('Make greet() say Hello');

    // The story's work is on the remote's main branch, and the validation really passes there.
    const { stdout: log } = await execa('git', ['log', '--oneline', 'main'], { cwd: demo.repository });
    expect(log).toContain(`Merge story ${demo.story.id}`);
    const { stdout: app } = await execa('git', ['show', 'main:app.js'], { cwd: demo.repository });
    expect(app).toContain('Hello, ${name}!');
    expect(await db.current.store.getStory(demo.story.id)).toMatchObject({ status: 'REVIEW_READY' });

    // The dev server it started stopped with it.
    expect(await portAnswers('127.0.0.1', port)).toBe(false);
  });
});
