/**
 * The Temporal runtime of a worker process, installed once: the SDK's logger at the configured
 * level (one line per entry on stderr), and Prometheus metrics from the runtime when
 * CLAUDOMATOR_METRICS_PORT is set. Signals are left to the process entry (see worker/run.ts),
 * which shuts the stack down in order.
 */
import { DefaultLogger, Runtime, type LogEntry, type Logger } from '@temporalio/worker';
import type { Config } from '../infra/config.js';

let installed = false;

/** Notices that are expected by design (agent-host workers run no workflows; nobody uses Nexus). */
const EXPECTED_NOTICES = new Set([
  'No workflows registered, not polling for workflow tasks',
  'No Nexus services registered, not polling for Nexus tasks',
]);

/**
 * Install the runtime for `config`. Returns false when a runtime already existed (an embedding
 * process, such as a test, installed its own): its logger and metrics stay in force.
 */
export function installRuntime(config: Pick<Config, 'logLevel' | 'metricsPort'>): boolean {
  if (installed) return false;
  try {
    Runtime.install({
      logger: new DefaultLogger(config.logLevel, writeLogLine),
      shutdownSignals: [],
      ...(config.metricsPort
        ? { telemetryOptions: { metrics: { prometheus: { bindAddress: `0.0.0.0:${config.metricsPort}` } } } }
        : {}),
    });
    installed = true;
    return true;
  } catch (err) {
    if (err instanceof Error && err.name === 'IllegalStateError') return false;
    throw err;
  }
}

/** The runtime's logger (structured: a constant message plus attributes). */
export function workerLogger(): Logger {
  return Runtime.instance().logger;
}

/** `<time> <LEVEL> <message> {attributes}` on one line, so logs grep and ship well. */
function writeLogLine(entry: LogEntry): void {
  if (EXPECTED_NOTICES.has(entry.message)) return;
  const time = new Date(Number(entry.timestampNanos / 1_000_000n)).toISOString();
  const meta = entry.meta && Object.keys(entry.meta).length > 0 ? ` ${safeJson(entry.meta)}` : '';
  process.stderr.write(`${time} ${entry.level.padEnd(5)} ${entry.message}${meta}\n`);
}

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value, (_key, v: unknown) =>
      v instanceof Error ? { name: v.name, message: v.message } : typeof v === 'bigint' ? v.toString() : v,
    );
  } catch {
    return '{}';
  }
}
