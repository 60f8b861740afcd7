/**
 * Operator verbs that work without a connected client, because they set things up or find out what
 * is broken: migrate the database, register search attributes, and diagnose the installation
 * (`claudomator doctor`).
 */
import { Client, Connection } from '@temporalio/client';
// Default import: @temporalio/proto is CommonJS whose named exports Node's ESM loader cannot see.
import protobufs from '@temporalio/proto';
import { findBinary } from '../infra/binaries.js';
import { claudomatorDataConverter, encryptionActive } from '../infra/codec.js';
import type { Config } from '../infra/config.js';
import { ensureDatabase, resolveDatabase } from '../infra/postgres.js';
import { registerSearchAttributes } from '../infra/temporal.js';
import { Store } from '../store/index.js';
import { migrate } from '../store/migrate.js';
import { hostTaskQueue } from '../workflows/definitions.js';
import type { healthCheckWorkflow } from '../workflows/health.js';
import { errorMessage, temporalUnavailable, toClientError, UnavailableError } from './errors.js';

const proto = protobufs.temporal;

/** Create the database if needed and apply pending migrations. */
export async function migrateDatabase(config: Readonly<Config>): Promise<{ database: string; applied: string[] }> {
  try {
    const database = await resolveDatabase(config);
    try {
      await ensureDatabase(database.url);
      return { database: database.description, applied: await migrate(database.url) };
    } finally {
      await database.close();
    }
  } catch (err) {
    throw toClientError(err);
  }
}

/**
 * Register claudomator's search attributes on the configured namespace, leaving those that exist
 * alone: running it twice changes nothing the second time. Returns the names it added.
 */
export async function setupTemporal(config: Readonly<Config>): Promise<{ namespace: string; added: string[] }> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ ...config.temporal.connection, connectTimeout: 5_000 });
  } catch (err) {
    throw temporalUnavailable(config, err);
  }
  try {
    const added = await registerSearchAttributes(connection, config.temporal.namespace).catch((err: unknown) => {
      throw new UnavailableError(
        'temporal',
        `Could not register search attributes on namespace ${config.temporal.namespace}: ${errorMessage(err)}`,
        'On Temporal Cloud, register them with tcld or the Terraform provider; on a self-hosted server, ' +
          'check that the namespace exists and that this identity may call the operator service.',
        { cause: err },
      );
    });
    return { namespace: config.temporal.namespace, added };
  } finally {
    await connection.close();
  }
}

// ---- doctor ---------------------------------------------------------------------------------

export interface DoctorCheck {
  name: 'database' | 'temporal' | 'worker' | 'agent hosts';
  ok: boolean;
  detail: string;
  /** What to do when it is not ok. */
  hint?: string;
}

export interface DoctorReport {
  ok: boolean;
  config: Record<string, string | number | boolean | null>;
  checks: DoctorCheck[];
}

/** The configuration as a person should see it: every setting, no secrets. */
export function describeConfig(config: Readonly<Config>): DoctorReport['config'] {
  const connection = config.temporal.connection;
  return {
    temporalAddress: config.temporal.address,
    temporalNamespace: config.temporal.namespace,
    temporalApiKey: connection.apiKey ? 'set (hidden)' : 'unset',
    temporalTls: Boolean(connection.tls),
    databaseUrl: config.databaseUrl ? redactUrl(config.databaseUrl) : 'unset (local server, else embedded)',
    dataDir: config.dataDir,
    taskQueue: config.taskQueue,
    agentTaskQueue: config.agentTaskQueue,
    hostTaskQueue: hostTaskQueue(config.agentTaskQueue, config.hostId),
    workerRole: config.workerRole,
    hostId: config.hostId,
    agents: config.agents.join(','),
    agentSlots: config.agents.map((a) => `${a}=${config.agentSlots[a]}`).join(','),
    shutdownGraceMs: config.shutdownGraceMs,
    defaultTimeoutMs: config.defaultTimeoutMs,
    deploymentName: config.deploymentName,
    buildId: config.buildId ?? null,
    logLevel: config.logLevel,
    uiUrl: config.uiUrl,
    // Key ids and where they came from; never the keys.
    payloadEncryption: encryptionActive(config)
      ? `on, key ${config.encryption.keys[0]!.id} (${config.encryption.keys.length} key(s) from ${config.encryption.keySource})`
      : config.encryption.keys.length > 0
        ? `off (CLAUDOMATOR_ENCRYPTION=off; ${config.encryption.keys.length} key(s) still decrypt)`
        : 'off (no key: set CLAUDOMATOR_ENCRYPTION_KEYS)',
    metricsPort: config.metricsPort ?? null,
    healthPort: config.healthPort ?? null,
    temporalCli: findBinary('temporal', config.temporalCliPath) ?? 'not found',
  };
}

/** A URL with its password replaced, for display. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}

/** Check configuration, database, Temporal, and the workers of both roles; never throws for what it finds. */
export async function diagnose(
  config: Readonly<Config>,
  options: { workerTimeoutMs?: number } = {},
): Promise<DoctorReport> {
  const checks: DoctorCheck[] = [await checkDatabase(config)];
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ ...config.temporal.connection, connectTimeout: 3_000 });
    const info = await connection.workflowService.getSystemInfo({});
    await connection.workflowService.describeNamespace({ namespace: config.temporal.namespace });
    checks.push({
      name: 'temporal',
      ok: true,
      detail: `${config.temporal.address}, namespace ${config.temporal.namespace}, server ${info.serverVersion || 'unknown version'}`,
    });
    checks.push(await checkWorker(config, connection, options.workerTimeoutMs ?? 5_000));
    checks.push(await checkAgentHosts(config, connection));
  } catch (err) {
    const unavailable = temporalUnavailable(config, err);
    checks.push({ name: 'temporal', ok: false, detail: unavailable.message, ...hint(unavailable.hint) });
  } finally {
    await connection?.close();
  }
  return { ok: checks.every((c) => c.ok), config: describeConfig(config), checks };
}

async function checkDatabase(config: Readonly<Config>): Promise<DoctorCheck> {
  try {
    const database = await resolveDatabase(config);
    try {
      const store = await Store.connect(database.url, { max: 1 });
      try {
        const { rows } = await store.pool.query<{ n: number }>(`select count(*)::int as n from claudomator_migrations`);
        return { name: 'database', ok: true, detail: `${database.description}, ${rows[0]?.n ?? 0} migrations applied` };
      } catch {
        return {
          name: 'database',
          ok: false,
          detail: `${database.description} answers but is not migrated`,
          hint: 'Run `claudomator migrate`.',
        };
      } finally {
        await store.close();
      }
    } finally {
      await database.close();
    }
  } catch (err) {
    const translated = toClientError(err);
    return {
      name: 'database',
      ok: false,
      detail: errorMessage(translated),
      hint: 'Start Postgres, or unset DATABASE_URL to use the local or embedded one.',
    };
  }
}

async function checkWorker(config: Readonly<Config>, connection: Connection, timeoutMs: number): Promise<DoctorCheck> {
  const pollers = await countPollers(connection, config, config.taskQueue, 'workflow');
  if (pollers === 0) {
    return {
      name: 'worker',
      ok: false,
      detail: `no worker polls the orchestration queue "${config.taskQueue}"`,
      hint: 'Start one with `claudomator worker --role orchestration` (or everything with `claudomator up`).',
    };
  }
  const client = new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: claudomatorDataConverter(config),
  });
  try {
    const report = await client.workflow.execute<typeof healthCheckWorkflow>('healthCheckWorkflow', {
      taskQueue: config.taskQueue,
      workflowId: `doctor-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 6)}`,
      args: ['doctor'],
      workflowExecutionTimeout: timeoutMs,
    });
    const ok = report.database === 'ok';
    return {
      name: 'worker',
      ok,
      detail: `pid ${report.pid} on ${report.host} answered on "${report.taskQueue}"; its database: ${report.database}`,
      ...(ok ? {} : { hint: 'The worker cannot reach its database: check DATABASE_URL where the worker runs.' }),
    };
  } catch (err) {
    return {
      name: 'worker',
      ok: false,
      detail: `${pollers} poller(s) on "${config.taskQueue}", but the health check got no answer in ${timeoutMs} ms (${errorMessage(err)})`,
      hint: 'Look at the worker logs; restart it with `claudomator worker`.',
    };
  }
}

async function checkAgentHosts(config: Readonly<Config>, connection: Connection): Promise<DoctorCheck> {
  const pollers = await countPollers(connection, config, config.agentTaskQueue, 'activity');
  return pollers > 0
    ? { name: 'agent hosts', ok: true, detail: `${pollers} poller(s) on "${config.agentTaskQueue}"` }
    : {
        name: 'agent hosts',
        ok: false,
        detail: `no agent host polls "${config.agentTaskQueue}": agent runs would wait`,
        hint: 'Start one with `claudomator worker --role agents` (or everything with `claudomator up`).',
      };
}

async function countPollers(
  connection: Connection,
  config: Readonly<Config>,
  taskQueue: string,
  type: 'workflow' | 'activity',
): Promise<number> {
  const { pollers } = await connection.workflowService.describeTaskQueue({
    namespace: config.temporal.namespace,
    taskQueue: { name: taskQueue, kind: proto.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
    taskQueueType:
      type === 'workflow'
        ? proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW
        : proto.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
  });
  return pollers?.length ?? 0;
}

function hint(text: string | undefined): { hint?: string } {
  return text ? { hint: text } : {};
}
