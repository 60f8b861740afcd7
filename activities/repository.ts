/**
 * Git beyond the sandbox: publishing a task's work, integrating branches, and deploying.
 *
 * - `publishTaskChanges` runs on the agent host that holds the sandbox: it commits what the agent
 *   left (committed or not) and pushes the task's branch when the sandbox is a clone (a worktree of a
 *   local repository shares its refs, so the commit is already there).
 * - `ensureBranch`, `integrateBranch` and `deployRef` run on the orchestration worker, each in a
 *   fresh temporary clone of the project's repository (cheap for local repositories, which git
 *   clones with hard links), so concurrent stories never share a work tree.
 * A merge that stops on conflicts is a non-retryable `MergeConflict` failure that lists the files.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, heartbeat } from '@temporalio/activity';
import { execa, parseCommandString } from 'execa';
import { FailureType } from '../workflows/failures.js';
import { CLAUDOMATOR_IDENTITY, git, isLinkedWorktree } from './git.js';

/** Paths the orchestrator itself writes into a sandbox; never part of a task's commit. */
const ORCHESTRATOR_PATHS = [':(exclude).claudomator'];

async function withClone<T>(remoteUrl: string, fn: (dir: string) => Promise<T>): Promise<T> {
  const parent = await mkdtemp(path.join(os.tmpdir(), 'claudomator-git-'));
  const dir = path.join(parent, 'repo');
  try {
    await git(parent, ['clone', '--quiet', '--no-checkout', remoteUrl, dir]);
    return await fn(dir);
  } finally {
    await rm(parent, { recursive: true, force: true });
  }
}

async function remoteHasBranch(dir: string, branch: string): Promise<boolean> {
  const out = await git(dir, ['ls-remote', '--heads', 'origin', `refs/heads/${branch}`]);
  return out.trim() !== '';
}

/** On the agent host that holds the sandbox. */
// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createPublishActivities() {
  return {
    /**
     * Commit everything the agent changed in the sandbox and publish the task's branch. Returns the
     * commit that holds the task's work (the branch head), or undefined when nothing changed.
     */
    async publishTaskChanges(input: {
      sandboxDir: string;
      branch: string;
      message: string;
    }): Promise<{ head: string; committed: boolean }> {
      const { sandboxDir, branch } = input;
      await git(sandboxDir, ['add', '-A', '--', '.', ...ORCHESTRATOR_PATHS]);
      const dirty = (await git(sandboxDir, ['status', '--porcelain', '--', '.', ...ORCHESTRATOR_PATHS])).trim() !== '';
      let committed = false;
      // The agent may have committed on its own: then the tree is clean, and its commits are published as they are.
      if (dirty) {
        await git(sandboxDir, ['commit', '--quiet', '--no-verify', '-m', input.message], { env: CLAUDOMATOR_IDENTITY });
        committed = true;
      }
      // A worktree of a local repository already shares its refs; a clone pushes to its origin.
      if (!(await isLinkedWorktree(sandboxDir))) {
        await git(sandboxDir, ['push', '--quiet', 'origin', `HEAD:refs/heads/${branch}`]);
      }
      return { head: await git(sandboxDir, ['rev-parse', 'HEAD']), committed };
    },
  };
}

/** On the orchestration worker, each in a fresh clone. */
// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createRepositoryActivities() {
  return {
    /** Make sure `branch` exists in the repository, creating it from `from` when missing. */
    async ensureBranch(input: { remoteUrl: string; branch: string; from: string }): Promise<{ created: boolean }> {
      return withClone(input.remoteUrl, async (dir) => {
        if (await remoteHasBranch(dir, input.branch)) return { created: false };
        if (!(await remoteHasBranch(dir, input.from))) {
          throw ApplicationFailure.nonRetryable(
            `The repository ${input.remoteUrl} has no branch "${input.from}" to start "${input.branch}" from`,
            FailureType.NotFound,
          );
        }
        await git(dir, ['push', '--quiet', 'origin', `refs/remotes/origin/${input.from}:refs/heads/${input.branch}`]);
        return { created: true };
      });
    },

    /**
     * Merge `source` into `target` (a merge commit) and push `target`. A conflict aborts the merge and
     * fails with `MergeConflict` listing the conflicting files; nothing is pushed.
     */
    async integrateBranch(input: {
      remoteUrl: string;
      source: string;
      target: string;
      message: string;
    }): Promise<{ head: string; changed: boolean }> {
      return withClone(input.remoteUrl, async (dir) => {
        for (const branch of [input.source, input.target]) {
          if (!(await remoteHasBranch(dir, branch))) {
            throw ApplicationFailure.nonRetryable(
              `The repository ${input.remoteUrl} has no branch "${branch}"`,
              FailureType.NotFound,
            );
          }
        }
        await git(dir, ['checkout', '--quiet', '-B', input.target, `origin/${input.target}`]);
        const before = await git(dir, ['rev-parse', 'HEAD']);
        try {
          await git(dir, ['merge', '--no-ff', '--no-edit', '-m', input.message, `origin/${input.source}`], {
            env: CLAUDOMATOR_IDENTITY,
          });
        } catch (err) {
          const files = (await git(dir, ['diff', '--name-only', '--diff-filter=U'], { allowFailure: true }))
            .split('\n')
            .filter(Boolean);
          await git(dir, ['merge', '--abort'], { allowFailure: true });
          if (files.length > 0) {
            throw ApplicationFailure.create({
              type: FailureType.MergeConflict,
              message: `Merging ${input.source} into ${input.target} conflicts in ${files.join(', ')}`,
              details: [{ files }],
              nonRetryable: true,
            });
          }
          throw err;
        }
        const head = await git(dir, ['rev-parse', 'HEAD']);
        if (head !== before) await git(dir, ['push', '--quiet', 'origin', `HEAD:refs/heads/${input.target}`]);
        return { head, changed: head !== before };
      });
    },

    /**
     * Run the deploy command in a checkout of `ref`. A non-zero exit is a retryable `CommandFailed`
     * (the workflow's retry policy backs off); the error carries the tail of the output.
     */
    async deployRef(input: { remoteUrl: string; ref: string; command: string }): Promise<{ output: string }> {
      return withClone(input.remoteUrl, async (dir) => {
        await git(dir, ['checkout', '--quiet', '--detach', `origin/${input.ref}`]);
        const [file, ...args] = parseCommandString(input.command);
        if (!file) throw ApplicationFailure.nonRetryable('The deploy command is empty', FailureType.AgentConfig);
        const beat = setInterval(() => heartbeat(), 5_000);
        try {
          const result = await execa(file, args, { cwd: dir, stdin: 'ignore', all: true, reject: false });
          const output = (result.all ?? '').slice(-4_000);
          if (result.exitCode !== 0) {
            throw ApplicationFailure.create({
              type: FailureType.CommandFailed,
              message: `Deploy command \`${input.command}\` exited ${result.exitCode ?? result.signal ?? 'abnormally'}: ${output.split('\n').slice(-5).join('\n')}`,
            });
          }
          return { output };
        } finally {
          clearInterval(beat);
        }
      });
    },
  };
}
