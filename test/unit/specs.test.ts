import { describe, expect, it } from 'vitest';
import {
  isValidBranchName,
  parseSpec,
  projectSpecSchema,
  SpecValidationError,
  storySpecSchema,
  parseTaskFile,
  taskSpecSchema,
} from '../../client/specs.js';

function issuesOf(fn: () => unknown): Array<{ path: string; message: string }> {
  try {
    fn();
  } catch (err) {
    if (err instanceof SpecValidationError) return err.issues;
    throw err;
  }
  throw new Error('expected a SpecValidationError');
}

describe('task specs', () => {
  it('fills defaults and converts durations to milliseconds', () => {
    const spec = parseSpec(taskSpecSchema, { name: 'Fix', instructions: 'Fix the bug', timeout: '30m' }, 'task spec');
    expect(spec).toEqual({
      name: 'Fix',
      instructions: 'Fix the bug',
      timeout: 1_800_000,
      dependsOn: [],
      agent: { type: 'claude' },
    });
  });

  it('names every bad field with what it expects', () => {
    const issues = issuesOf(() =>
      parseTaskFile({
        tasks: [
          { name: 'ok', instructions: 'x' },
          { name: '', instructions: 'x', agent: { type: 'gpt' }, timeout: 'soon', dependOn: ['a'] },
        ],
      }),
    );
    const byPath = Object.fromEntries(issues.map((i) => [i.path, i.message]));
    expect(byPath['tasks[1].name']).toBe('must not be empty');
    expect(byPath['tasks[1].agent.type']).toBe('expected one of claude, gemini, codex, command, any');
    expect(byPath['tasks[1].timeout']).toMatch(/positive duration/);
    expect(byPath['tasks[1]']).toBe('unknown field "dependOn"');
  });

  it('requires a command for the command agent and only there', () => {
    expect(
      issuesOf(() => parseSpec(taskSpecSchema, { name: 'a', instructions: 'b', agent: { type: 'command' } }, 'task')),
    ).toEqual([{ path: 'agent.command', message: 'is required when type is "command"' }]);
    expect(
      issuesOf(() =>
        parseSpec(taskSpecSchema, { name: 'a', instructions: 'b', agent: { type: 'claude', command: 'ls' } }, 'task'),
      ),
    ).toEqual([{ path: 'agent.command', message: 'is only allowed when type is "command"' }]);
  });

  it('refuses ids and branches that could escape a directory or break git', () => {
    const issues = issuesOf(() =>
      parseSpec(taskSpecSchema, { id: '../etc', name: 'a', instructions: 'b', branch: 'a..b' }, 'task'),
    );
    expect([...new Set(issues.map((i) => i.path))].sort()).toEqual(['branch', 'id']);
    for (const bad of ['-x', 'a b', 'x.lock', 'a/.b', 'a~1', 'a\u0001', '/a', 'a/', 'a//b', '@'])
      expect(isValidBranchName(bad), bad).toBe(false);
    for (const good of ['main', 'feature/x-1', 'story/st-7', 'v1.2']) expect(isValidBranchName(good), good).toBe(true);
  });

  it('accepts one task, a list, or {tasks}', () => {
    const one = { name: 'a', instructions: 'b' };
    expect(parseTaskFile(one)).toHaveLength(1);
    expect(parseTaskFile([one, one])).toHaveLength(2);
    expect(parseTaskFile({ tasks: [one] })).toHaveLength(1);
    expect(issuesOf(() => parseTaskFile([one, { name: 'x' }]))).toEqual([
      { path: 'tasks[1].instructions', message: 'is required (string)' },
    ]);
  });
});

describe('project and story specs', () => {
  it('defaults the branch and needs a way to validate when validation is given', () => {
    expect(parseSpec(projectSpecSchema, { id: 'app', remoteUrl: '/srv/app.git' }, 'project')).toEqual({
      id: 'app',
      remoteUrl: '/srv/app.git',
      defaultBranch: 'main',
    });
    expect(
      issuesOf(() => parseSpec(projectSpecSchema, { id: 'app', remoteUrl: '/x', validation: {} }, 'project')),
    ).toEqual([
      { path: 'validation', message: 'needs a command (such as the test suite) or instructions for an agent' },
    ]);
  });

  it('bounds the fix loop', () => {
    expect(parseSpec(storySpecSchema, { id: 's', project: 'p', branch: 'b' }, 'story').maxFixAttempts).toBe(2);
    expect(
      issuesOf(() => parseSpec(storySpecSchema, { id: 's', project: 'p', branch: 'b', maxFixAttempts: 99 }, 'story'))[0]
        ?.path,
    ).toBe('maxFixAttempts');
  });

  it('puts the issues in the error message', () => {
    expect(() => parseSpec(storySpecSchema, {}, 'story spec')).toThrow(/Invalid story spec:\n {2}- id: is required/);
  });
});

describe('wrong types', () => {
  it('says what was expected, not that the field is missing', () => {
    expect(
      issuesOf(() =>
        parseSpec(storySpecSchema, { id: 's', project: 'p', branch: 'b', maxFixAttempts: 'two' }, 'story'),
      ),
    ).toEqual([{ path: 'maxFixAttempts', message: 'expected number' }]);
  });
});
