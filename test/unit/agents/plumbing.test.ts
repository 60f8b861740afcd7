import { describe, expect, it } from 'vitest';
import { findShortstat, isValidBranchName, parseShortstat } from '../../../activities/git.js';
import { LineSplitter } from '../../../activities/log-follow.js';
import { redact } from '../../../activities/process.js';
import { checkId, executionPaths, resolveInside, SandboxInputError } from '../../../activities/sandbox.js';
import { agentEnvironment, ConfigError, loadConfig } from '../../../infra/config.js';

function split(chunks: string[], maxLineBytes = 1024): string[] {
  const lines: string[] = [];
  const splitter = new LineSplitter(maxLineBytes, (l) => lines.push(l.toString('utf8')));
  for (const c of chunks) splitter.push(Buffer.from(c));
  splitter.end();
  return lines;
}

describe('LineSplitter', () => {
  it('passes on whole JSON-looking lines, across chunk boundaries, without \\r\\n', () => {
    expect(split(['{"a":1}\n{"b"', ':2}\r\nbanner line\n', '{"c":', '3}'])).toEqual(['{"a":1}', '{"b":2}', '{"c":3}']);
  });

  it('skips lines that do not start with {, and lines longer than the limit', () => {
    expect(
      split(['plain\n  {"indented":1}\n', `{"big":"${'x'.repeat(50)}`, `${'y'.repeat(50)}"}\n{"ok":1}\n`], 64),
    ).toEqual(['{"ok":1}']);
  });

  it('keeps multi-byte characters cut between chunks', () => {
    const bytes = Buffer.from('{"t":"·∙é"}\n');
    const lines: string[] = [];
    const splitter = new LineSplitter(1024, (l) => lines.push(l.toString('utf8')));
    for (let i = 0; i < bytes.length; i += 3) splitter.push(bytes.subarray(i, i + 3));
    expect(lines).toEqual(['{"t":"·∙é"}']);
  });
});

describe('redact', () => {
  it('blanks the values of secret variables and NAME=value, "key": "value" and --token value pairs', () => {
    const env = { ANTHROPIC_API_KEY: 'sk-ant-abcdef', OPENAI_BASE_URL: 'http://localhost:1', SHORT_TOKEN: 'abc' };
    expect(redact('key sk-ant-abcdef seen; GITHUB_TOKEN=ghp_123 "apiKey": "k-1" --auth-token t0k --model x', env)).toBe(
      'key *** seen; GITHUB_TOKEN=*** "apiKey": "***" --auth-token *** --model x',
    );
    expect(redact('http://localhost:1 abc', env)).toBe('http://localhost:1 abc');
  });
});

describe('git text', () => {
  it.each([
    [' 2 files changed, 3 insertions(+), 1 deletion(-)', { filesChanged: 2, insertions: 3, deletions: 1 }],
    [' 1 file changed, 1 insertion(+)', { filesChanged: 1, insertions: 1, deletions: 0 }],
    [' 1 file changed, 4 deletions(-)', { filesChanged: 1, insertions: 0, deletions: 4 }],
    ['', { filesChanged: 0, insertions: 0, deletions: 0 }],
  ])('parseShortstat %j', (text, stats) => expect(parseShortstat(text)).toEqual(stats));

  it('findShortstat takes the last one in a log, and none when there is none', () => {
    expect(
      findShortstat('x\n 1 file changed, 1 insertion(+)\nthen\n 5 files changed, 9 insertions(+), 2 deletions(-)\n'),
    ).toEqual({
      filesChanged: 5,
      insertions: 9,
      deletions: 2,
    });
    expect(findShortstat('nothing here')).toBeUndefined();
  });

  it.each(['main', 'task/t-1', 'story/42_fix.parser', 'feature/a-b/c'])('valid branch %s', (b) =>
    expect(isValidBranchName(b)).toBe(true),
  );
  it.each([
    '',
    '-rf',
    '../x',
    'a..b',
    'a//b',
    '/a',
    'a/',
    'a.lock',
    'a b',
    'a~1',
    'a^',
    'a:b',
    'a?',
    'a*',
    'a[',
    'a\\b',
    '@',
    'a@{1}',
    '.hidden',
    'x/.y',
  ])('invalid branch %j', (b) => expect(isValidBranchName(b)).toBe(false));
});

describe('sandbox paths', () => {
  it('lays out the execution files under the data dir, outside the checkout', () => {
    expect(executionPaths('/data', 't-1', 'e.2')).toEqual({
      artifactDir: '/data/executions/t-1/e.2',
      stdoutPath: '/data/executions/t-1/e.2/stdout.log',
      stderrPath: '/data/executions/t-1/e.2/stderr.log',
      questionFile: '/data/executions/t-1/e.2/question.json',
      sandboxDir: '/data/sandboxes/t-1',
    });
  });

  it.each(['..', '../x', 'a/b', '.hidden', 'a..b', '', 'x'.repeat(129), '/abs', 'a\0b'])('refuses the id %j', (id) => {
    expect(() => checkId('taskId', id)).toThrow(SandboxInputError);
    expect(() => executionPaths('/data', id, 'e1')).toThrow(/taskId/);
  });

  it('resolveInside refuses the root itself and anything outside it', () => {
    expect(resolveInside('/data', 'a', 'b')).toBe('/data/a/b');
    expect(() => resolveInside('/data', '..', 'etc')).toThrow(/escapes/);
    expect(() => resolveInside('/data', '/etc')).toThrow(/escapes/);
    expect(() => resolveInside('/data', '.')).toThrow(/escapes/);
  });
});

describe('the agent environment', () => {
  it('keeps a minimal base, the agents own variables and the passthrough names', () => {
    const env = agentEnvironment(
      {
        PATH: '/bin',
        HOME: '/home/u',
        LC_ALL: 'C.UTF-8',
        ANTHROPIC_API_KEY: 'a',
        CLAUDE_CODE_MAX_RETRIES: '2',
        GEMINI_API_KEY: 'g',
        GOOGLE_CLOUD_PROJECT: 'p',
        OPENAI_API_KEY: 'o',
        CODEX_HOME: '/c',
        IS_SANDBOX: '1',
        DATABASE_URL: 'postgres://x',
        TEMPORAL_API_KEY: 't',
        CLAUDOMATOR_DATA_DIR: '/d',
        AWS_REGION: 'eu',
        AWS_PROFILE: 'p',
        NPM_TOKEN: 'n',
      },
      ['NPM_TOKEN', 'AWS_*'],
    );
    expect(Object.keys(env).sort()).toEqual([
      'ANTHROPIC_API_KEY',
      'AWS_PROFILE',
      'AWS_REGION',
      'CLAUDE_CODE_MAX_RETRIES',
      'CODEX_HOME',
      'GEMINI_API_KEY',
      'GOOGLE_CLOUD_PROJECT',
      'HOME',
      'IS_SANDBOX',
      'LC_ALL',
      'NPM_TOKEN',
      'OPENAI_API_KEY',
      'PATH',
    ]);
  });

  it('is computed by loadConfig, frozen, and bad passthrough names are reported', () => {
    const config = loadConfig({
      PATH: '/bin',
      OPENAI_API_KEY: 'o',
      CLAUDOMATOR_AGENT_ENV_PASSTHROUGH: 'FOO, BAR_*',
      FOO: '1',
      BAR_X: '2',
    });
    expect(config.agentEnv).toEqual({ PATH: '/bin', OPENAI_API_KEY: 'o', FOO: '1', BAR_X: '2' });
    expect(Object.isFrozen(config.agentEnv)).toBe(true);
    expect(() => loadConfig({ CLAUDOMATOR_AGENT_ENV_PASSTHROUGH: 'OK,not-ok' })).toThrow(ConfigError);
    expect(() => loadConfig({ CLAUDOMATOR_AGENT_ENV_PASSTHROUGH: 'OK,not-ok' })).toThrow(
      /CLAUDOMATOR_AGENT_ENV_PASSTHROUGH/,
    );
  });
});
