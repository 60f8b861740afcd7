/**
 * What every command shares: exit statuses, connecting a client for one call, turning errors into a
 * message plus the next command, and printing for people (tables, fields) or for scripts (JSON).
 */
import { InvalidArgumentError } from 'commander';
import ms from 'ms';
import { loadConfig } from '../../infra/config.js';
import type { SpecIssue } from '../specs.js';
import { ClaudomatorClient, ClaudomatorError, ValidationError } from '../index.js';

/** Exit statuses: documented in `--help`, relied on by scripts. */
export const EXIT = { ok: 0, failure: 1, usage: 2, notFound: 3, timeout: 4 } as const;

export const EXIT_HELP = `
Exit status:
  0  success
  1  failure (a service is down, a check failed, a conflict, a task that ended badly for \`task wait\`)
  2  usage error or invalid input (the message names the field)
  3  not found (no such project, story or task)
  4  timed out waiting (\`task wait --timeout\`, \`story watch --timeout\`)`;

export interface JsonOption {
  json?: boolean;
}

/** Connect, run one SDK call, close; SDK field names in validation errors are shown as the flags typed. */
export async function withClient<T>(
  fn: (client: ClaudomatorClient) => Promise<T>,
  flags: Record<string, string> = {},
): Promise<T> {
  const client = await ClaudomatorClient.connect(loadConfig());
  try {
    return await fn(client);
  } catch (err) {
    if (err instanceof ValidationError) throw withFlagNames(err, flags);
    throw err;
  } finally {
    await client.close();
  }
}

function withFlagNames(err: ValidationError, flags: Record<string, string>): ValidationError {
  const issues: SpecIssue[] = err.issues.map((issue) => ({
    ...issue,
    path: flags[issue.path] ? `${flags[issue.path]} (${issue.path})` : issue.path,
  }));
  const what = /^Invalid ([^:]+):/.exec(err.message)?.[1] ?? 'input';
  return new ValidationError(
    `Invalid ${what}:\n${issues.map((i) => `  - ${i.path || '(root)'}: ${i.message}`).join('\n')}`,
    issues,
    err.hint,
  );
}

export function exitCodeFor(err: unknown): number {
  if (err instanceof ClaudomatorError) {
    switch (err.code) {
      case 'NOT_FOUND':
        return EXIT.notFound;
      case 'INVALID':
        return EXIT.usage;
      case 'TIMEOUT':
        return EXIT.timeout;
      case 'CONFLICT':
      case 'UNAVAILABLE':
        return EXIT.failure;
    }
  }
  return EXIT.failure;
}

export function reportError(err: unknown, json: boolean): void {
  const message = err instanceof Error ? err.message : String(err);
  console.error(`error: ${message}`);
  if (err instanceof ClaudomatorError && err.hint) console.error(`next:  ${err.hint}`);
  if (json) {
    printJson({
      error: {
        code: err instanceof ClaudomatorError ? err.code : 'FAILED',
        message,
        ...(err instanceof ClaudomatorError && err.hint ? { hint: err.hint } : {}),
        ...(err instanceof ValidationError ? { issues: err.issues } : {}),
      },
    });
  }
}

// ---- Output -------------------------------------------------------------------------------------

export function out(text: string): void {
  console.log(text);
}

/** Progress lines go to stderr, so stdout stays the command's result. */
export function info(text: string): void {
  console.error(text);
}

export function printJson(value: unknown): void {
  console.log(JSON.stringify(value, null, 2));
}

export function printFields(fields: Array<[string, string | undefined]>): void {
  const shown = fields.filter((f): f is [string, string] => f[1] !== undefined);
  const width = Math.max(...shown.map(([k]) => k.length));
  for (const [key, value] of shown) out(`  ${key.padEnd(width)}  ${value}`);
}

export function printTable<T>(rows: T[], columns: Array<[string, (row: T) => string]>): void {
  const cells = [columns.map(([title]) => title), ...rows.map((row) => columns.map(([, get]) => get(row)))];
  const widths = columns.map((_, i) => Math.max(...cells.map((line) => line[i]!.length)));
  for (const line of cells)
    out(line.map((cell, i) => (i === line.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  '));
}

export function parseCount(raw: string): number {
  if (!/^\d+$/.test(raw.trim())) throw new InvalidArgumentError('expected a whole number.');
  return Number(raw);
}

export function parsePort(raw: string): number {
  const port = Number(raw);
  if (!Number.isInteger(port) || port <= 0 || port >= 65536) {
    throw new InvalidArgumentError('expected a port from 1 to 65535.');
  }
  return port;
}

/** A duration such as 90s, 10m or 2h (or milliseconds). */
export function parseDuration(raw: string): number {
  const millis = /^\d+$/.test(raw) ? Number(raw) : ms(raw as ms.StringValue);
  if (typeof millis !== 'number' || !Number.isFinite(millis) || millis <= 0) {
    throw new InvalidArgumentError('expected a duration such as 90s, 10m or 2h.');
  }
  return millis;
}
