/**
 * Git, one small function per operation, for the agent sandboxes (and later for merging stories).
 *
 * Every call runs the `git` executable through execa (no shell) with `LC_ALL=C`, so output parses the same
 * everywhere, and `GIT_TERMINAL_PROMPT=0`, so a missing credential fails instead of waiting for a human.
 * A failing command throws a `GitError` that names the command and carries git's own message.
 */
import { copyFile, realpath, rm } from 'node:fs/promises';
import { execa } from 'execa';
import type { ChangeStats } from '../workflows/types.js';

export class GitError extends Error {
  override readonly name = 'GitError';
  constructor(
    readonly args: readonly string[],
    readonly stderr: string,
    readonly exitCode: number | undefined,
  ) {
    super(`git ${args.join(' ')} failed${exitCode === undefined ? '' : ` (exit ${exitCode})`}: ${stderr.trim()}`);
  }
}

/** An identity for the commits claudomator itself makes (never for the agent's own commits). */
export const CLAUDOMATOR_IDENTITY = {
  GIT_AUTHOR_NAME: 'claudomator',
  GIT_AUTHOR_EMAIL: 'claudomator@localhost',
  GIT_COMMITTER_NAME: 'claudomator',
  GIT_COMMITTER_EMAIL: 'claudomator@localhost',
} as const;

/** Run git in `cwd`; returns stdout without the trailing newline. */
export async function git(
  cwd: string,
  args: readonly string[],
  options: { env?: Record<string, string>; allowFailure?: boolean; signal?: AbortSignal } = {},
): Promise<string> {
  const result = await execa('git', [...args], {
    cwd,
    env: { LC_ALL: 'C', GIT_TERMINAL_PROMPT: '0', ...options.env },
    stdin: 'ignore',
    reject: false,
    stripFinalNewline: true,
    ...(options.signal ? { cancelSignal: options.signal } : {}),
  });
  if (result.exitCode !== 0 && !options.allowFailure) {
    throw new GitError(args, result.stderr || (result.message ?? 'no output'), result.exitCode);
  }
  return result.stdout;
}

/** Whether `dir` is the top of a work tree (a clone or a worktree), as opposed to a plain directory. */
export async function isWorkTreeRoot(dir: string): Promise<boolean> {
  const top = await git(dir, ['rev-parse', '--show-toplevel'], { allowFailure: true }).catch(() => '');
  if (top === '') return false;
  // A plain directory inside some other repository reports that repository's top.
  return (await realpath(top)) === (await realpath(dir));
}

/** Whether `dir` is a linked worktree (it shares refs with its repository, so its commits need no push). */
export async function isLinkedWorktree(dir: string): Promise<boolean> {
  const [gitDir, commonDir] = await Promise.all([
    git(dir, ['rev-parse', '--absolute-git-dir']),
    git(dir, ['rev-parse', '--path-format=absolute', '--git-common-dir']),
  ]);
  return gitDir !== commonDir;
}

/** Whether `path` is a bare repository. */
export async function isBareRepository(path: string): Promise<boolean> {
  return (await git(path, ['rev-parse', '--is-bare-repository'], { allowFailure: true })) === 'true';
}

export async function headSha(dir: string): Promise<string> {
  return git(dir, ['rev-parse', '--verify', 'HEAD^{commit}']);
}

/** The branch checked out in `dir`; undefined on a detached HEAD. */
export async function currentBranch(dir: string): Promise<string | undefined> {
  const name = await git(dir, ['symbolic-ref', '--quiet', '--short', 'HEAD'], { allowFailure: true });
  return name === '' ? undefined : name;
}

/** Whether `ref` (such as `refs/heads/main`) names a commit in the repository at `dir`. */
export async function refExists(dir: string, ref: string): Promise<boolean> {
  const out = await git(dir, ['rev-parse', '--verify', '--quiet', `${ref}^{commit}`], { allowFailure: true });
  return out !== '';
}

/** The branch HEAD names in a repository (for a bare "remote": its default branch). */
export async function headBranch(repo: string): Promise<string | undefined> {
  return currentBranch(repo);
}

/** The default branch of a clone's `origin` (from `refs/remotes/origin/HEAD`). */
export async function originDefaultBranch(dir: string): Promise<string | undefined> {
  const name = await git(dir, ['symbolic-ref', '--quiet', '--short', 'refs/remotes/origin/HEAD'], {
    allowFailure: true,
  });
  return name.startsWith('origin/') ? name.slice('origin/'.length) : undefined;
}

/** Add a worktree of `repo` at `dir` on `branch`, creating the branch from `startPoint` when given. */
export async function addWorktree(
  repo: string,
  dir: string,
  branch: string,
  startPoint?: string,
  signal?: AbortSignal,
): Promise<void> {
  await git(repo, ['worktree', 'prune']);
  const args =
    startPoint === undefined ? ['worktree', 'add', dir, branch] : ['worktree', 'add', '-b', branch, dir, startPoint];
  await git(repo, args, { signal });
}

/** Clone `url` into `dir` without checking anything out; `signal` stops a clone that takes too long. */
export async function clone(url: string, dir: string, cwd: string, signal?: AbortSignal): Promise<void> {
  await git(cwd, ['clone', '--quiet', '--no-checkout', '--', url, dir], { signal });
}

export async function checkout(dir: string, args: readonly string[]): Promise<void> {
  await git(dir, ['checkout', '--quiet', ...args]);
}

export async function initRepository(dir: string, branch: string): Promise<void> {
  await git(dir, ['init', '--quiet', '--initial-branch', branch]);
  await git(dir, ['commit', '--quiet', '--allow-empty', '-m', 'claudomator: empty sandbox'], {
    env: CLAUDOMATOR_IDENTITY,
  });
}

/** Whether the work tree at `dir` has an identity for commits (user.email), from any git config. */
export async function hasCommitIdentity(dir: string): Promise<boolean> {
  return (await git(dir, ['config', '--get', 'user.email'], { allowFailure: true })) !== '';
}

/**
 * Everything that changed in the work tree at `dir` since `baseSha`: commits made since, staged and
 * unstaged edits, and untracked files (not ignored ones), excluding `exclude` pathspecs.
 *
 * Untracked files are invisible to `git diff`, so they are added to a scratch copy of the index at
 * `scratchIndex` (outside the work tree); the agent's own index is left as it was.
 */
export async function changeStats(
  dir: string,
  baseSha: string,
  options: { scratchIndex: string; exclude?: readonly string[] },
): Promise<ChangeStats> {
  const realIndex = await git(dir, ['rev-parse', '--path-format=absolute', '--git-path', 'index']);
  await rm(options.scratchIndex, { force: true });
  try {
    await copyFile(realIndex, options.scratchIndex);
  } catch {
    // No index yet (nothing staged ever): git builds one from scratch.
  }
  const env = { GIT_INDEX_FILE: options.scratchIndex };
  const pathspec = ['--', '.', ...(options.exclude ?? []).map((p) => `:(exclude)${p}`)];
  try {
    await git(dir, ['add', '--all', ...pathspec], { env });
    return parseShortstat(
      await git(dir, ['diff', '--cached', '--shortstat', '--find-renames', baseSha, ...pathspec], { env }),
    );
  } finally {
    await rm(options.scratchIndex, { force: true });
  }
}

/**
 * Parse `git diff --shortstat` (" 2 files changed, 3 insertions(+), 1 deletion(-)"); a missing clause
 * counts 0 and empty output is no change. The last such line in `text` wins, so a whole log may be given.
 */
export function parseShortstat(text: string): ChangeStats {
  return findShortstat(text) ?? { filesChanged: 0, insertions: 0, deletions: 0 };
}

/** The last shortstat line in `text`, or undefined when there is none. */
export function findShortstat(text: string): ChangeStats | undefined {
  const re = /(\d+) files? changed(?:, (\d+) insertions?\(\+\))?(?:, (\d+) deletions?\(-\))?/g;
  let last: RegExpExecArray | null = null;
  for (let m = re.exec(text); m !== null; m = re.exec(text)) last = m;
  if (last === null) return undefined;
  return {
    filesChanged: Number(last[1]),
    insertions: Number(last[2] ?? 0),
    deletions: Number(last[3] ?? 0),
  };
}

/**
 * Whether `name` is a branch name git accepts and that is safe to pass as an argument: the rules of
 * `git check-ref-format --branch` plus no leading `-` (it would read as an option).
 */
export function isValidBranchName(name: string): boolean {
  if (name.length === 0 || name.length > 200) return false;
  if (name.startsWith('-') || name.startsWith('/') || name.endsWith('/') || name.endsWith('.')) return false;
  if (name === '@' || name.includes('..') || name.includes('//') || name.includes('@{')) return false;
  // eslint-disable-next-line no-control-regex -- control characters are exactly what git forbids
  if (/[\x00-\x20\x7f~^:?*[\\]/.test(name)) return false;
  return name.split('/').every((part) => part !== '' && !part.startsWith('.') && !part.endsWith('.lock'));
}
