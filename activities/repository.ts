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
import { closeSync, openSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { ApplicationFailure, CancelledFailure, Context } from '@temporalio/activity';
import { execa } from 'execa';
import { FailureType } from '../workflows/failures.js';
import { CLAUDOMATOR_IDENTITY, git, isLinkedWorktree } from './git.js';
import { killMarkedProcesses, terminateRun } from './process-tree.js';

/** Marks every process of a deploy (`<workflow id>/<activity id>:<attempt>`), so a cancel kills them all. */
export const DEPLOY_MARKER = 'CLAUDOMATOR_DEPLOY_ID';

/**
 * Project command lines (deploy, validation) run as `sh -c <line>`, so `npm ci && npm test`, pipes and
 * variables work as in a terminal. A shell that cannot find the command exits 127 (126: not executable).
 */
const SHELL = 'sh';

/**
 * `line` as a command agent's command line that runs it through the shell: `sh -c <line>`, with every
 * space of the line escaped by a backslash (the command agent splits on unescaped spaces, and unescapes).
 */
export function shellCommandLine(line: string): string {
  return `${SHELL} -c ${line.trim().replaceAll(' ', '\\ ')}`;
}

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
     * Run the deploy command (a shell line, `sh -c`) in a checkout of `ref`. A non-zero exit is a
     * retryable `CommandFailed` (the workflow's retry policy backs off); a command that cannot start
     * (exit 126/127 from the shell, or no shell) is a non-retryable `CommandConfig`. Both carry the end
     * of the output. The command runs in its own process group and every process of it carries a
     * marker: cancelling the activity (or its timeout) kills them all. What a finished deploy leaves
     * running on purpose (a daemon it started) stays.
     */
    async deployRef(input: { remoteUrl: string; ref: string; command: string }): Promise<{ output: string }> {
      if (input.command.trim() === '') {
        throw ApplicationFailure.nonRetryable(
          "The deploy command is empty: set the project's deploy command, or remove it for no deploy step",
          FailureType.CommandConfig,
        );
      }
      const ctx = Context.current();
      const { workflowExecution, activityId, attempt } = ctx.info;
      const run = `${workflowExecution?.workflowId ?? 'deploy'}/${activityId}`;
      const marker = { name: DEPLOY_MARKER, value: `${run}:${attempt}` };
      // What an earlier attempt left running (its worker died) must not deploy alongside this one.
      await killMarkedProcesses({ name: DEPLOY_MARKER, prefix: `${run}:`, except: marker.value }, 2_000);
      return withClone(input.remoteUrl, async (dir) => {
        await git(dir, ['checkout', '--quiet', '--detach', `origin/${input.ref}`]);
        // Output goes to a file, not a pipe: a daemon the deploy starts cannot hold its end open.
        const logPath = path.join(path.dirname(dir), 'deploy.log');
        const fd = openSync(logPath, 'a');
        const start = () =>
          execa(SHELL, ['-c', input.command], {
            cwd: dir,
            env: { [marker.name]: marker.value },
            detached: true, // its own process group: one signal reaches the shell and what it started
            stdin: 'ignore',
            stdout: fd as 3,
            stderr: fd as 3,
            buffer: false,
            reject: false,
            forceKillAfterDelay: false,
          });
        let child: ReturnType<typeof start>;
        try {
          child = start();
        } finally {
          closeSync(fd);
        }
        const outputTail = async (): Promise<string> => (await readFile(logPath, 'utf8')).slice(-4_000);
        if (child.pid === undefined) {
          const result = await child;
          throw ApplicationFailure.nonRetryable(
            `Deploy command \`${input.command}\` cannot start: no ${SHELL} (${result.code ?? result.originalMessage ?? 'unknown error'})`,
            FailureType.CommandConfig,
          );
        }
        const pgid = child.pid;
        const beat = setInterval(() => ctx.heartbeat(), 1_000);
        try {
          const cancelled = ctx.cancelled.then(
            (): { cancelled: unknown } => ({ cancelled: new CancelledFailure('cancelled') }),
            (err: unknown) => ({ cancelled: err }),
          );
          const first = await Promise.race([child, cancelled]);
          if ('cancelled' in first) {
            // Cancelled (or timed out, or the worker is shutting down): nothing of the deploy may run on.
            ctx.log.info('Deploy cancelled; killing its processes', { pgid });
            await terminateRun(pgid, marker, 2_000);
            await child;
            throw first.cancelled;
          }
          const output = await outputTail();
          if (first.exitCode === 0) return { output };
          const status = first.signal ? `was killed by ${first.signal}` : `exited ${first.exitCode ?? 'abnormally'}`;
          const lastLines = output.trim().split('\n').slice(-5).join('\n');
          if (first.exitCode === 126 || first.exitCode === 127) {
            throw ApplicationFailure.create({
              type: FailureType.CommandConfig,
              message: `Deploy command \`${input.command}\` cannot start (${first.exitCode === 127 ? 'command not found' : 'not executable'}, exit ${first.exitCode}): ${lastLines}`,
              nonRetryable: true,
            });
          }
          throw ApplicationFailure.create({
            type: FailureType.CommandFailed,
            message: `Deploy command \`${input.command}\` ${status}: ${lastLines}`,
          });
        } finally {
          clearInterval(beat);
        }
      });
    },
  };
}
