/**
 * The story's command rules: a project command line reaches the shell intact through the command
 * agent's splitting, a validation command that cannot start is told apart from one that fails, and a
 * failed validation run is neutral for the agent pool.
 */
import { describe, expect, it } from 'vitest';
import { commandAdapter, parseCommand } from '../../agents/command.js';
import { shellCommandLine } from '../../activities/repository.js';
import { validationCommandCannotStart } from '../../workflows/story.js';
import { poolReportFor } from '../../workflows/task-state.js';

const exit = (exitCode: number, stderrTail: string) => ({ exitCode, signal: undefined, stderrTail, stdoutTail: '' });

describe('shellCommandLine', () => {
  it.each([
    'npm ci && npm test',
    'test -f a.txt  &&  echo "two  spaces"',
    'echo a\\ b > out.txt',
    "grep -q 'x y' file || exit 3",
    'echo trailing\\',
    'printf "%s\\t%s\\n" a b | sort',
  ])('hands %j to sh -c unchanged', (line) => {
    expect(parseCommand(shellCommandLine(line))).toEqual(['sh', '-c', line]);
  });

  it('trims the line', () => {
    expect(parseCommand(shellCommandLine('  make check  '))).toEqual(['sh', '-c', 'make check']);
  });
});

describe('validationCommandCannotStart', () => {
  const classified = (code: number, stderr: string) =>
    commandAdapter.classify({} as never, exit(code, stderr), 0).error!;

  it('recognises the shell saying it cannot find or run the command, as the command agent reports it', () => {
    expect(validationCommandCannotStart(classified(127, 'sh: 1: nosuch: not found'))).toBe(true);
    expect(validationCommandCannotStart(classified(126, 'sh: 1: ./check.sh: Permission denied'))).toBe(true);
    expect(validationCommandCannotStart('cannot start sh: no such executable: install it')).toBe(true);
  });

  it('leaves a command that ran and failed to the fix loop', () => {
    expect(validationCommandCannotStart(classified(1, '1 test failed'))).toBe(false);
    expect(validationCommandCannotStart(classified(2, 'exit 127 in the log'))).toBe(false);
    expect(validationCommandCannotStart(classified(1270, 'odd'))).toBe(false);
  });
});

describe('poolReportFor', () => {
  const failed = { outcome: 'failed' as const, error: 'tests failed' };

  it('reports a failed validation run as neutral: it says the code is wrong, not the agent', () => {
    expect(poolReportFor(failed, 0, 'validation')).toEqual({ kind: 'neutral' });
    expect(poolReportFor({ outcome: 'success' }, 0, 'validation')).toEqual({ kind: 'success' });
  });

  it('counts a failed run of a work or fix task against the agent', () => {
    expect(poolReportFor(failed, 0, 'task')).toEqual({ kind: 'failed', error: 'tests failed' });
    expect(poolReportFor(failed, 0, 'fix')).toEqual({ kind: 'failed', error: 'tests failed' });
    expect(poolReportFor(failed, 0)).toEqual({ kind: 'failed', error: 'tests failed' });
  });
});
