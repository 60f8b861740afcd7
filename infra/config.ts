/**
 * claudomator's configuration: every environment variable it reads, in one place, validated once.
 *
 * `loadConfig(env)` returns a frozen, typed object or throws one `ConfigError` that lists every bad
 * variable with what it expects. Nothing else in the code base reads `process.env` (the agent runner
 * passes selected variables through to agent processes, by the rules in `agentEnvironment`).
 * The Temporal connection comes from `@temporalio/envconfig`, which reads TEMPORAL_ADDRESS,
 * TEMPORAL_NAMESPACE, TEMPORAL_API_KEY, TEMPORAL_TLS*, TEMPORAL_PROFILE and the TOML config file.
 */
import { readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { loadClientConnectConfig, type ClientConnectConfig } from '@temporalio/envconfig';
import ms from 'ms';
import { AGENT_TYPES, type AgentType, type NotifyConfig } from '../workflows/types.js';

/** Each variable claudomator reads itself, with a one-line description (shown by `claudomator config`). */
export const ENV_VARS = {
  DATABASE_URL: 'Postgres connection string; unset: the local server on 127.0.0.1:5432, else an embedded Postgres',
  CLAUDOMATOR_DATA_DIR: 'Where sandboxes, logs and embedded data live (default ~/.claudomator)',
  CLAUDOMATOR_TASK_QUEUE: 'Task queue of the orchestration workers: workflows, store and git activities',
  CLAUDOMATOR_AGENT_TASK_QUEUE: 'Task queue of the agent hosts: agent runs in sandboxes',
  CLAUDOMATOR_POOL_WORKFLOW_ID: 'Workflow id of the agent pool (default agent-pool)',
  CLAUDOMATOR_AGENTS: 'Agents the pool offers, comma-separated (default claude,gemini,codex,command)',
  CLAUDOMATOR_AGENT_SLOTS: 'Per-agent slot limits such as "claude=2,gemini=1" (default 1 each)',
  CLAUDOMATOR_MAX_CONCURRENT:
    "Agent runs at once across all agents: the pool's global cap, at its first start (default: none; the slots bound it)",
  CLAUDOMATOR_HOST_MAX_RUNS:
    'Agent runs one agent host runs at once, across the shared queue and its resume queue (default: no cap)',
  CLAUDOMATOR_CLASSIFIER_MODEL:
    'Anthropic model that picks the model of a task that names none, e.g. claude-haiku-4-5 (default: off)',
  CLAUDOMATOR_CLASSIFIER_BASE_URL:
    'Messages API base URL of the classifier (default: ANTHROPIC_BASE_URL, else https://api.anthropic.com)',
  CLAUDOMATOR_CLASSIFIER_API_KEY: 'API key of the classifier (default: ANTHROPIC_API_KEY)',
  CLAUDOMATOR_CLASSIFIER_TIMEOUT:
    "How long one classification may take before the agent's default model is used (default 8s, at most 9s)",
  CLAUDOMATOR_CLAUDE_BIN: 'Path of the Claude Code CLI (default: claude on PATH)',
  CLAUDOMATOR_GEMINI_BIN: 'Path of the Gemini CLI (default: gemini on PATH)',
  CLAUDOMATOR_CODEX_BIN: 'Path of the Codex CLI (default: codex on PATH)',
  CLAUDOMATOR_DEFAULT_TIMEOUT: 'Wall-clock limit of one agent run when the task sets none (default 2h)',
  CLAUDOMATOR_AGENT_HEARTBEAT_TIMEOUT:
    'How soon a dead agent host is noticed and its run retried elsewhere (default 60s)',
  CLAUDOMATOR_HOST_SCHEDULE_TIMEOUT:
    'How long a resume waits for the host holding the sandbox before running afresh (default 10m)',
  CLAUDOMATOR_DEPLOY_RETRY_INTERVAL:
    'First wait before a failed story deploy is retried; it doubles each time (default 5s)',
  CLAUDOMATOR_SHUTDOWN_GRACE: 'How long a stopping worker lets running activities finish (default 30s)',
  CLAUDOMATOR_POOL_SHARDS:
    'Agent pool workflows to split the agents across, for more grants per second (default 1, at most one per agent)',
  CLAUDOMATOR_MAX_CACHED_WORKFLOWS:
    'Workflows an orchestration worker keeps in memory; the rest replay when they wake (default 500)',
  CLAUDOMATOR_WORKER_ROLE: 'What a worker runs: all, orchestration or agents (default all)',
  CLAUDOMATOR_HOST_ID: 'Name of this agent host; its resume queue is <agent queue>@<host> (default: hostname)',
  CLAUDOMATOR_DEPLOYMENT_NAME: 'Worker Deployment name for Worker Versioning (default claudomator)',
  CLAUDOMATOR_BUILD_ID: 'Build id of this worker (the image tag); set: Worker Versioning is on',
  TEMPORAL_DEPLOYMENT_NAME:
    'Worker Deployment name set by the Temporal Worker Controller; used when CLAUDOMATOR_DEPLOYMENT_NAME is unset',
  TEMPORAL_WORKER_BUILD_ID: 'Build id set by the Temporal Worker Controller; used when CLAUDOMATOR_BUILD_ID is unset',
  CLAUDOMATOR_AGENT_ENV_PASSTHROUGH:
    'Extra environment variable names passed to agent processes, comma-separated; NAME_* passes a prefix',
  CLAUDOMATOR_AGENT_UID:
    "Run agent CLIs under this uid, not the worker's, so they cannot read its environment (needs a worker that may switch users)",
  CLAUDOMATOR_AGENT_GID: 'Group id of agent processes when CLAUDOMATOR_AGENT_UID is set (default: the same number)',
  CLAUDOMATOR_AGENT_HOME:
    'HOME of agent processes when CLAUDOMATOR_AGENT_UID is set: their session files (default <data dir>/agent-home)',
  CLAUDOMATOR_LOG_LEVEL: 'TRACE, DEBUG, INFO, WARN or ERROR (default INFO)',
  CLAUDOMATOR_UI_URL: 'Base URL of the Temporal Web UI, for links (default http://localhost:8233)',
  CLAUDOMATOR_NOTIFY_WEBHOOK_URL:
    'Generic JSON webhook every notification is POSTed to, unless the project sets its own (default: none)',
  CLAUDOMATOR_NOTIFY_SLACK_URL:
    'Slack-compatible incoming webhook notifications are posted to, unless the project sets its own (default: none)',
  CLAUDOMATOR_NOTIFY_ESCALATION_WEBHOOK_URL:
    'JSON webhook of escalated questions, unless the project sets its own (default: none)',
  CLAUDOMATOR_NOTIFY_ESCALATION_SLACK_URL:
    'Slack-compatible incoming webhook of escalated questions, unless the project sets its own (default: none)',
  CLAUDOMATOR_SEARCH_ATTRIBUTES:
    "on (default) or off: off for a Temporal server without claudomator's search attributes (the time-skipping test server); task and pool workflows then set none",
  CLAUDOMATOR_METRICS_PORT: 'Port where a worker serves Prometheus metrics from the Temporal runtime (default: off)',
  CLAUDOMATOR_HEALTH_PORT: 'Port where a worker serves /healthz and /readyz (default: off)',
  CLAUDOMATOR_WORKFLOW_BUNDLE:
    'Prebuilt workflow bundle a worker loads (default dist/workflow-bundle.js when current, else bundle from source)',
  CLAUDOMATOR_ENCRYPTION:
    'Payload encryption: auto (default: on when a key is configured), on (a key must be configured) or off',
  CLAUDOMATOR_ENCRYPTION_KEYS:
    'Payload keys "<id>:<base64 of 32 bytes>,...": the first encrypts, all decrypt (default: <data dir>/encryption-keys)',
  CLAUDOMATOR_CODEC_SERVER_ORIGINS:
    'Web UI origins allowed to call `claudomator codec-server`, comma-separated (default: the origin of the UI URL)',
  CLAUDOMATOR_CODEC_SERVER_TOKEN: 'Bearer token `claudomator codec-server` requires in Authorization (default: none)',
  ECS_AGENT_URI: 'Set by Amazon ECS in each task: agent hosts there protect their task from scale-in while agents run',
  TEMPORAL_CLI_PATH: 'The temporal CLI used for the local dev server (default: .tools/venv/bin/temporal, then PATH)',
  TEMPORAL_TEST_SERVER_PATH:
    'The Java time-skipping test server (default: .tools/venv/bin/temporal-test-server, then PATH)',
} as const;
export type EnvVarName = keyof typeof ENV_VARS;

/** Variables read by `@temporalio/envconfig` rather than by claudomator itself. */
export const TEMPORAL_ENV_VARS = [
  'TEMPORAL_ADDRESS',
  'TEMPORAL_NAMESPACE',
  'TEMPORAL_API_KEY',
  'TEMPORAL_PROFILE',
  'TEMPORAL_CONFIG_FILE',
  'TEMPORAL_TLS',
  'TEMPORAL_TLS_CLIENT_CERT_PATH',
  'TEMPORAL_TLS_CLIENT_CERT_DATA',
  'TEMPORAL_TLS_CLIENT_KEY_PATH',
  'TEMPORAL_TLS_CLIENT_KEY_DATA',
  'TEMPORAL_TLS_SERVER_CA_CERT_PATH',
  'TEMPORAL_TLS_SERVER_CA_CERT_DATA',
  'TEMPORAL_TLS_SERVER_NAME',
  'TEMPORAL_TLS_DISABLE_HOST_VERIFICATION',
] as const;

/** The variable of each global notification receiver. */
export const NOTIFY_ENV_VARS = {
  webhookUrl: 'CLAUDOMATOR_NOTIFY_WEBHOOK_URL',
  slackUrl: 'CLAUDOMATOR_NOTIFY_SLACK_URL',
  escalationWebhookUrl: 'CLAUDOMATOR_NOTIFY_ESCALATION_WEBHOOK_URL',
  escalationSlackUrl: 'CLAUDOMATOR_NOTIFY_ESCALATION_SLACK_URL',
} as const satisfies Record<keyof NotifyConfig, EnvVarName>;

/** What a notification receiver's URL must be, for error messages (config and project specs). */
export const NOTIFY_URL_EXPECTED =
  'an http(s) URL with a host, such as https://hooks.slack.com/services/T000/B000/XXXX';

/** A notification receiver's URL as given (trimmed), or undefined when it is not an absolute http(s) URL with a host. */
export function notifyUrl(raw: string): string | undefined {
  const trimmed = raw.trim();
  if (!/^https?:\/\/\S+$/i.test(trimmed) || !URL.canParse(trimmed)) return undefined;
  return new URL(trimmed).hostname === '' ? undefined : trimmed;
}

export const LOG_LEVELS = ['TRACE', 'DEBUG', 'INFO', 'WARN', 'ERROR'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
export const WORKER_ROLES = ['all', 'orchestration', 'agents'] as const;
export type WorkerRole = (typeof WORKER_ROLES)[number];
export const ENCRYPTION_MODES = ['auto', 'on', 'off'] as const;
export type EncryptionMode = (typeof ENCRYPTION_MODES)[number];

/** Where `claudomator up` keeps the key it creates, and where every process looks when the variable is unset. */
export const ENCRYPTION_KEY_FILE = 'encryption-keys';

/** An AES-256 key of the payload codec (infra/codec.ts), named by the id written next to each payload. */
export interface EncryptionKey {
  id: string;
  key: Buffer;
}

export interface Config {
  temporal: {
    connection: ClientConnectConfig['connectionOptions'];
    namespace: string;
    /** The address actually used (for messages and links). */
    address: string;
  };
  /** Undefined: resolve the local default (see infra/postgres.ts). */
  databaseUrl: string | undefined;
  dataDir: string;
  taskQueue: string;
  agentTaskQueue: string;
  poolWorkflowId: string;
  /** How many agent pool workflows share the agents (CLAUDOMATOR_POOL_SHARDS; workflows/pool-shards.ts). */
  poolShards: number;
  agents: AgentType[];
  agentSlots: Record<AgentType, number>;
  /** The agent pool's global cap on slots held at once (its input when it first starts); undefined: none. */
  maxConcurrent: number | undefined;
  /** Agent runs an agent host runs at once across its two queues (worker/host-run-limit.ts); undefined: no cap. */
  hostMaxRuns: number | undefined;
  /** The model classifier (activities/classify.ts); undefined: off, tasks get the agent's default model. */
  classifier: ClassifierConfig | undefined;
  agentBins: Record<Exclude<AgentType, 'command'>, string>;
  defaultTimeoutMs: number;
  agentHeartbeatTimeoutMs: number;
  hostScheduleTimeoutMs: number;
  deployRetryIntervalMs: number;
  shutdownGraceMs: number;
  /** Sticky cache size of orchestration workers: bounds memory when many tasks wait (bench/blocked-tasks-memory). */
  maxCachedWorkflows: number;
  workerRole: WorkerRole;
  hostId: string;
  /** Worker Versioning: on when `buildId` is set. */
  deploymentName: string;
  buildId: string | undefined;
  logLevel: LogLevel;
  uiUrl: string;
  /** The global notification receivers (activities/notify.ts); a project's own replace them one by one. */
  notify: NotifyConfig;
  /** Task and pool workflows set their search attributes (CLAUDOMATOR_SEARCH_ATTRIBUTES). */
  searchAttributes: boolean;
  metricsPort: number | undefined;
  healthPort: number | undefined;
  /** A prebuilt workflow bundle to load; undefined: worker/bundle.ts decides. */
  workflowBundlePath: string | undefined;
  /**
   * The environment agent processes get (computed by `agentEnvironment`): a minimal base, the agents'
   * own variables and the names in CLAUDOMATOR_AGENT_ENV_PASSTHROUGH. Never log it: it holds API keys.
   */
  agentEnv: Readonly<Record<string, string>>;
  /** Payload encryption (infra/codec.ts): on when `mode` is not off and there is a key. */
  encryption: {
    mode: EncryptionMode;
    /** The first encrypts new payloads; every one decrypts. Never log them. */
    keys: readonly EncryptionKey[];
    /** Where the keys came from (the variable or the key file), for messages. */
    keySource: string | undefined;
  };
  codecServer: {
    /** Origins (scheme://host[:port]) whose pages may call the codec server. */
    origins: string[];
    /** Bearer token the codec server requires; undefined: none. Never log it. */
    token: string | undefined;
  };
  /**
   * The user agent processes run as, when it is not the worker's own: sandboxes, execution dirs and
   * `home` are handed to it before each run, and agents cannot read the worker's /proc environment.
   */
  agentUser: AgentUser | undefined;
  /** Amazon ECS's agent endpoint of this task (ECS_AGENT_URI), for scale-in protection; undefined elsewhere. */
  ecsAgentUri: string | undefined;
  temporalCliPath: string | undefined;
  temporalTestServerPath: string | undefined;
}

export interface ClassifierConfig {
  model: string;
  /** Undefined: the Anthropic SDK's default (https://api.anthropic.com). */
  baseUrl: string | undefined;
  /** Never log it. */
  apiKey: string;
  timeoutMs: number;
}

/** The task workflow gives the classifier's local activity 10 s; its own timeout stays under that, so it reports. */
export const MAX_CLASSIFIER_TIMEOUT_MS = 9_000;

export interface AgentUser {
  uid: number;
  gid: number;
  /** The agents' HOME (their CLIs keep sessions there); the worker creates it and hands it over. */
  home: string;
}

export interface ConfigProblem {
  variable: string;
  expected: string;
  got?: string;
}

/** One message listing every bad variable, what it expects and what it got. */
export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(readonly problems: ConfigProblem[]) {
    super(
      `Invalid configuration:\n${problems
        .map((p) => `  - ${p.variable}: expected ${p.expected}${p.got === undefined ? '' : `, got "${p.got}"`}`)
        .join('\n')}`,
    );
  }
}

type Env = Readonly<Record<string, string | undefined>>;

export function loadConfig(env: Env = process.env): Readonly<Config> {
  const problems: ConfigProblem[] = [];
  const read = (name: EnvVarName): string | undefined => {
    const value = env[name]?.trim();
    return value === '' ? undefined : value;
  };

  const parse = <T>(name: EnvVarName, fallback: T, expected: string, fn: (raw: string) => T | undefined): T => {
    const raw = read(name);
    if (raw === undefined) return fallback;
    const value = fn(raw);
    if (value === undefined) {
      problems.push({ variable: name, expected, got: raw });
      return fallback;
    }
    return value;
  };

  const duration = (raw: string): number | undefined => {
    const value = /^\d+$/.test(raw) ? Number(raw) : ms(raw as ms.StringValue);
    return typeof value === 'number' && Number.isFinite(value) && value > 0 ? value : undefined;
  };
  const port = (raw: string): number | undefined => {
    const value = Number(raw);
    return Number.isInteger(value) && value > 0 && value < 65536 ? value : undefined;
  };
  const wholeNumber =
    (min: number, max: number) =>
    (raw: string): number | undefined =>
      /^\d+$/.test(raw) && Number(raw) >= min && Number(raw) <= max ? Number(raw) : undefined;
  const httpUrl = (raw: string): string | undefined =>
    /^https?:\/\/\S+$/.test(raw) ? raw.replace(/\/+$/, '') : undefined;
  const queueName = (raw: string): string | undefined => (/^[\w.@:-]{1,200}$/.test(raw) ? raw : undefined);

  const agents = parse(
    'CLAUDOMATOR_AGENTS',
    [...AGENT_TYPES],
    `a comma-separated list of ${AGENT_TYPES.join(', ')}`,
    (raw) => {
      const names = raw.split(',').map((s) => s.trim());
      return names.length > 0 && names.every(isAgentType) ? [...new Set(names)] : undefined;
    },
  );

  const agentSlots = Object.fromEntries(AGENT_TYPES.map((a) => [a, 1])) as Record<AgentType, number>;
  const slots = parse(
    'CLAUDOMATOR_AGENT_SLOTS',
    {},
    'agent=count pairs such as "claude=2,gemini=1" with counts from 0 to 1000',
    (raw) => {
      const out: Partial<Record<AgentType, number>> = {};
      for (const pair of raw.split(',')) {
        const match = /^\s*([a-z]+)\s*=\s*(\d+)\s*$/.exec(pair);
        if (!match || !isAgentType(match[1]) || Number(match[2]) > 1000) return undefined;
        out[match[1]] = Number(match[2]);
      }
      return out;
    },
  );
  Object.assign(agentSlots, slots);

  const classifierModel = parse(
    'CLAUDOMATOR_CLASSIFIER_MODEL',
    undefined as string | undefined,
    'an Anthropic model name such as claude-haiku-4-5',
    (raw) => (/^[\w.:@-]{1,200}$/.test(raw) ? raw : undefined),
  );
  const classifierTimeoutMs = parse(
    'CLAUDOMATOR_CLASSIFIER_TIMEOUT',
    8_000,
    `a duration of at most ${MAX_CLASSIFIER_TIMEOUT_MS / 1000}s such as "5s"`,
    (raw) => {
      const value = duration(raw);
      return value !== undefined && value <= MAX_CLASSIFIER_TIMEOUT_MS ? value : undefined;
    },
  );
  let classifier: ClassifierConfig | undefined;
  if (classifierModel !== undefined) {
    const baseUrlVariable =
      read('CLAUDOMATOR_CLASSIFIER_BASE_URL') !== undefined ? 'CLAUDOMATOR_CLASSIFIER_BASE_URL' : 'ANTHROPIC_BASE_URL';
    const rawBaseUrl = read('CLAUDOMATOR_CLASSIFIER_BASE_URL') ?? (env.ANTHROPIC_BASE_URL?.trim() || undefined);
    const baseUrl = rawBaseUrl === undefined ? undefined : httpUrl(rawBaseUrl);
    if (rawBaseUrl !== undefined && baseUrl === undefined) {
      problems.push({ variable: baseUrlVariable, expected: 'an http(s) URL', got: rawBaseUrl });
    }
    const apiKey = read('CLAUDOMATOR_CLASSIFIER_API_KEY') ?? (env.ANTHROPIC_API_KEY?.trim() || undefined);
    if (apiKey === undefined) {
      problems.push({
        variable: 'CLAUDOMATOR_CLASSIFIER_API_KEY',
        expected: 'an Anthropic API key (or ANTHROPIC_API_KEY) when CLAUDOMATOR_CLASSIFIER_MODEL is set',
      });
    }
    classifier = { model: classifierModel, baseUrl, apiKey: apiKey ?? '', timeoutMs: classifierTimeoutMs };
  }

  let temporal: Config['temporal'] = {
    connection: {},
    namespace: 'default',
    address: 'localhost:7233',
  };
  try {
    const connect = loadClientConnectConfig({
      profile: env.TEMPORAL_PROFILE,
      overrideEnvVars: Object.fromEntries(
        Object.entries(env).filter((entry): entry is [string, string] => entry[1] !== undefined),
      ),
    });
    temporal = {
      connection: connect.connectionOptions,
      namespace: connect.namespace ?? 'default',
      address: connect.connectionOptions.address ?? 'localhost:7233',
    };
  } catch (err) {
    problems.push({
      variable: 'TEMPORAL_* / TEMPORAL_CONFIG_FILE',
      expected: `a valid Temporal client profile (${err instanceof Error ? err.message : String(err)})`,
    });
  }

  const databaseUrl = parse(
    'DATABASE_URL',
    undefined as string | undefined,
    'a postgres:// or postgresql:// URL',
    (raw) => (/^postgres(ql)?:\/\//.test(raw) ? raw : undefined),
  );

  const dataDir = path.resolve(read('CLAUDOMATOR_DATA_DIR') ?? path.join(os.homedir(), '.claudomator'));
  const uiUrl = parse('CLAUDOMATOR_UI_URL', 'http://localhost:8233', 'an http(s) URL', (raw) =>
    /^https?:\/\/\S+$/.test(raw) && URL.canParse(raw) ? raw.replace(/\/+$/, '') : undefined,
  );
  const encryptionMode = parse('CLAUDOMATOR_ENCRYPTION', 'auto', `one of ${ENCRYPTION_MODES.join(', ')}`, (raw) =>
    (ENCRYPTION_MODES as readonly string[]).includes(raw.toLowerCase())
      ? (raw.toLowerCase() as EncryptionMode)
      : undefined,
  );
  const encryption = readEncryptionKeys(read('CLAUDOMATOR_ENCRYPTION_KEYS'), dataDir, problems);
  if (encryptionMode === 'on' && encryption.keys.length === 0) {
    problems.push({
      variable: 'CLAUDOMATOR_ENCRYPTION_KEYS',
      expected: `at least one key when CLAUDOMATOR_ENCRYPTION=on (none set, and no ${path.join(dataDir, ENCRYPTION_KEY_FILE)})`,
    });
  }
  const id = (raw: string): number | undefined =>
    /^\d+$/.test(raw) && Number(raw) >= 1 && Number(raw) < 2 ** 31 ? Number(raw) : undefined;
  const idExpected = 'a numeric id from 1 to 2147483647 (0 is root: agents would run privileged)';
  const agentUid = parse('CLAUDOMATOR_AGENT_UID', undefined as number | undefined, idExpected, id);
  const agentGid = parse('CLAUDOMATOR_AGENT_GID', agentUid, idExpected, id);
  if (agentUid === undefined && (read('CLAUDOMATOR_AGENT_GID') ?? read('CLAUDOMATOR_AGENT_HOME')) !== undefined) {
    problems.push({
      variable: 'CLAUDOMATOR_AGENT_GID / CLAUDOMATOR_AGENT_HOME',
      expected: 'CLAUDOMATOR_AGENT_UID to be set too (they apply only to agents under their own uid)',
    });
  }
  const agentUser: AgentUser | undefined =
    agentUid === undefined
      ? undefined
      : {
          uid: agentUid,
          gid: agentGid ?? agentUid,
          home: path.resolve(read('CLAUDOMATOR_AGENT_HOME') ?? path.join(dataDir, 'agent-home')),
        };

  const config: Config = {
    temporal,
    databaseUrl,
    dataDir,
    taskQueue: parse('CLAUDOMATOR_TASK_QUEUE', 'claudomator', 'a task queue name (letters, digits, ._-@:)', queueName),
    agentTaskQueue: parse(
      'CLAUDOMATOR_AGENT_TASK_QUEUE',
      'claudomator-agents',
      'a task queue name (letters, digits, ._-@:)',
      queueName,
    ),
    poolWorkflowId: parse(
      'CLAUDOMATOR_POOL_WORKFLOW_ID',
      'agent-pool',
      'a workflow id (letters, digits, ._-@:)',
      queueName,
    ),
    poolShards: parse(
      'CLAUDOMATOR_POOL_SHARDS',
      1,
      `a whole number from 1 to ${agents.length}, the number of agents in CLAUDOMATOR_AGENTS (all slots of an agent live in one shard)`,
      wholeNumber(1, agents.length),
    ),
    agents,
    agentSlots,
    maxConcurrent: parse(
      'CLAUDOMATOR_MAX_CONCURRENT',
      undefined as number | undefined,
      'a whole number from 1 to 1000',
      wholeNumber(1, 1000),
    ),
    hostMaxRuns: parse(
      'CLAUDOMATOR_HOST_MAX_RUNS',
      undefined as number | undefined,
      'a whole number from 1 to 1000',
      wholeNumber(1, 1000),
    ),
    classifier,
    agentBins: {
      claude: read('CLAUDOMATOR_CLAUDE_BIN') ?? 'claude',
      gemini: read('CLAUDOMATOR_GEMINI_BIN') ?? 'gemini',
      codex: read('CLAUDOMATOR_CODEX_BIN') ?? 'codex',
    },
    defaultTimeoutMs: parse(
      'CLAUDOMATOR_DEFAULT_TIMEOUT',
      2 * 60 * 60 * 1000,
      'a duration such as "90m" or "2h"',
      duration,
    ),
    agentHeartbeatTimeoutMs: parse(
      'CLAUDOMATOR_AGENT_HEARTBEAT_TIMEOUT',
      60_000,
      'a duration such as "30s" or "2m"',
      duration,
    ),
    hostScheduleTimeoutMs: parse('CLAUDOMATOR_HOST_SCHEDULE_TIMEOUT', 10 * 60_000, 'a duration such as "5m"', duration),
    deployRetryIntervalMs: parse('CLAUDOMATOR_DEPLOY_RETRY_INTERVAL', 5_000, 'a duration such as "5s"', duration),
    shutdownGraceMs: parse('CLAUDOMATOR_SHUTDOWN_GRACE', 30_000, 'a duration such as "30s" or "5m"', duration),
    maxCachedWorkflows: parse('CLAUDOMATOR_MAX_CACHED_WORKFLOWS', 500, 'a whole number from 1 to 100000', (raw) =>
      /^\d+$/.test(raw) && Number(raw) >= 1 && Number(raw) <= 100_000 ? Number(raw) : undefined,
    ),
    workerRole: parse('CLAUDOMATOR_WORKER_ROLE', 'all', `one of ${WORKER_ROLES.join(', ')}`, (raw) =>
      (WORKER_ROLES as readonly string[]).includes(raw) ? (raw as WorkerRole) : undefined,
    ),
    hostId: parse('CLAUDOMATOR_HOST_ID', os.hostname(), 'a host name (letters, digits, ._-)', (raw) =>
      /^[\w.-]{1,100}$/.test(raw) ? raw : undefined,
    ),
    // The Worker Controller's names are the fallback, so its pods need no mapping of their own; its
    // deployment names are <k8s namespace>/<name>.
    deploymentName: parse(
      read('CLAUDOMATOR_DEPLOYMENT_NAME') === undefined ? 'TEMPORAL_DEPLOYMENT_NAME' : 'CLAUDOMATOR_DEPLOYMENT_NAME',
      'claudomator',
      'a name (letters, digits, ._-/)',
      (raw) => (/^[\w.-]{1,100}(\/[\w.-]{1,100})?$/.test(raw) ? raw : undefined),
    ),
    buildId: parse(
      read('CLAUDOMATOR_BUILD_ID') === undefined ? 'TEMPORAL_WORKER_BUILD_ID' : 'CLAUDOMATOR_BUILD_ID',
      undefined as string | undefined,
      'a build id (letters, digits, ._-+)',
      (raw) => (/^[\w.+-]{1,200}$/.test(raw) ? raw : undefined),
    ),
    logLevel: parse('CLAUDOMATOR_LOG_LEVEL', 'INFO', `one of ${LOG_LEVELS.join(', ')}`, (raw) => {
      const upper = raw.toUpperCase();
      return (LOG_LEVELS as readonly string[]).includes(upper) ? (upper as LogLevel) : undefined;
    }),
    uiUrl,
    notify: Object.freeze(
      Object.fromEntries(
        (Object.entries(NOTIFY_ENV_VARS) as Array<[keyof NotifyConfig, EnvVarName]>).flatMap(([field, variable]) => {
          const url = parse(variable, undefined as string | undefined, NOTIFY_URL_EXPECTED, notifyUrl);
          return url === undefined ? [] : [[field, url]];
        }),
      ),
    ),
    searchAttributes: parse('CLAUDOMATOR_SEARCH_ATTRIBUTES', true, 'on or off', (raw) =>
      raw === 'on' ? true : raw === 'off' ? false : undefined,
    ),
    metricsPort: parse('CLAUDOMATOR_METRICS_PORT', undefined as number | undefined, 'a port from 1 to 65535', port),
    healthPort: parse('CLAUDOMATOR_HEALTH_PORT', undefined as number | undefined, 'a port from 1 to 65535', port),
    workflowBundlePath: parse('CLAUDOMATOR_WORKFLOW_BUNDLE', undefined as string | undefined, 'a file path', (raw) =>
      path.resolve(raw),
    ),
    agentEnv: Object.freeze(
      agentEnvironment(
        env,
        parse(
          'CLAUDOMATOR_AGENT_ENV_PASSTHROUGH',
          [] as string[],
          'comma-separated variable names (letters, digits, _), each optionally ending in * for a prefix',
          (raw) => {
            const names = raw
              .split(',')
              .map((s) => s.trim())
              .filter((s) => s !== '');
            return names.every((n) => /^[A-Za-z_][A-Za-z0-9_]*\*?$/.test(n)) ? names : undefined;
          },
        ),
      ),
    ),
    encryption: { mode: encryptionMode, ...encryption },
    codecServer: {
      origins: parse(
        'CLAUDOMATOR_CODEC_SERVER_ORIGINS',
        [new URL(uiUrl).origin],
        'comma-separated origins such as "http://localhost:8233,https://cloud.temporal.io"',
        (raw) => {
          const origins = raw.split(',').map((s) => s.trim());
          return origins.every((o) => /^https?:\/\/[^/\s]+$/.test(o) && URL.canParse(o))
            ? origins.map((o) => new URL(o).origin)
            : undefined;
        },
      ),
      token: read('CLAUDOMATOR_CODEC_SERVER_TOKEN'),
    },
    agentUser,
    ecsAgentUri: parse('ECS_AGENT_URI', undefined as string | undefined, 'an http(s) URL', (raw) =>
      /^https?:\/\/\S+$/.test(raw) ? raw.replace(/\/+$/, '') : undefined,
    ),
    temporalCliPath: read('TEMPORAL_CLI_PATH'),
    temporalTestServerPath: read('TEMPORAL_TEST_SERVER_PATH'),
  };

  if (problems.length > 0) throw new ConfigError(problems);
  return Object.freeze(config);
}

/** Variables every agent process gets when the worker has them: enough for a shell, git, TLS and proxies. */
export const AGENT_BASE_ENV = [
  'PATH',
  'HOME',
  'USER',
  'LOGNAME',
  'SHELL',
  'LANG',
  'LANGUAGE',
  'TZ',
  'TMPDIR',
  'SSL_CERT_FILE',
  'SSL_CERT_DIR',
  'NODE_EXTRA_CA_CERTS',
  'HTTP_PROXY',
  'HTTPS_PROXY',
  'NO_PROXY',
  'http_proxy',
  'https_proxy',
  'no_proxy',
  'IS_SANDBOX',
] as const;

/** Prefixes of the agents' own variables (API keys, base URLs, CLI settings), passed through as they are. */
export const AGENT_ENV_PREFIXES = ['LC_', 'ANTHROPIC_', 'CLAUDE_', 'GEMINI_', 'GOOGLE_', 'OPENAI_', 'CODEX_'] as const;

/**
 * The environment of agent processes: the base variables, every variable with an agent prefix, and the
 * operator's extra names (`NAME` or `PREFIX*`). Everything else the worker has (database URLs, Temporal
 * keys, cloud credentials) stays out of reach of the agent and of the shells it starts.
 */
export function agentEnvironment(env: Env, passthrough: readonly string[] = []): Record<string, string> {
  const exact = new Set<string>([...AGENT_BASE_ENV, ...passthrough.filter((n) => !n.endsWith('*'))]);
  const prefixes = [...AGENT_ENV_PREFIXES, ...passthrough.filter((n) => n.endsWith('*')).map((n) => n.slice(0, -1))];
  const out: Record<string, string> = {};
  for (const [name, value] of Object.entries(env)) {
    if (value === undefined) continue;
    if (exact.has(name) || prefixes.some((p) => name.startsWith(p))) out[name] = value;
  }
  return out;
}

/**
 * The payload keys: CLAUDOMATOR_ENCRYPTION_KEYS, else the key file in the data dir (written by
 * `claudomator up`, one `<id>:<base64>` per line), else none. Problems are added to `problems`; they
 * name a key by its id or position, never by its material.
 */
export function readEncryptionKeys(
  raw: string | undefined,
  dataDir: string,
  problems: ConfigProblem[],
): Pick<Config['encryption'], 'keys' | 'keySource'> {
  const file = path.join(dataDir, ENCRYPTION_KEY_FILE);
  let variable = 'CLAUDOMATOR_ENCRYPTION_KEYS';
  let text = raw;
  if (text === undefined) {
    let mode: number;
    try {
      mode = statSync(file).mode;
    } catch {
      return { keys: [], keySource: undefined };
    }
    variable = `CLAUDOMATOR_ENCRYPTION_KEYS (unset, so read from ${file})`;
    if (process.platform !== 'win32' && (mode & 0o077) !== 0) {
      problems.push({
        variable,
        expected: `a key file only its owner can read (chmod 600 ${file})`,
        got: `mode ${(mode & 0o777).toString(8)}`,
      });
      return { keys: [], keySource: file };
    }
    text = readFileSync(file, 'utf8');
  }
  const entries = text
    .split('\n')
    .filter((line) => !line.trim().startsWith('#'))
    .flatMap((line) => line.split(','))
    .map((s) => s.trim())
    .filter((s) => s !== '');
  if (entries.length === 0) problems.push({ variable, expected: 'at least one <id>:<base64 key> entry', got: '' });
  const keys: EncryptionKey[] = [];
  entries.forEach((entry, index) => {
    const match = /^([A-Za-z0-9._-]{1,64}):([A-Za-z0-9+/]+={0,2})$/.exec(entry);
    const key = match ? Buffer.from(match[2]!, 'base64') : undefined;
    if (!match || !key || key.length !== 32 || key.toString('base64') !== match[2]) {
      problems.push({
        variable,
        expected:
          '<id>:<base64 of 32 random bytes> entries, comma-separated, such as "k2:$(openssl rand -base64 32)", ' +
          'the id made of letters, digits, ._- (at most 64)',
        got: `entry ${index + 1}${match ? ` (id ${match[1]})` : ''}`,
      });
      return;
    }
    if (keys.some((k) => k.id === match[1])) {
      problems.push({ variable, expected: 'each key id once', got: match[1] });
      return;
    }
    keys.push({ id: match[1]!, key });
  });
  return { keys, keySource: raw === undefined ? file : 'CLAUDOMATOR_ENCRYPTION_KEYS' };
}

function isAgentType(name: string | undefined): name is AgentType {
  return (AGENT_TYPES as readonly (string | undefined)[]).includes(name);
}
