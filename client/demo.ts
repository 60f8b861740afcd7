/**
 * `claudomator demo`: a small story end to end on the local stack, with nothing to configure.
 *
 * It makes a throwaway repository (a bare "remote" under the data dir) holding a tiny Node program
 * and the scripts the `command` agent runs, adds a project (validated by `node test.js`, deployed by
 * `node scripts/deploy.js`), a story with two dependent tasks, starts it, and follows it to
 * REVIEW_READY: the tasks run in their sandboxes, their branches merge into the story branch, the
 * story merges into `main`, deploys and validates. When Claude Code is installed and an API key is
 * set, a third task asks `claude` for a change as well.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { execa } from 'execa';
import { whichSync } from '../infra/binaries.js';
import type { Config } from '../infra/config.js';
import type { ClaudomatorClient, Story, Task, TaskSpec } from './index.js';

export interface DemoResult {
  story: Story;
  tasks: Task[];
  repository: string;
  /** `git log --oneline` of the repository's main branch after the story. */
  mainLog: string[];
  withClaude: boolean;
}

const FILES: Record<string, string> = {
  'README.md': '# demo app\n\nA tiny program claudomator works on in `claudomator demo`.\n',
  'app.js': 'exports.greet = (name) => `hi ${name}`;\n',
  'test.js': [
    "const assert = require('node:assert');",
    "const fs = require('node:fs');",
    "const { greet } = require('./app.js');",
    "assert.strictEqual(greet('world'), 'Hello, world!', 'greet() must say \"Hello, world!\"');",
    "assert.match(fs.readFileSync('CHANGELOG.md', 'utf8'), /greet/, 'CHANGELOG.md must mention greet');",
    "console.log('validation passed');",
    '',
  ].join('\n'),
  'scripts/implement-greeting.js': [
    '// What the first demo task runs (the `command` agent): change greet().',
    "require('node:fs').writeFileSync('app.js', 'exports.greet = (name) => `Hello, ${name}!`;\\n');",
    "console.log('greet() now says Hello');",
    '',
  ].join('\n'),
  'scripts/add-changelog.js': [
    '// What the second demo task runs, after the first: record the change.',
    "const fs = require('node:fs');",
    "const { greet } = require('../app.js');",
    "fs.writeFileSync('CHANGELOG.md', `# Changelog\\n\\n- greet() now greets properly: \"${greet('world')}\"\\n`);",
    "console.log('CHANGELOG.md written');",
    '',
  ].join('\n'),
  'scripts/deploy.js':
    "console.log(`deployed ${require('node:child_process').execSync('git rev-parse --short HEAD')}`);\n",
};

async function git(cwd: string, args: string[]): Promise<string> {
  const { stdout } = await execa('git', args, {
    cwd,
    env: {
      GIT_AUTHOR_NAME: 'demo',
      GIT_AUTHOR_EMAIL: 'demo@localhost',
      GIT_COMMITTER_NAME: 'demo',
      GIT_COMMITTER_EMAIL: 'demo@localhost',
    },
  });
  return stdout;
}

/** A bare repository with one commit on `main` holding FILES. */
async function createDemoRepository(dir: string): Promise<string> {
  const bare = path.join(dir, 'app.git');
  await mkdir(dir, { recursive: true });
  await git(dir, ['init', '--quiet', '--bare', '--initial-branch=main', bare]);
  const work = await mkdtemp(path.join(os.tmpdir(), 'claudomator-demo-'));
  try {
    await git(work, ['clone', '--quiet', bare, '.']);
    for (const [file, content] of Object.entries(FILES)) {
      await mkdir(path.dirname(path.join(work, file)), { recursive: true });
      await writeFile(path.join(work, file), content);
    }
    await git(work, ['checkout', '--quiet', '-b', 'main']);
    await git(work, ['add', '-A']);
    await git(work, ['commit', '--quiet', '-m', 'demo app: greet() and its validation']);
    await git(work, ['push', '--quiet', 'origin', 'main']);
  } finally {
    await rm(work, { recursive: true, force: true });
  }
  return bare;
}

/** Whether a real Claude Code run is possible here: the binary and an API key. */
export function claudeAvailable(config: Readonly<Config>): boolean {
  return Boolean(config.agentEnv.ANTHROPIC_API_KEY) && whichSync(config.agentBins.claude) !== undefined;
}

export async function runDemo(
  client: ClaudomatorClient,
  options: { log: (line: string) => void; timeoutMs?: number; withClaude?: boolean },
): Promise<DemoResult> {
  const stamp = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const id = `demo-${stamp}`;
  const repository = await createDemoRepository(path.join(client.config.dataDir, 'demo', id));
  options.log(`repository  ${repository} (a bare git repository standing in for your remote)`);

  await client.addProject({
    id,
    remoteUrl: repository,
    defaultBranch: 'main',
    deployCommand: 'node scripts/deploy.js',
    validation: { command: 'node test.js' },
  });
  await client.createStory({ id, project: id, branch: `demo/${stamp}`, name: 'Greet properly' });
  const specs: TaskSpec[] = [
    {
      id: `${id}-greeting`,
      name: 'Make greet() say Hello',
      instructions: 'Change greet() so that greet("world") is "Hello, world!".',
      agent: { type: 'command', command: 'node scripts/implement-greeting.js' },
      story: id,
    },
    {
      id: `${id}-changelog`,
      name: 'Record the change in CHANGELOG.md',
      instructions: 'Add a CHANGELOG.md entry for the greet() change.',
      agent: { type: 'command', command: 'node scripts/add-changelog.js' },
      dependsOn: [`${id}-greeting`],
      story: id,
    },
  ];
  if (options.withClaude) {
    specs.push({
      id: `${id}-farewell`,
      name: 'Add farewell()',
      instructions: 'In app.js, add and export farewell(name) returning `Goodbye, ${name}!`. Change nothing else.',
      agent: { type: 'claude' },
      story: id,
    });
  }
  await client.submitTasks(specs);
  await client.startStory(id);
  options.log(`story       ${id}: ${client.storyUrl(id)}`);

  const started = Date.now();
  let last = '';
  const story = await client.waitForStory(id, {
    ...(options.timeoutMs ? { timeoutMs: options.timeoutMs } : {}),
    onChange: (status) => {
      if (status !== last) options.log(`[${Math.round((Date.now() - started) / 1000)}s] story ${status}`);
      last = status;
    },
  });
  const tasks = await client.listTasks({ storyId: id });
  const mainLog = (await git(repository, ['log', '--oneline', 'main'])).split('\n').filter(Boolean);
  return { story, tasks, repository, mainLog, withClaude: Boolean(options.withClaude) };
}
