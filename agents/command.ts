/**
 * The `command` agent: runs the task's command line (`AgentConfig.command`) in the sandbox, for validation
 * and deploy checks and for demos that need no API key. The line is split with execa's
 * `parseCommandString` (spaces separate arguments, a backslash escapes a space) and never given to a
 * shell: no pipes, redirections or variables. Success is exit 0; otherwise the error is stderr's end.
 * There is no session to resume and no event stream.
 */
import { parseCommandString } from 'execa';
import {
  type AgentAdapter,
  AgentConfigError,
  type Classification,
  type ExitInfo,
  failed,
  type Invocation,
  type InvocationContext,
  type ParsedLine,
  tail,
} from './adapter.js';

export const commandAdapter: AgentAdapter = {
  type: 'command',
  choosesSessionId: false,
  resumable: false,
  ignoredEvents: new Set<string>(),

  invocation(ctx: InvocationContext): Invocation {
    const [file, ...args] = parseCommand(ctx.config.command);
    if (file === undefined) throw new AgentConfigError('config.command is empty: give the command line to run');
    return { file, args, env: {} };
  },

  parseLine(): ParsedLine | undefined {
    return { type: 'output', events: [] };
  },

  classify(_t, exit: ExitInfo): Classification {
    if (exit.exitCode === 0 && !exit.signal) {
      const lines = exit.stdoutTail.trim().split('\n');
      return { outcome: 'success', summary: tail(lines.slice(-5).join('\n'), 500) || 'exit 0' };
    }
    const status = exit.signal ? `killed by ${exit.signal}` : `exit ${exit.exitCode ?? 'unknown'}`;
    const stderr = tail(exit.stderrTail);
    return failed(
      exit,
      stderr ? `${status}: ${stderr}` : `${status}${exit.stdoutTail.trim() ? `: ${tail(exit.stdoutTail)}` : ''}`,
    );
  },

  isUnknownSession(): boolean {
    return false;
  },
};

/** Split a command line; a missing or unparsable one is a configuration error naming the field. */
export function parseCommand(command: string | undefined): string[] {
  if (command === undefined || command.trim() === '') {
    throw new AgentConfigError('config.command is required for the command agent: give the command line to run');
  }
  try {
    return parseCommandString(command.trim());
  } catch (err) {
    throw new AgentConfigError(
      `config.command "${command.slice(0, 200)}" cannot be parsed: ${err instanceof Error ? err.message : String(err)}`,
    );
  }
}
