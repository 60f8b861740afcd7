/**
 * Where an agent run happens and where its files go, all under the data dir:
 *
 *   <dataDir>/sandboxes/<taskId>                              the task's checkout (reused by every resume)
 *   <dataDir>/executions/<taskId>/<executionId>/stdout.log     the agent's output
 *   <dataDir>/executions/<taskId>/<executionId>/stderr.log
 *   <dataDir>/executions/<taskId>/<executionId>/question.json  where the agent asks a human (outside the checkout)
 *
 * The sandbox is a git worktree of the repository when that is a local path (a bare "remote" or a
 * clone on disk: no copy, and commits land in the repository itself), a clone when it is a URL, and an
 * empty repository when the task names none. It is on the task's branch, created from the base branch
 * (or the repository's default branch) when missing. Ids and branch names are validated and every path
 * is resolved and checked to stay inside the data dir, so no input can make a path escape it.
 */
import { randomBytes } from 'node:crypto';
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import type { AgentRunInput, ExecutionPaths } from '../workflows/types.js';
import {
  addWorktree,
  checkout,
  clone,
  currentBranch,
  headBranch,
  initRepository,
  isValidBranchName,
  isWorkTreeRoot,
  originDefaultBranch,
  refExists,
} from './git.js';

/** Bad input for a sandbox: an id or branch that is not allowed, a repository that is not there. */
export class SandboxInputError extends Error {
  override readonly name = 'SandboxInputError';
}

const ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** `value` if it is a safe id (letters, digits, `._-`, no `..`), else a `SandboxInputError` naming `field`. */
export function checkId(field: string, value: string): string {
  if (!ID_PATTERN.test(value) || value.includes('..')) {
    throw new SandboxInputError(
      `${field} "${value.slice(0, 80)}" is not a valid id: use 1-128 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
  return value;
}

/** `parts` resolved under `root`; throws if the result is not strictly inside `root`. */
export function resolveInside(root: string, ...parts: string[]): string {
  const base = path.resolve(root);
  const resolved = path.resolve(base, ...parts);
  const rel = path.relative(base, resolved);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new SandboxInputError(`path ${parts.join('/')} escapes ${base}`);
  }
  return resolved;
}

export function sandboxDir(dataDir: string, taskId: string): string {
  return resolveInside(dataDir, 'sandboxes', checkId('taskId', taskId));
}

/** The execution's file paths (nothing is created). */
export function executionPaths(dataDir: string, taskId: string, executionId: string): ExecutionPaths {
  const artifactDir = resolveInside(
    dataDir,
    'executions',
    checkId('taskId', taskId),
    checkId('executionId', executionId),
  );
  return {
    artifactDir,
    stdoutPath: path.join(artifactDir, 'stdout.log'),
    stderrPath: path.join(artifactDir, 'stderr.log'),
    questionFile: path.join(artifactDir, 'question.json'),
    sandboxDir: sandboxDir(dataDir, taskId),
  };
}

/** The branch of a sandbox without a repository. */
export const EMPTY_SANDBOX_BRANCH = 'main';

export interface Sandbox {
  dir: string;
  branch: string;
  /** False when an existing sandbox was reused. */
  created: boolean;
}

/**
 * Make sure the task's sandbox exists at `dir` and is on the task's branch. An existing checkout is
 * reused as it is (with the agent's uncommitted work); a directory that is not a checkout (a clone cut
 * short by a crash) is replaced.
 */
export async function prepareSandbox(
  dir: string,
  repository: AgentRunInput['repository'],
  options: { signal?: AbortSignal } = {},
): Promise<Sandbox> {
  const branch = repository?.branch ?? EMPTY_SANDBOX_BRANCH;
  if (!isValidBranchName(branch))
    throw new SandboxInputError(`repository.branch "${branch}" is not a valid branch name`);
  if (repository?.baseBranch !== undefined && !isValidBranchName(repository.baseBranch)) {
    throw new SandboxInputError(`repository.baseBranch "${repository.baseBranch}" is not a valid branch name`);
  }

  if (await exists(dir)) {
    if (await isWorkTreeRoot(dir)) {
      if ((await currentBranch(dir)) !== branch) await checkout(dir, [branch, '--']);
      return { dir, branch, created: false };
    }
    await rm(dir, { recursive: true, force: true });
  }
  await mkdir(path.dirname(dir), { recursive: true });

  if (repository === undefined) {
    // Built aside and renamed into place, so a crash never leaves a half-made sandbox behind.
    const scratch = scratchPath(dir);
    await mkdir(scratch);
    try {
      await initRepository(scratch, branch);
      await rename(scratch, dir);
    } finally {
      await rm(scratch, { recursive: true, force: true });
    }
    return { dir, branch, created: true };
  }

  if (isLocalPath(repository.url)) {
    await createWorktree(repository.url, dir, branch, repository.baseBranch, options.signal);
  } else {
    await createClone(repository.url, dir, branch, repository.baseBranch, options.signal);
  }
  return { dir, branch, created: true };
}

/** A local repository is an absolute path; anything else (https://, ssh://, git@host:, file://) is cloned. */
export function isLocalPath(url: string): boolean {
  return path.isAbsolute(url);
}

async function createWorktree(
  repo: string,
  dir: string,
  branch: string,
  baseBranch: string | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  if (!(await exists(repo))) {
    throw new SandboxInputError(`repository.url ${repo} does not exist: give an existing repository path or a URL`);
  }
  if (await refExists(repo, `refs/heads/${branch}`)) {
    await addWorktree(repo, dir, branch, undefined, signal);
    return;
  }
  const base = baseBranch ?? (await headBranch(repo));
  if (base === undefined || !(await refExists(repo, `refs/heads/${base}`))) {
    throw new SandboxInputError(
      `repository ${repo} has no branch ${base ?? '(no default branch)'} to create ${branch} from: set repository.baseBranch to an existing branch`,
    );
  }
  await addWorktree(repo, dir, branch, `refs/heads/${base}`, signal);
}

async function createClone(
  url: string,
  dir: string,
  branch: string,
  baseBranch: string | undefined,
  signal: AbortSignal | undefined,
): Promise<void> {
  const scratch = scratchPath(dir);
  try {
    await clone(url, scratch, path.dirname(dir), signal);
    if (await refExists(scratch, `refs/remotes/origin/${branch}`)) {
      await checkout(scratch, ['-b', branch, '--track', `origin/${branch}`]);
    } else {
      const base = baseBranch ?? (await originDefaultBranch(scratch));
      if (base === undefined || !(await refExists(scratch, `refs/remotes/origin/${base}`))) {
        throw new SandboxInputError(
          `repository ${url} has no branch ${base ?? '(no default branch)'} to create ${branch} from: set repository.baseBranch to an existing branch`,
        );
      }
      await checkout(scratch, ['--no-track', '-b', branch, `origin/${base}`]);
    }
    await rename(scratch, dir);
  } finally {
    await rm(scratch, { recursive: true, force: true });
  }
}

function scratchPath(dir: string): string {
  return path.join(path.dirname(dir), `.${path.basename(dir)}.tmp-${randomBytes(4).toString('hex')}`);
}

async function exists(p: string): Promise<boolean> {
  return stat(p).then(
    () => true,
    () => false,
  );
}
