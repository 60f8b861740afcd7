import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa, type ResultPromise } from 'execa';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import { readFile } from 'node:fs/promises';
import { DockerfileParser } from 'dockerfile-ast';
import { ClaudomatorClient } from '../../client/index.js';
import { ENV_VARS, TEMPORAL_ENV_VARS, loadConfig } from '../../infra/config.js';
import { freePort } from '../../infra/dev-server.js';
import { MIN_WORK_MS, lambdaTiming } from '../../worker/serverless.js';
import { createWorkers } from '../../worker/factory.js';
import { taskWorkflowId } from '../../workflows/definitions.js';
import { ROOT } from '../e2e/cli-process.js';
import { fakeAgentConfig, tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import { asArr, asObj, parseHcl, terraformResources, text, type Obj } from './helpers/infra.js';

const { VersioningBehavior } = proto.temporal.api.enums.v1;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

const RUNTIME = path.join(ROOT, 'test', 'fixtures', 'lambda-runtime.ts');
const HANDLER = path.join(ROOT, 'worker', 'lambda.ts');
const MODULE = path.join(ROOT, 'infra', 'serverless', 'lambda');
const WORKER_VERSION = path.join(MODULE, 'worker-version.sh');
/** CLAUDOMATOR_SHUTDOWN_GRACE of the function: it stops polling 2s + 4s of margins before the deadline. */
const GRACE = '2s';
const STOP_BEFORE_DEADLINE_MS = 6_000;

interface Outcome {
  type: 'ready' | 'init-error' | 'result' | 'error' | 'timeout';
  /** ready: how long the init phase (importing the handler module) took. */
  initMs?: number;
  requestId?: string;
  ms?: number;
  remainingMs?: number;
  errorType?: string;
  errorMessage?: string;
}

/** One Lambda execution environment: worker/lambda.ts loaded by the runtime stand-in, in its own process. */
class LambdaEnvironment {
  private readonly lines: Outcome[] = [];
  private readonly waiting: Array<(o: Outcome) => void> = [];
  logs = '';

  private constructor(readonly child: ResultPromise<{ stdin: 'pipe'; reject: false }>) {
    child.stderr?.on('data', (chunk: Buffer) => (this.logs += chunk.toString()));
    createInterface({ input: child.stdout }).on('line', (line) => {
      const outcome = JSON.parse(line) as Outcome;
      const next = this.waiting.shift();
      if (next) next(outcome);
      else this.lines.push(outcome);
    });
  }

  static start(env: Record<string, string>): LambdaEnvironment {
    return new LambdaEnvironment(
      execa(process.execPath, ['--import', 'tsx', RUNTIME, HANDLER], {
        cwd: ROOT,
        env,
        extendEnv: false,
        stdin: 'pipe',
        reject: false,
      }),
    );
  }

  /** The next line: `ready` or `init-error` first, then one per invocation. */
  next(): Promise<Outcome> {
    const line = this.lines.shift();
    if (line) return Promise.resolve(line);
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  invoke(timeoutMs: number): Promise<Outcome> {
    this.child.stdin.write(`${JSON.stringify({ timeoutMs })}\n`);
    return this.next();
  }

  async stop(): Promise<number | undefined> {
    this.child.stdin.end();
    return (await this.child).exitCode;
  }
}

describe('worker/lambda.ts: the orchestration role as a Lambda handler', () => {
  const db = useTestDatabase();
  let env: TestWorkflowEnvironment;
  let scratch: { dir: string; remove: () => void };
  let taskRoot: string;

  beforeAll(async () => {
    env = await devServerEnv();
    scratch = tempDir('lambda');
    taskRoot = await mkdtemp(path.join(os.tmpdir(), 'claudomator-lambda-root-'));
  });
  afterAll(async () => {
    await env?.teardown();
    scratch?.remove();
    if (taskRoot) await rm(taskRoot, { recursive: true, force: true });
  });

  /** The function's environment, as infra/serverless/lambda sets it (the secrets included). */
  function functionEnv(name: string, extra: Record<string, string> = {}): Record<string, string> {
    return {
      PATH: process.env.PATH ?? '',
      HOME: process.env.HOME ?? os.homedir(),
      LAMBDA_TASK_ROOT: taskRoot,
      AWS_LAMBDA_FUNCTION_NAME: `fn-${name}`,
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: inject('temporalNamespace'),
      DATABASE_URL: db.current.url,
      CLAUDOMATOR_TASK_QUEUE: name,
      CLAUDOMATOR_AGENT_TASK_QUEUE: `${name}-agents`,
      CLAUDOMATOR_POOL_WORKFLOW_ID: `${name}-pool`,
      CLAUDOMATOR_DEPLOYMENT_NAME: `claudomator-${name}`,
      CLAUDOMATOR_BUILD_ID: 'lambda-1',
      CLAUDOMATOR_SHUTDOWN_GRACE: GRACE,
      CLAUDOMATOR_WORKFLOW_BUNDLE: inject('workflowBundlePath'),
      CLAUDOMATOR_DATA_DIR: path.join(scratch.dir, `${name}-data`),
      CLAUDOMATOR_LOG_LEVEL: 'INFO',
      ...extra,
    };
  }

  function workerVersion(command: string, vars: Record<string, string>) {
    return execa('bash', [WORKER_VERSION, command], {
      env: {
        PATH: process.env.PATH ?? '',
        TEMPORAL_CLI_PATH: inject('temporalCliPath'),
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        TEMPORAL_NAMESPACE: inject('temporalNamespace'),
        ...vars,
      },
      extendEnv: false,
      reject: false,
      all: true,
    });
  }

  async function history(workflowId: string): Promise<HistoryEvent[]> {
    return (await env.client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  }

  /** Identities of the workers that completed workflow tasks of `events`. */
  const workflowTaskIdentities = (events: HistoryEvent[]): Set<string> =>
    new Set(events.map((e) => e.workflowTaskCompletedEventAttributes?.identity).filter((i): i is string => !!i));

  const activityEvents = (events: HistoryEvent[], type: string, kind: 'scheduled' | 'completed'): HistoryEvent[] => {
    const scheduled = events.filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === type);
    if (kind === 'scheduled') return scheduled;
    const ids = new Set(scheduled.map((e) => String(e.eventId)));
    return events.filter(
      (e) =>
        e.activityTaskCompletedEventAttributes &&
        ids.has(String(e.activityTaskCompletedEventAttributes.scheduledEventId)),
    );
  };

  it('takes waiting work as far as it can before the deadline, stops cleanly, and the next invocation finishes it', async () => {
    const name = uniqueName('lambda task');
    const fnEnv = functionEnv(name);
    const deploymentName = fnEnv.CLAUDOMATOR_DEPLOYMENT_NAME!;

    // Deploy order: the build is made current before any worker of it exists (Temporal would invoke it).
    const current = await workerVersion('current', { DEPLOYMENT_NAME: deploymentName, BUILD_ID: 'lambda-1' });
    expect(current.exitCode, current.all).toBe(0);

    const config = fakeAgentConfig({
      dataDir: path.join(scratch.dir, `${name}-host`),
      stateDir: path.join(scratch.dir, `${name}-state`),
      scenario: 'success',
      env: {
        TEMPORAL_ADDRESS: inject('temporalAddress'),
        CLAUDOMATOR_TASK_QUEUE: name,
        CLAUDOMATOR_AGENT_TASK_QUEUE: `${name}-agents`,
        CLAUDOMATOR_POOL_WORKFLOW_ID: `${name}-pool`,
        CLAUDOMATOR_AGENT_HEARTBEAT_TIMEOUT: '10s',
        CLAUDOMATOR_SHUTDOWN_GRACE: GRACE,
      },
    });
    const client = new ClaudomatorClient(env.client, db.current.store, config);
    const [task] = await client.submitTasks({
      id: `${name}-t`,
      name: 'Work for a Lambda',
      instructions: 'Do the work [scenario:success]',
    });
    const workflowId = taskWorkflowId(task!.id);
    // Nothing polls the orchestration queue: the workflow waits for its first workflow task.
    expect(workflowTaskIdentities(await history(workflowId)).size).toBe(0);

    const lambda = LambdaEnvironment.start(fnEnv);
    let agentHost: Awaited<ReturnType<typeof createWorkers>> = [];
    let agentRuns: Array<Promise<void>> = [];
    try {
      expect(await lambda.next(), lambda.logs).toMatchObject({ type: 'ready' });

      // Invocation 1: no agent host yet, so the task gets as far as its agent run and waits there.
      const first = await lambda.invoke(20_000);
      expect(first, lambda.logs).toMatchObject({ type: 'result' });
      // Before the deadline, with most of the margin kept for stopping: the polling window is measured
      // once the worker exists, so starting it (seconds on a busy machine) does not eat the margin.
      expect(first.remainingMs, `returned before the deadline\n${lambda.logs}`).toBeGreaterThan(2_000);
      // It polled until its stop point, then stopped within the time it keeps for stopping.
      expect(first.ms).toBeGreaterThanOrEqual(20_000 - STOP_BEFORE_DEADLINE_MS - 500);
      const afterFirst = await history(workflowId);
      const firstIdentity = `${first.requestId}@`;
      expect([...workflowTaskIdentities(afterFirst)].every((i) => i.startsWith(firstIdentity))).toBe(true);
      expect(activityEvents(afterFirst, 'runAgent', 'scheduled')).toHaveLength(1);
      expect((await client.getTask(task!.id)).task.state).toMatch(/^(QUEUED|RUNNING)$/);

      const described = await env.client.workflow.getHandle(workflowId).describe();
      const runId = described.runId;
      expect(described.raw.workflowExecutionInfo?.versioningInfo).toMatchObject({
        behavior: VersioningBehavior.VERSIONING_BEHAVIOR_PINNED,
        deploymentVersion: { deploymentName, buildId: 'lambda-1' },
      });
      // The function started the pool (ensureAgentPool) with the AUTO_UPGRADE override of versioned workers.
      const pool = await env.client.workflow.getHandle(`${name}-pool`).describe();
      expect(pool.raw.workflowExecutionInfo?.versioningInfo?.versioningOverride?.autoUpgrade).toBe(true);

      // Between invocations the agent host (long-lived, unversioned) runs the agent; the workflow task
      // that follows waits: no orchestration worker polls now.
      agentHost = await createWorkers({
        role: 'agents',
        config,
        connection: env.nativeConnection,
        store: db.current.store,
      });
      agentRuns = agentHost.map(({ worker }) => worker.run());
      await waitFor(
        'the agent run to complete',
        async () => activityEvents(await history(workflowId), 'runAgent', 'completed').length > 0,
        60_000,
      );
      expect((await client.getTask(task!.id)).task.state).toBe('RUNNING');

      // Invocation 2 continues the same run to the end, and again stops before its deadline.
      const [second, done] = await Promise.all([
        lambda.invoke(20_000),
        client.waitForTask(task!.id, { timeoutMs: 20_000 }),
      ]);
      expect(second, lambda.logs).toMatchObject({ type: 'result' });
      expect(second.remainingMs, `returned before the deadline\n${lambda.logs}`).toBeGreaterThan(2_000);
      expect(done.state).toBe('READY');
      const handle = env.client.workflow.getHandle(workflowId);
      expect((await handle.describe()).runId).toBe(runId);
      const identities = [...workflowTaskIdentities(await history(workflowId))];
      expect(identities.some((i) => i.startsWith(`${second.requestId}@`))).toBe(true);
      expect(identities.every((i) => i.startsWith(firstIdentity) || i.startsWith(`${second.requestId}@`))).toBe(true);

      expect(lambda.logs).toMatch(/Lambda invocation finished/);
      expect(await lambda.stop()).toBe(0);
    } finally {
      lambda.child.kill('SIGKILL');
      for (const { worker } of agentHost) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(agentRuns);
    }
  });

  it('refuses to start without what a Lambda needs, naming each variable', async () => {
    const name = uniqueName('lambda init');
    const cases: Array<[Record<string, string>, RegExp[]]> = [
      [
        { CLAUDOMATOR_BUILD_ID: '', DATABASE_URL: '' },
        [/CLAUDOMATOR_BUILD_ID: expected the build id/, /DATABASE_URL: expected the postgres:\/\/ URL/],
      ],
      [{ CLAUDOMATOR_WORKER_ROLE: 'agents' }, [/CLAUDOMATOR_WORKER_ROLE: expected orchestration or unset/]],
      [{ CLAUDOMATOR_SHUTDOWN_GRACE: 'soon' }, [/CLAUDOMATOR_SHUTDOWN_GRACE: expected a duration/]],
      [
        { CLAUDOMATOR_WORKFLOW_BUNDLE: path.join(scratch.dir, 'missing-bundle.js') },
        [/missing-bundle\.js \(CLAUDOMATOR_WORKFLOW_BUNDLE\) does not exist; run npm run build/],
      ],
    ];
    await Promise.all(
      cases.map(async ([extra, messages]) => {
        const lambda = LambdaEnvironment.start(functionEnv(name, extra));
        const init = await lambda.next();
        expect(init.type, lambda.logs).toBe('init-error');
        for (const message of messages) expect(init.errorMessage).toMatch(message);
        expect(await lambda.stop()).toBe(1);
      }),
    );
  });

  it('fails an invocation at once when its deadline leaves no time to work, or the database or Temporal is unreachable', async () => {
    const name = uniqueName('lambda fail');
    const unreachable = `postgres://postgres@127.0.0.1:${await freePort()}/claudomator`;
    const lambda = LambdaEnvironment.start(functionEnv(name, { DATABASE_URL: unreachable }));
    try {
      expect(await lambda.next(), lambda.logs).toMatchObject({ type: 'ready' });

      const short = await lambda.invoke(STOP_BEFORE_DEADLINE_MS + 500);
      expect(short.type).toBe('error');
      expect(short.errorMessage).toMatch(
        /must stop 6000ms before the deadline .*raise the function's timeout or lower CLAUDOMATOR_SHUTDOWN_GRACE/,
      );
      expect(short.ms).toBeLessThan(500);

      const noDatabase = await lambda.invoke(20_000);
      expect(noDatabase).toMatchObject({ type: 'error', errorType: 'DatabaseUnreachableError' });
      expect(noDatabase.errorMessage).toMatch(/Cannot reach Postgres at .*point DATABASE_URL at a reachable server/);
      expect(noDatabase.ms).toBeLessThan(6_000);

      // Neither invocation polled: nothing of this function ever reached the task queue.
      const pollers = await env.client.workflowService.describeTaskQueue({
        namespace: env.namespace ?? 'default',
        taskQueue: { name },
        taskQueueType: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
      });
      expect(pollers.pollers ?? []).toEqual([]);
      expect(await lambda.stop()).toBe(0);
    } finally {
      lambda.child.kill('SIGKILL');
    }

    const noTemporalAddress = `127.0.0.1:${await freePort()}`;
    const noTemporal = LambdaEnvironment.start(functionEnv(name, { TEMPORAL_ADDRESS: noTemporalAddress }));
    try {
      expect(await noTemporal.next(), noTemporal.logs).toMatchObject({ type: 'ready' });
      const failed = await noTemporal.invoke(20_000);
      expect(failed.type, noTemporal.logs).toBe('error');
      expect(failed.errorMessage).toContain(`Cannot reach Temporal at ${noTemporalAddress}`);
      expect(failed.errorMessage).toContain('Check TEMPORAL_ADDRESS');
      expect(failed.remainingMs).toBeGreaterThan(0);
      expect(await noTemporal.stop()).toBe(0);
    } finally {
      noTemporal.child.kill('SIGKILL');
    }
  });

  it('worker-version.sh registers a version only with its compute config, and says what is missing', async () => {
    const name = uniqueName('lambda version');
    const deploymentName = `claudomator-${name}`;
    const vars = {
      DEPLOYMENT_NAME: deploymentName,
      BUILD_ID: 'lambda-2',
      FUNCTION_ARN: 'arn:aws:lambda:us-east-1:123456789012:function:claudomator-orchestration:7',
      INVOKE_ROLE_ARN: 'arn:aws:iam::123456789012:role/claudomator-orchestration-temporal-invoke',
      EXTERNAL_ID: 'claudomator-test',
    };

    // The run's dev server has no compute providers enabled (enabling them makes it call AWS): it
    // takes every flag of create-version and refuses the Lambda compute config. The script stops there.
    const refused = await workerVersion('register', vars);
    expect(refused.exitCode, refused.all).toBe(1);
    expect(refused.all).toContain("Could not instantiate compute provider with type 'aws-lambda'");
    expect(refused.all).toContain(`create-version of ${deploymentName}/lambda-2 failed`);
    const deployment = await env.client.workflowService.describeWorkerDeployment({
      namespace: env.namespace ?? 'default',
      deploymentName,
    });
    // The deployment was created; no version of it exists, and none is current.
    expect(deployment.workerDeploymentInfo?.versionSummaries ?? []).toEqual([]);
    expect(deployment.workerDeploymentInfo?.routingConfig?.currentDeploymentVersion?.buildId ?? '').toBe('');

    const { FUNCTION_ARN: _omitted, ...withoutFunction } = vars;
    const missing = await workerVersion('register', withoutFunction);
    expect(missing.exitCode).toBe(2);
    expect(missing.all).toMatch(/FUNCTION_ARN is not set and `terraform output function_version_arn` has no value/);

    const usage = await workerVersion('promote', vars);
    expect(usage.exitCode).toBe(2);
    expect(usage.all).toMatch(/usage: .* register\|current/);
  });

  it('infra/serverless/lambda deploys this handler, with the variables it needs and its secrets from Secrets Manager', async () => {
    const files = ['main.tf', 'variables.tf', 'outputs.tf'].map((f) => path.join(MODULE, f));
    const parsed = await parseHcl(files);
    for (const [file, result] of parsed) expect(result.error, file).toBeUndefined();
    const [main, variables, outputs] = files.map((f) => asObj(parsed.get(f)?.ok));
    const resources = new Map(terraformResources(main!).map(([type, name, body]) => [`${type}.${name}`, body]));
    const fn = resources.get('aws_lambda_function.orchestration')!;

    // The handler string names worker/lambda.ts's export, in the image and in the function.
    const command = asArr(asObj(asArr(fn.image_config)[0]).command);
    expect(command).toEqual(['dist/worker/lambda.handler']);
    expect(await readFile(path.join(ROOT, 'worker', 'lambda.ts'), 'utf8')).toMatch(/^export const handler\b/m);
    const dockerfile = DockerfileParser.parse(await readFile(path.join(MODULE, 'Dockerfile'), 'utf8'));
    expect(dockerfile.getCMDs().at(-1)?.getArgumentsContent()).toBe('["dist/worker/lambda.handler"]');
    expect(fn.publish, 'a published version per build').toBe(true);

    const envVars = asObj(asObj(asArr(fn.environment)[0]).variables);
    const known = new Set<string>([...Object.keys(ENV_VARS), ...TEMPORAL_ENV_VARS, 'HOME']);
    expect(Object.keys(envVars).filter((name) => !known.has(name))).toEqual([]);
    for (const name of [
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_API_KEY',
      'DATABASE_URL',
      'CLAUDOMATOR_BUILD_ID',
      'CLAUDOMATOR_DEPLOYMENT_NAME',
      'CLAUDOMATOR_TASK_QUEUE',
      'CLAUDOMATOR_AGENT_TASK_QUEUE',
      'CLAUDOMATOR_SHUTDOWN_GRACE',
    ]) {
      expect(envVars[name], `environment ${name}`).toBeDefined();
    }
    expect(envVars.DATABASE_URL).toBe('${data.aws_secretsmanager_secret_version.database_url.secret_string}');
    expect(envVars.TEMPORAL_API_KEY).toBe('${data.aws_secretsmanager_secret_version.temporal_api_key.secret_string}');

    // Every allowed timeout leaves the worker time to poll with the default grace.
    const variable = (name: string): Obj => asObj(asObj(asArr(variables!.variable).find((v) => asObj(v)[name]))[name]);
    const grace = loadConfig({ CLAUDOMATOR_SHUTDOWN_GRACE: text(variable('shutdown_grace').default) }).shutdownGraceMs;
    const minTimeout = Number(
      /var\.timeout_seconds >= (\d+)/.exec(
        text(asObj(asArr(variable('timeout_seconds').validation)[0]).condition),
      )?.[1],
    );
    expect(minTimeout * 1000 - lambdaTiming({ shutdownGraceMs: grace }).stopBeforeDeadlineMs).toBeGreaterThanOrEqual(
      MIN_WORK_MS,
    );

    // Temporal's role: assumable only with the external id; may invoke every version of this function only.
    const data = new Map(
      asArr(main!.data).flatMap((group) =>
        Object.entries(asObj(group)).flatMap(([type, byName]) =>
          Object.entries(asObj(byName)).map(([name, body]) => [`${type}.${name}`, asObj(body)] as const),
        ),
      ),
    );
    const trust = asObj(asArr(data.get('aws_iam_policy_document.temporal_assume')?.statement)[0]);
    expect(asArr(trust.condition)).toEqual([
      { test: 'StringEquals', variable: 'sts:ExternalId', values: ['${var.external_id}'] },
    ]);
    const invoke = asObj(asArr(data.get('aws_iam_policy_document.temporal_invoke')?.statement)[0]);
    expect(invoke.actions).toEqual(['lambda:InvokeFunction', 'lambda:GetFunction']);
    expect(invoke.resources).toEqual([
      '${aws_lambda_function.orchestration.arn}',
      '${aws_lambda_function.orchestration.arn}:*',
    ]);

    // terraform apply hands worker-version.sh every input it reads, and each output it falls back to exists.
    const script = await readFile(WORKER_VERSION, 'utf8');
    const inputs = [...script.matchAll(/\$\(input (\w+) (\w+)\)/g)].map((m) => [m[1]!, m[2]!] as const);
    expect(inputs.length).toBeGreaterThanOrEqual(5);
    const exec = asObj(
      asObj(asArr(resources.get('terraform_data.worker_deployment_version')?.provisioner)[0])['local-exec'],
    );
    expect(text(exec.command)).toBe('${path.module}/worker-version.sh register');
    const outputNames = new Set(asArr(outputs!.output).flatMap((o) => Object.keys(asObj(o))));
    for (const [variableName, outputName] of inputs) {
      expect(asObj(exec.environment)[variableName], `local-exec environment ${variableName}`).toBeDefined();
      expect(outputNames.has(outputName), `output ${outputName}`).toBe(true);
    }
  });
});
