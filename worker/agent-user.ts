/**
 * Checks, at agent-host start, that agents can run under their own uid (CLAUDOMATOR_AGENT_UID): the
 * worker may switch users and hand files over, and git trusts checkouts owned by the agent user. A
 * host that cannot would fail every run with a permission error; it refuses to start instead, saying
 * what to change.
 */
import { readFileSync } from 'node:fs';
import { execa } from 'execa';
import type { AgentUser } from '../infra/config.js';

/** Capability bits (linux/capability.h) the worker needs to start and manage agents under another uid. */
const NEEDED_CAPS = { CHOWN: 0, DAC_OVERRIDE: 1, FOWNER: 3, KILL: 5, SETGID: 6, SETUID: 7 } as const;
/** Reading the agents' /proc/<pid>/environ (their run marker) needs this one. */
const SYS_PTRACE = 19;

/** The effective capabilities of this process, or undefined without /proc. */
function effectiveCaps(): bigint | undefined {
  try {
    const line = /^CapEff:\s*([0-9a-f]+)$/m.exec(readFileSync('/proc/self/status', 'utf8'));
    return line?.[1] === undefined ? undefined : BigInt(`0x${line[1]}`);
  } catch {
    return undefined;
  }
}

/**
 * Problems that stop agents from running as `user`; empty when they can. `warnings` are things that
 * work but cost something (without CAP_SYS_PTRACE, processes an agent moved into a new session are
 * found only by their process group).
 */
export async function agentUserProblems(
  user: AgentUser,
  dataDir: string,
): Promise<{ problems: string[]; warnings: string[] }> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const uid = process.getuid?.();
  if (uid === user.uid) {
    problems.push(
      `CLAUDOMATOR_AGENT_UID is ${user.uid}, the worker's own uid: agents could read the worker's environment. Choose another uid (e.g. 65534) or unset it`,
    );
  }
  const caps = effectiveCaps();
  if (caps !== undefined) {
    const missing = Object.entries(NEEDED_CAPS)
      .filter(([, bit]) => (caps & (1n << BigInt(bit))) === 0n)
      .map(([name]) => `CAP_${name}`);
    if (missing.length > 0) {
      problems.push(
        `CLAUDOMATOR_AGENT_UID is set but the worker lacks ${missing.join(', ')}: run it as root with those capabilities (infra/k8s and infra/helm do), or unset CLAUDOMATOR_AGENT_UID`,
      );
    }
    if ((caps & (1n << BigInt(SYS_PTRACE))) === 0n) {
      warnings.push(
        'without CAP_SYS_PTRACE the worker cannot read the environment of agent processes: processes an agent moved out of its process group (setsid) are not found when its run ends',
      );
    }
  } else if (uid !== 0) {
    problems.push('CLAUDOMATOR_AGENT_UID is set but the worker is not root: it cannot start processes as another user');
  }
  // The worker's git works in checkouts the agent owns; git refuses those unless safe.directory allows them.
  const trusted = await execa('git', ['config', '--get-all', 'safe.directory'], { reject: false });
  const entries = trusted.exitCode === 0 ? String(trusted.stdout).split('\n') : [];
  if (!entries.some((e) => e === '*' || (e.endsWith('/*') && `${dataDir}/`.startsWith(e.slice(0, -1))))) {
    problems.push(
      `CLAUDOMATOR_AGENT_UID is set but git does not trust checkouts owned by another user: run \`git config --system --add safe.directory '*'\` (the agents image does) or add ${dataDir}/* to safe.directory`,
    );
  }
  return { problems, warnings };
}
