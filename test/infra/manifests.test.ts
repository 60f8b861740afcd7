/**
 * Everything under infra/ that can be checked without a cluster or a Docker engine: the Kustomize
 * overlays render and validate against the Kubernetes schemas (strict) and KEDA's CRD schemas; the
 * Terraform parses and registers exactly claudomator's search attributes; the Helm values and the
 * compose file parse and reference only pinned or locally built images; every environment variable
 * named in infra/ is one that infra/config.ts knows (or is on the commented allow-lists below) and
 * every worker role gets the variables it needs; the Dockerfile is multi-stage, non-root, pinned.
 * Failures name the file (or rendered overlay), the resource and the field.
 */
import { readFileSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { DockerfileParser } from 'dockerfile-ast';
import ms from 'ms';
import { beforeAll, describe, expect, it } from 'vitest';
import { ENV_VARS, TEMPORAL_ENV_VARS } from '../../infra/config.js';
import { SEARCH_ATTRIBUTES } from '../../workflows/definitions.js';
import {
  CRDS,
  INFRA,
  KEDA_API,
  ROOT,
  asArr,
  asObj,
  asStr,
  findKey,
  helmTemplate,
  hclFormat,
  hclParse,
  infraTool,
  isObj,
  kindOf,
  kustomize,
  listFiles,
  parseHcl,
  readYaml,
  rel,
  runTool,
  schemaProblems,
  text,
  terraformResources,
  validateBuiltins,
  validateCustomResources,
  validateKeda,
  type Obj,
  type ProviderSchema,
  type Render,
} from './helpers/infra.js';

// ---- What the configuration module knows, and the commented exceptions ------------------------

const CLAUDOMATOR_VARS = new Set<string>([...Object.keys(ENV_VARS), ...TEMPORAL_ENV_VARS]);

/** Agent credentials: not claudomator's settings; the agent runner passes them to the agent CLIs. */
const AGENT_CREDENTIALS = new Set(['ANTHROPIC_API_KEY', 'GEMINI_API_KEY', 'OPENAI_API_KEY', 'CODEX_API_KEY']);

/** Variables that belong to other programs, each with the only place it may appear. */
const FOREIGN_VARS: Record<string, string> = {
  // temporalio/auto-setup (compose): where its Postgres is and which dynamic config it loads.
  DB: 'temporal',
  DB_PORT: 'temporal',
  POSTGRES_USER: 'temporal postgresql',
  POSTGRES_PWD: 'temporal',
  POSTGRES_SEEDS: 'temporal',
  DYNAMIC_CONFIG_FILE_PATH: 'temporal',
  // The postgres image's first-start settings (compose).
  POSTGRES_PASSWORD: 'postgresql',
  POSTGRES_DB: 'postgresql',
  // temporalio/ui (compose): allowed browser origins.
  TEMPORAL_CORS_ORIGINS: 'temporal-ui',
  // The Temporal Cloud Terraform provider's own credential (infra/terraform), not a worker's.
  TEMPORAL_CLOUD_API_KEY: 'terraform',
  // Node's own: production mode in the images.
  NODE_ENV: 'Dockerfile',
  // Shell variables of documented commands (install and release steps), not container settings.
  TEMPORAL_CHART_VERSION: 'comment',
};

/** What each worker role must be given explicitly (defaults would point at localhost or be unsafe). */
const REQUIRED_FOR_ROLE: Record<'orchestration' | 'agents', string[]> = {
  orchestration: [
    'TEMPORAL_ADDRESS',
    'TEMPORAL_NAMESPACE',
    'DATABASE_URL',
    'CLAUDOMATOR_TASK_QUEUE',
    'CLAUDOMATOR_AGENT_TASK_QUEUE',
    'CLAUDOMATOR_SHUTDOWN_GRACE',
    'CLAUDOMATOR_HEALTH_PORT',
    'CLAUDOMATOR_METRICS_PORT',
  ],
  agents: [
    'TEMPORAL_ADDRESS',
    'TEMPORAL_NAMESPACE',
    'DATABASE_URL',
    'CLAUDOMATOR_TASK_QUEUE',
    'CLAUDOMATOR_AGENT_TASK_QUEUE',
    'CLAUDOMATOR_SHUTDOWN_GRACE',
    'CLAUDOMATOR_HEALTH_PORT',
    'CLAUDOMATOR_METRICS_PORT',
    'CLAUDOMATOR_DATA_DIR',
    'CLAUDOMATOR_HOST_ID',
  ],
};

/** Values that must never be inline in a manifest. */
const SECRET_VARS = new Set(['DATABASE_URL', 'TEMPORAL_API_KEY', ...AGENT_CREDENTIALS]);

/** The Kubernetes versions the manifests must be valid for: the oldest supported and the newest. */
const K8S_VERSIONS = ['1.31.0', '1.37.0'];

/** The Temporal scaler's keys in the pinned KEDA (infra/schemas/keda): trigger metadata and `<key>FromEnv`. */
const TEMPORAL_SCALER = JSON.parse(readFileSync(path.join(CRDS, 'keda', 'temporal-scaler-2.20.json'), 'utf8')) as {
  minimumKeda: string;
  triggerMetadata: string[];
  fromEnv: string[];
  deprecated: string[];
};
const TEMPORAL_SCALER_KEYS = new Set([
  ...TEMPORAL_SCALER.triggerMetadata,
  ...TEMPORAL_SCALER.fromEnv.map((k) => `${k}FromEnv`),
]);

/** API groups of the Temporal Worker Controller's kinds (validated against infra/schemas). */
const TEMPORAL_API = 'temporal.io/v1alpha1';

const KUSTOMIZATIONS = [
  'k8s/base',
  'k8s/base/orchestration',
  'k8s/overlays/dev',
  'k8s/overlays/prod',
  'k8s/overlays/prod/orchestration',
  'k8s/overlays/prod/worker-controller',
];

/** The orchestration kustomizations are applied next to these, whose ConfigMap their pods load. */
const APPLIED_WITH: Record<string, string> = {
  'k8s/base/orchestration': 'k8s/base',
  'k8s/overlays/prod/orchestration': 'k8s/overlays/prod',
  'k8s/overlays/prod/worker-controller': 'k8s/overlays/prod',
};

/** Workloads whose pods run a worker: built-in ones and the Worker Controller's. */
const WORKLOAD_KINDS = ['Deployment', 'StatefulSet', 'WorkerDeployment'];

/** The claudomator chart, rendered in both orchestration modes (each check below applies to both). */
const CHART = path.join(INFRA, 'helm', 'claudomator');
const HELM_RENDERS: Record<string, string[]> = {
  'helm/claudomator': [],
  'helm/claudomator (mode deployment)': ['orchestration.mode=deployment', 'orchestration.minReplicas=0'],
};

let rendered: Promise<Map<string, Render>> | undefined;
/** Every kustomization and chart rendered once per run (the builds run in parallel). */
function renderAll(): Promise<Map<string, Render>> {
  rendered ??= Promise.all([
    ...KUSTOMIZATIONS.map((dir) => kustomize(path.join(INFRA, dir))),
    ...Object.entries(HELM_RENDERS).map(([label, sets]) => helmTemplate(CHART, 'claudomator', sets, `infra/${label}`)),
  ]).then((list) => new Map(list.map((r, i) => [[...KUSTOMIZATIONS, ...Object.keys(HELM_RENDERS)][i] ?? '', r])));
  return rendered;
}

// ---- Shared helpers for workloads ---------------------------------------------------------------

interface Container {
  render: string;
  workload: Obj;
  podSpec: Obj;
  container: Obj;
  role: 'orchestration' | 'agents' | undefined;
}

const podSpecOf = (r: Obj): Obj | undefined => {
  const template = asObj(asObj(r.spec).template);
  return isObj(template.spec) ? template.spec : undefined;
};

function workerContainers(render: Render): Container[] {
  const out: Container[] = [];
  for (const workload of render.resources) {
    if (!WORKLOAD_KINDS.includes(asStr(workload.kind) ?? '')) continue;
    const podSpec = podSpecOf(workload);
    if (!podSpec) continue;
    for (const container of asArr(podSpec.containers).filter(isObj)) {
      const args = asArr(container.args).map(String);
      const role = args[0] === 'worker' ? (args[args.indexOf('--role') + 1] as Container['role']) : undefined;
      out.push({ render: render.name, workload, podSpec, container, role });
    }
  }
  return out;
}

/** The variables a container gets: its own env plus the ConfigMaps it loads with envFrom. */
function effectiveEnv(render: Render, container: Obj, companion?: Render): Map<string, Obj> {
  const env = new Map<string, Obj>();
  const resources = [...render.resources, ...(companion?.resources ?? [])];
  for (const from of asArr(container.envFrom).filter(isObj)) {
    const name = asStr(asObj(from.configMapRef).name);
    const configMap = resources.find((r) => r.kind === 'ConfigMap' && asObj(r.metadata).name === name);
    for (const [key, value] of Object.entries(asObj(configMap?.data))) env.set(key, { name: key, value });
  }
  for (const entry of asArr(container.env).filter(isObj)) env.set(text(entry.name), entry);
  return env;
}

const durationMs = (value: string, where: string): number => {
  const parsed = /^\d+$/.test(value) ? Number(value) : ms(value as ms.StringValue);
  if (typeof parsed !== 'number' || !Number.isFinite(parsed)) throw new Error(`${where}: "${value}" is not a duration`);
  return parsed;
};

const temporalTriggers = (r: Obj): Obj[] =>
  asArr(asObj(r.spec).triggers)
    .filter(isObj)
    .filter((t) => t.type === 'temporal');

/** The ScaledObjects a WorkerResourceTemplate has the Worker Controller render, one per build. */
const templatedScaledObjects = (r: Obj): Obj[] => {
  if (r.kind !== 'WorkerResourceTemplate') return [];
  const spec = asObj(r.spec);
  const template = asObj(spec.template);
  if (template.kind !== 'ScaledObject') return [];
  const ref = asObj(spec.temporalWorkerDeploymentRef ?? spec.workerDeploymentRef);
  return [
    { ...template, metadata: { name: `${text(asObj(r.metadata).name)}-<build>`, templatedFor: ref.name ?? null } },
  ];
};

// ---- Kubernetes ---------------------------------------------------------------------------------

describe('Kubernetes manifests', () => {
  const renders = new Map<string, Render>();

  beforeAll(async () => {
    for (const [dir, r] of await renderAll()) renders.set(dir, r);
  });

  const all = (): Render[] => [...renders.values()];
  const render = (dir: string): Render => {
    const r = renders.get(dir);
    if (!r) throw new Error(`${dir} was not rendered`);
    return r;
  };

  it('every overlay renders with kustomize and yields resources', () => {
    for (const r of all()) expect(r.resources.length, `${r.name} renders no resources`).toBeGreaterThan(0);
    expect(render('k8s/overlays/dev').resources.map(kindOf)).toEqual(
      expect.arrayContaining([
        'ConfigMap/claudomator-config',
        'Deployment/claudomator-orchestration',
        'StatefulSet/claudomator-agents',
        'ScaledObject/claudomator-orchestration',
        'ScaledObject/claudomator-agents',
        'PodDisruptionBudget/claudomator-agents',
        'PodDisruptionBudget/claudomator-orchestration',
        'Job/claudomator-migrate',
      ]),
    );
  });

  it('built-in kinds validate strictly against the Kubernetes schemas', async () => {
    const sets = all().map((r) => ({
      label: r.name,
      resources: [
        ...r.resources.filter((x) => x.apiVersion !== KEDA_API && x.apiVersion !== TEMPORAL_API),
        // The pod template a WorkerDeployment embeds is a core/v1 PodTemplateSpec.
        ...r.resources
          .filter((x) => x.kind === 'WorkerDeployment')
          .map((x) => ({
            apiVersion: 'v1',
            kind: 'PodTemplate',
            metadata: { name: `${text(asObj(x.metadata).name)}-template` },
            template: asObj(x.spec).template ?? null,
          })),
      ],
    }));
    const runs = K8S_VERSIONS.map((version) => validateBuiltins(sets, version));
    expect((await Promise.all(runs)).flat()).toEqual([]);
  });

  it('KEDA kinds validate against the KEDA CRD schemas', () => {
    const problems = all().flatMap((r) =>
      [
        ...r.resources,
        // The controller fills in scaleTargetRef per build.
        ...r.resources.flatMap(templatedScaledObjects).map((so): Obj => ({
          ...so,
          spec: { ...asObj(so.spec), scaleTargetRef: { name: `${text(asObj(so.metadata).templatedFor)}-build` } },
        })),
      ]
        .filter((x) => x.apiVersion === KEDA_API)
        .map(validateKeda)
        .filter((p): p is string => p !== undefined)
        .map((p) => `${r.name}: ${p}`),
    );
    expect(problems).toEqual([]);
    expect(all().flatMap((r) => r.resources.filter((x) => x.kind === 'ScaledObject')).length).toBeGreaterThan(0);
  });

  it('Worker Controller kinds validate against the vendored CRDs (infra/schemas)', async () => {
    const custom = all().flatMap((r) => r.resources.filter((x) => x.apiVersion === TEMPORAL_API));
    expect(custom.map(kindOf)).toEqual(
      expect.arrayContaining([
        'Connection/claudomator',
        'WorkerDeployment/claudomator-orchestration',
        'WorkerResourceTemplate/claudomator-orchestration-scaling',
      ]),
    );
    expect(await validateCustomResources(custom)).toEqual([]);
  });

  it('the KEDA minimum stated in the docs and manifests is the version the per-build trigger keys need', async () => {
    const deploy = await readFile(path.join(ROOT, 'docs', 'deploy.md'), 'utf8');
    const stated = [...deploy.matchAll(/KEDA ≥ (\d+\.\d+(?:\.\d+)?)/g)].map((m) => m[1]);
    expect(stated.length).toBeGreaterThan(0);
    for (const version of stated) expect(TEMPORAL_SCALER.minimumKeda.startsWith(version ?? '')).toBe(true);
    const usesBuildKeys = all().some((r) =>
      [...r.resources, ...r.resources.flatMap(templatedScaledObjects)].some((so) =>
        temporalTriggers(so).some((t) => asObj(t.metadata).workerDeploymentBuildId !== undefined),
      ),
    );
    expect(usesBuildKeys, 'the manifests scale per build (workerDeploymentBuildId)').toBe(true);
    for (const file of await listFiles(path.join(INFRA, 'k8s'), ['.yaml'])) {
      for (const m of (await readFile(file, 'utf8')).matchAll(/KEDA >= (\d+\.\d+)/g))
        expect(TEMPORAL_SCALER.minimumKeda.startsWith(m[1] ?? ''), `${rel(file)}: KEDA >= ${m[1] ?? ''}`).toBe(true);
    }
  });

  it('KEDA-owned workloads set no replica count (an apply would reset what KEDA scaled)', () => {
    const problems: string[] = [];
    for (const r of all()) {
      for (const workload of r.resources.filter((x) => WORKLOAD_KINDS.includes(text(x.kind)))) {
        if (asObj(workload.spec).replicas !== undefined)
          problems.push(`${r.name}: ${kindOf(workload)}: spec.replicas is set; KEDA owns it`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('Temporal triggers use only the scaler’s keys, the role’s queue and namespace, and an existing target', () => {
    const problems: string[] = [];
    for (const r of all()) {
      const companion = renders.get(APPLIED_WITH[r.name.replace(/^infra\//, '')] ?? '');
      const config = asObj([...r.resources, ...(companion?.resources ?? [])].find((x) => x.kind === 'ConfigMap')?.data);
      const scaled = [
        ...r.resources.filter((x) => x.kind === 'ScaledObject'),
        ...r.resources.flatMap(templatedScaledObjects),
      ];
      for (const so of scaled) {
        const where = `${r.name}: ${kindOf(so)}`;
        const templated = asObj(so.metadata).templatedFor !== undefined;
        const target = templated
          ? { kind: 'WorkerDeployment', name: asObj(so.metadata).templatedFor }
          : asObj(asObj(so.spec).scaleTargetRef);
        const targetKind = asStr(target.kind) ?? 'Deployment';
        const workload = r.resources.find((x) => x.kind === targetKind && asObj(x.metadata).name === target.name);
        if (!workload)
          problems.push(`${where}: spec.scaleTargetRef names ${targetKind}/${text(target.name)}, not in ${r.name}`);
        const role = targetKind === 'StatefulSet' ? 'agents' : 'orchestration';
        const triggers = temporalTriggers(so);
        if (triggers.length === 0) problems.push(`${where}: spec.triggers has no temporal trigger`);
        for (const [i, trigger] of triggers.entries()) {
          const meta = asObj(trigger.metadata);
          const at = `${where}: spec.triggers[${i}].metadata`;
          for (const key of Object.keys(meta)) {
            if (!TEMPORAL_SCALER_KEYS.has(key)) problems.push(`${at}.${key}: not a key of KEDA's Temporal scaler`);
          }
          if (!meta.endpoint && !meta.endpointFromEnv) problems.push(`${at}: needs endpoint or endpointFromEnv`);
          const queue = role === 'agents' ? 'CLAUDOMATOR_AGENT_TASK_QUEUE' : 'CLAUDOMATOR_TASK_QUEUE';
          if (config[queue] !== undefined && meta.taskQueue !== config[queue]) {
            problems.push(`${at}.taskQueue: "${text(meta.taskQueue)}" is not ${queue} "${text(config[queue])}"`);
          }
          if (templated) {
            // The controller fills in these three per build; it rejects any other value.
            for (const key of ['namespace', 'workerDeploymentName', 'workerDeploymentBuildId']) {
              if (meta[key] !== '') problems.push(`${at}.${key}: must be '' (the Worker Controller sets it per build)`);
            }
            if (Object.keys(asObj(asObj(so.spec).scaleTargetRef)).length > 0)
              problems.push(`${where}: spec.scaleTargetRef must be {} (the Worker Controller sets it per build)`);
          } else if (config.TEMPORAL_NAMESPACE !== undefined && meta.namespace !== config.TEMPORAL_NAMESPACE) {
            problems.push(
              `${at}.namespace: "${text(meta.namespace)}" is not TEMPORAL_NAMESPACE "${text(config.TEMPORAL_NAMESPACE)}"`,
            );
          }
          const types = text(meta.queueTypes ?? 'workflow').split(',');
          const wanted = role === 'agents' ? ['activity'] : ['workflow', 'activity'];
          if (wanted.some((t) => !types.includes(t))) problems.push(`${at}.queueTypes: needs ${wanted.join(',')}`);
          if ((meta.workerDeploymentBuildId === undefined) !== (meta.workerDeploymentName === undefined)) {
            problems.push(
              `${at}: workerDeploymentName and workerDeploymentBuildId go together (KEDA rejects one alone)`,
            );
          }
          for (const key of TEMPORAL_SCALER.deprecated) {
            if (meta[key] !== undefined) problems.push(`${at}.${key}: deprecated in KEDA 2.20, gone in 2.21`);
          }
          if (
            config.TEMPORAL_NAMESPACE !== 'default' &&
            !asObj(trigger.authenticationRef).name &&
            !meta.apiKeyFromEnv
          ) {
            problems.push(`${at}: Temporal Cloud needs authenticationRef (the API key)`);
          }
        }
        const min = Number(asObj(so.spec).minReplicaCount ?? 0);
        if (role === 'agents' && min < 1)
          problems.push(`${where}: spec.minReplicaCount must keep at least one agent host`);
        // Plain per-build Deployments scale to zero (claudomator agents and story show answer from
        // Postgres then); the Worker Controller needs a polling worker per build to register it.
        if (role === 'orchestration' && !templated && min !== 0)
          problems.push(`${where}: spec.minReplicaCount: orchestration scales to zero`);
        if (templated && min < 1)
          problems.push(`${where}: spec.minReplicaCount must be 1 or more under the Worker Controller`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('agent egress is limited by a NetworkPolicy that keeps private ranges and the metadata endpoint out', () => {
    const problems: string[] = [];
    for (const r of all().filter((x) => x.resources.some((y) => y.kind === 'StatefulSet'))) {
      const policy = r.resources.find(
        (x) =>
          x.kind === 'NetworkPolicy' &&
          asObj(asObj(asObj(x.spec).podSelector).matchLabels)['app.kubernetes.io/component'] === 'agents',
      );
      if (!policy) {
        problems.push(`${r.name}: no NetworkPolicy selects the agent hosts`);
        continue;
      }
      const spec = asObj(policy.spec);
      if (!asArr(spec.policyTypes).includes('Egress'))
        problems.push(`${r.name}: ${kindOf(policy)}: policyTypes lacks Egress`);
      for (const rule of asArr(spec.egress).filter(isObj)) {
        for (const peer of asArr(rule.to).filter(isObj)) {
          const block = asObj(peer.ipBlock);
          if (block.cidr === '0.0.0.0/0' && !asArr(block.except).includes('169.254.0.0/16'))
            problems.push(
              `${r.name}: ${kindOf(policy)}: an egress to 0.0.0.0/0 must except 169.254.0.0/16 (cloud metadata)`,
            );
        }
        if (asArr(rule.to).length === 0)
          problems.push(`${r.name}: ${kindOf(policy)}: an egress rule without 'to' allows everything`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('the Worker Controller runs the same orchestration pod as the plain manifests', () => {
    const plain = asObj(render('k8s/base/orchestration').resources.find((x) => x.kind === 'Deployment'));
    const managed = asObj(
      render('k8s/overlays/prod/worker-controller').resources.find((x) => x.kind === 'WorkerDeployment'),
    );
    const podOf = (w: Obj): Obj => {
      const template = structuredClone(asObj(asObj(w.spec).template));
      const container = asObj(asArr(asObj(template.spec).containers)[0]);
      delete container.image;
      return { spec: template.spec ?? null, annotations: asObj(template.metadata).annotations ?? null };
    };
    expect(podOf(managed)).toEqual(podOf(plain));
    const spec = asObj(managed.spec);
    expect(spec.replicas, 'WorkerDeployment spec.replicas: KEDA owns it').toBeUndefined();
    const connection = asObj(
      render('k8s/overlays/prod/worker-controller').resources.find((x) => x.kind === 'Connection'),
    );
    const config = asObj(render('k8s/overlays/prod').resources.find((x) => x.kind === 'ConfigMap')?.data);
    expect(asObj(connection.spec).hostPort, 'Connection spec.hostPort vs TEMPORAL_ADDRESS').toBe(
      config.TEMPORAL_ADDRESS,
    );
    expect(asObj(spec.workerOptions).temporalNamespace, 'workerOptions.temporalNamespace').toBe(
      config.TEMPORAL_NAMESPACE,
    );
    const so = templatedScaledObjects(
      asObj(render('k8s/overlays/prod/worker-controller').resources.find((x) => x.kind === 'WorkerResourceTemplate')),
    )[0];
    expect(asObj(temporalTriggers(asObj(so))[0]?.metadata).endpoint, 'ScaledObject template endpoint').toBe(
      asObj(connection.spec).hostPort,
    );
  });

  it('KEDA reads the backlog with its own key: authenticationRefs name a TriggerAuthentication on a Secret of its own', () => {
    const prodAuth = render('k8s/overlays/prod').resources.filter((x) => x.kind === 'TriggerAuthentication');
    const names = new Set(prodAuth.map((x) => asObj(x.metadata).name));
    const releases = ['k8s/overlays/prod', 'k8s/overlays/prod/orchestration', 'k8s/overlays/prod/worker-controller'];
    const refs = releases
      .map(render)
      .flatMap((r) =>
        [...r.resources.filter((x) => x.kind === 'ScaledObject'), ...r.resources.flatMap(templatedScaledObjects)]
          .flatMap((so) => temporalTriggers(so).map((t) => asStr(asObj(t.authenticationRef).name)))
          .map((name) => ({ render: r.name, name })),
      );
    expect(refs.length).toBeGreaterThanOrEqual(3);
    const problems = refs
      .filter(({ name }) => name === undefined || !names.has(name))
      .map(
        ({ render: r, name }) =>
          `${r}: authenticationRef ${String(name)} is not a TriggerAuthentication of k8s/overlays/prod`,
      );
    expect(problems).toEqual([]);
    for (const auth of prodAuth) {
      const refsOf = asArr(asObj(auth.spec).secretTargetRef).filter(isObj);
      expect(
        refsOf.map((ref) => ref.parameter),
        `${kindOf(auth)}: secretTargetRef.parameter`,
      ).toEqual(['apiKey']);
      for (const ref of refsOf) {
        // The workers' Secret holds a key that may start and signal workflows: KEDA gets its own.
        expect(ref.name, `${kindOf(auth)}: secretTargetRef.name`).not.toBe('claudomator-secrets');
      }
    }
  });

  it('each worker role gets the variables it needs, and the grace periods nest', () => {
    const problems: string[] = [];
    let workers = 0;
    for (const r of all()) {
      for (const { workload, podSpec, container, role } of workerContainers(r)) {
        const where = `${r.name}: ${kindOf(workload)} container ${text(container.name)}`;
        if (role !== 'orchestration' && role !== 'agents') {
          problems.push(`${where}: args must be [worker, --role, orchestration|agents]`);
          continue;
        }
        workers++;
        const env = effectiveEnv(r, container, renders.get(APPLIED_WITH[r.name.replace(/^infra\//, '')] ?? ''));
        for (const name of REQUIRED_FOR_ROLE[role]) {
          if (!env.has(name)) problems.push(`${where}: env ${name} is required for the ${role} role`);
        }
        if (env.has('CLAUDOMATOR_BUILD_ID') && !env.has('CLAUDOMATOR_DEPLOYMENT_NAME')) {
          problems.push(`${where}: env CLAUDOMATOR_BUILD_ID is set without CLAUDOMATOR_DEPLOYMENT_NAME`);
        }
        if (env.get('TEMPORAL_NAMESPACE')?.value !== 'default' && !env.has('TEMPORAL_API_KEY')) {
          problems.push(`${where}: env TEMPORAL_API_KEY is needed for Temporal Cloud`);
        }
        const grace = asStr(env.get('CLAUDOMATOR_SHUTDOWN_GRACE')?.value);
        const termination = Number(podSpec.terminationGracePeriodSeconds ?? 30) * 1000;
        if (grace && durationMs(grace, `${where}: CLAUDOMATOR_SHUTDOWN_GRACE`) + 10_000 > termination) {
          problems.push(
            `${where}: spec.template.spec.terminationGracePeriodSeconds (${termination / 1000}s) must exceed CLAUDOMATOR_SHUTDOWN_GRACE (${grace}) by 10s or more`,
          );
        }
        const ports = new Map(
          asArr(container.ports)
            .filter(isObj)
            .map((p) => [p.name, p.containerPort]),
        );
        if (text(ports.get('health')) !== text(env.get('CLAUDOMATOR_HEALTH_PORT')?.value)) {
          problems.push(`${where}: ports.health is not CLAUDOMATOR_HEALTH_PORT`);
        }
        if (text(ports.get('metrics')) !== text(env.get('CLAUDOMATOR_METRICS_PORT')?.value)) {
          problems.push(`${where}: ports.metrics is not CLAUDOMATOR_METRICS_PORT`);
        }
        for (const probe of ['startupProbe', 'livenessProbe', 'readinessProbe']) {
          const get = asObj(asObj(container[probe]).httpGet);
          const wanted = probe === 'readinessProbe' ? '/readyz' : '/healthz';
          if (get.path !== wanted || get.port !== 'health')
            problems.push(`${where}: ${probe} must GET ${wanted} on port health`);
        }
        if (role === 'agents') {
          // A drain as long as the longest run: scale-in and rollouts never cut one.
          const timeout = asStr(env.get('CLAUDOMATOR_DEFAULT_TIMEOUT')?.value) ?? '2h';
          if (!grace || durationMs(grace, where) < durationMs(timeout, where))
            problems.push(
              `${where}: env CLAUDOMATOR_SHUTDOWN_GRACE (${String(grace)}) must be at least CLAUDOMATOR_DEFAULT_TIMEOUT (${timeout}): a stop would cut runs`,
            );
          // Agents under their own uid: the worker may switch users, and drops every other capability.
          const uid = Number(asStr(env.get('CLAUDOMATOR_AGENT_UID')?.value));
          if (!Number.isInteger(uid) || uid < 1)
            problems.push(`${where}: env CLAUDOMATOR_AGENT_UID must be a non-root uid`);
          const caps = asObj(asObj(container.securityContext).capabilities);
          if (text(caps.drop) !== '["ALL"]') problems.push(`${where}: securityContext.capabilities.drop must be [ALL]`);
          for (const cap of ['SETUID', 'SETGID', 'CHOWN', 'KILL']) {
            if (!asArr(caps.add).includes(cap))
              problems.push(`${where}: securityContext.capabilities.add needs ${cap}`);
          }
          if (asObj(container.securityContext).allowPrivilegeEscalation !== false)
            problems.push(`${where}: securityContext.allowPrivilegeEscalation must be false`);
          if (workload.kind !== 'StatefulSet')
            problems.push(`${where}: agent hosts run as a StatefulSet (stable host id and volume)`);
          const hostId = asObj(asObj(env.get('CLAUDOMATOR_HOST_ID')?.valueFrom).fieldRef).fieldPath;
          if (hostId !== 'metadata.name')
            problems.push(`${where}: env CLAUDOMATOR_HOST_ID must come from fieldRef metadata.name`);
          const dataDir = asStr(env.get('CLAUDOMATOR_DATA_DIR')?.value);
          const mount = asArr(container.volumeMounts)
            .filter(isObj)
            .find((m) => m.mountPath === dataDir);
          const claims = asArr(asObj(workload.spec).volumeClaimTemplates).map((c) => asObj(asObj(c).metadata).name);
          if (!mount || !claims.includes(mount.name)) {
            problems.push(`${where}: CLAUDOMATOR_DATA_DIR (${text(dataDir)}) must be a mount of a volumeClaimTemplate`);
          }
        }
      }
    }
    expect(problems).toEqual([]);
    expect(workers).toBeGreaterThanOrEqual(4);
  });

  it('secrets are referenced from claudomator-secrets, never inlined', () => {
    const problems: string[] = [];
    for (const r of all()) {
      for (const x of r.resources) {
        if (x.kind === 'Secret')
          problems.push(`${r.name}: ${kindOf(x)}: Secrets are created out of band, not rendered`);
        if (x.kind === 'ConfigMap') {
          for (const key of Object.keys(asObj(x.data))) {
            if (SECRET_VARS.has(key)) problems.push(`${r.name}: ${kindOf(x)} data.${key} is a secret`);
          }
        }
      }
      for (const { workload, container } of workerContainers(r)) {
        for (const entry of asArr(container.env).filter(isObj)) {
          const where = `${r.name}: ${kindOf(workload)} env ${text(entry.name)}`;
          if (SECRET_VARS.has(text(entry.name)) && entry.value !== undefined) problems.push(`${where}: inline value`);
          const ref = asObj(asObj(entry.valueFrom).secretKeyRef);
          if (ref.name !== undefined && ref.name !== 'claudomator-secrets')
            problems.push(`${where}: secretKeyRef.name`);
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it('each workload has a PodDisruptionBudget that selects its pods', () => {
    const problems: string[] = [];
    for (const r of all()) {
      const pdbs = r.resources.filter((x) => x.kind === 'PodDisruptionBudget');
      for (const workload of r.resources.filter((x) => WORKLOAD_KINDS.includes(text(x.kind)))) {
        const labels = asObj(asObj(asObj(asObj(workload.spec).template).metadata).labels);
        const covered = pdbs.some((pdb) =>
          Object.entries(asObj(asObj(asObj(pdb.spec).selector).matchLabels)).every(([k, v]) => labels[k] === v),
        );
        if (!covered) problems.push(`${r.name}: ${kindOf(workload)} has no PodDisruptionBudget selecting its pods`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('a versioned release carries one build id in its name, labels, image, worker and KEDA trigger', () => {
    const release = render('k8s/overlays/prod/orchestration');
    const deployment = release.resources.find((x) => x.kind === 'Deployment');
    expect(deployment, `${release.name}: no Deployment`).toBeDefined();
    const d = asObj(deployment);
    const build = asStr(asObj(asObj(asObj(asObj(d.spec).template).metadata).labels)['claudomator.dev/build-id']);
    expect(build, `${release.name}: pod label claudomator.dev/build-id`).toMatch(/^[A-Za-z0-9][\w.-]{0,62}$/);
    const b = text(build);
    const container = asObj(asArr(asObj(podSpecOf(d)).containers)[0]);
    expect(text(container.image), `${release.name}: image tag`).toMatch(new RegExp(`:${b.replaceAll('.', '\\.')}$`));
    expect(text(asObj(d.metadata).name), `${release.name}: metadata.name suffix`).toBe(
      `claudomator-orchestration-${b.toLowerCase().replace(/[^a-z0-9]/g, '-')}`,
    );
    const buildEnv = asArr(container.env)
      .filter(isObj)
      .find((e) => e.name === 'CLAUDOMATOR_BUILD_ID');
    expect(asObj(asObj(buildEnv?.valueFrom).fieldRef).fieldPath, `${release.name}: env CLAUDOMATOR_BUILD_ID`).toBe(
      "metadata.labels['claudomator.dev/build-id']",
    );
    const so = asObj(release.resources.find((x) => x.kind === 'ScaledObject'));
    const meta = asObj(temporalTriggers(so)[0]?.metadata);
    expect(meta.workerDeploymentBuildId, `${release.name}: ScaledObject workerDeploymentBuildId`).toBe(b);
    expect(meta.workerDeploymentName, `${release.name}: ScaledObject workerDeploymentName`).toBe(
      asObj(render('k8s/overlays/prod').resources.find((x) => x.kind === 'ConfigMap')?.data)
        .CLAUDOMATOR_DEPLOYMENT_NAME,
    );
    // The agent hosts roll in place and stay unversioned (docs/decisions/worker-versioning.md).
    for (const r of all()) {
      for (const { workload, container, role } of workerContainers(r)) {
        if (role === 'agents') {
          expect(effectiveEnv(r, container).has('CLAUDOMATOR_BUILD_ID'), `${r.name}: ${kindOf(workload)}`).toBe(false);
        }
      }
    }
  });

  it('the migration Job registers search attributes only where Temporal is self-hosted', () => {
    const initNames = (dir: string): string[] => {
      const job = asObj(render(dir).resources.find((x) => x.kind === 'Job'));
      return asArr(asObj(podSpecOf(job)).initContainers).map((c) => text(asObj(c).name));
    };
    expect(initNames('k8s/overlays/dev')).toEqual(['temporal-setup']);
    expect(initNames('k8s/overlays/prod')).toEqual([]);
    const job = asObj(render('k8s/overlays/prod').resources.find((x) => x.kind === 'Job'));
    expect(asArr(asObj(asArr(asObj(podSpecOf(job)).containers)[0]).args)).toEqual(['migrate']);
  });

  it('the validators reject broken manifests (so a pass means something)', async () => {
    const deployment = asObj(render('k8s/overlays/dev').resources.find((x) => x.kind === 'Deployment'));
    const broken = structuredClone(deployment);
    asObj(podSpecOf(broken)).terminationGracePeriodSecond = 60;
    const errors = await validateBuiltins([{ label: 'broken', resources: [broken] }], K8S_VERSIONS[0] ?? '1.31.0');
    expect(errors.join('\n')).toContain("'terminationGracePeriodSecond' was unexpected");

    const so = structuredClone(asObj(render('k8s/overlays/dev').resources.find((x) => x.kind === 'ScaledObject')));
    asObj(so.spec).minReplicaCount = 'none';
    expect(validateKeda(so)).toContain('minReplicaCount must be integer');

    const wd = structuredClone(
      asObj(render('k8s/overlays/prod/worker-controller').resources.find((x) => x.kind === 'WorkerDeployment')),
    );
    asObj(asObj(wd.spec).rollout).strategy = 'Eventually';
    asObj(asObj(wd.spec).sunset).scaleDownDelay = '1h';
    const crdErrors = (await validateCustomResources([wd])).join('\n');
    expect(crdErrors).toMatch(/spec\.rollout\.strategy: 'Eventually' is not one of/);
    expect(crdErrors).toMatch(
      /spec\.sunset: Additional properties are not allowed \('scaleDownDelay' was unexpected\)/,
    );
    expect(
      await validateCustomResources([{ apiVersion: TEMPORAL_API, kind: 'WorkerPool', metadata: { name: 'x' } }]),
    ).toEqual(['WorkerPool/x: no vendored CRD in infra/schemas for temporal.io/v1alpha1 WorkerPool']);
  });
});

// ---- Environment variables ----------------------------------------------------------------------

describe('environment variables named in infra/', () => {
  it('every CLAUDOMATOR_* / TEMPORAL_* name in infra/ is known to infra/config.ts or explicitly foreign', async () => {
    const files = (await listFiles(INFRA, [''])).filter((f) => !f.endsWith('.ts'));
    const problems: string[] = [];
    for (const file of files) {
      const source = await readFile(file, 'utf8');
      // TEMPORAL_ENV_VARS is infra/config.ts's own list, named in comments that point there.
      for (const match of source.matchAll(/\b(?:CLAUDOMATOR|TEMPORAL)_[A-Z0-9_]*[A-Z0-9]\b/g)) {
        const name = match[0];
        if (!CLAUDOMATOR_VARS.has(name) && !(name in FOREIGN_VARS) && name !== 'TEMPORAL_ENV_VARS') {
          const line = source.slice(0, match.index).split('\n').length;
          problems.push(`${rel(file)}:${line}: ${name} is not in ENV_VARS or TEMPORAL_ENV_VARS (infra/config.ts)`);
        }
      }
    }
    expect(problems).toEqual([]);
    expect(files.length).toBeGreaterThan(10);
  });

  it('every container variable in the Kubernetes renders is claudomator’s or an agent credential', async () => {
    const problems: string[] = [];
    for (const r of (await renderAll()).values()) {
      for (const x of r.resources) {
        const names = [
          ...(x.kind === 'ConfigMap' ? Object.keys(asObj(x.data)) : []),
          ...findKey(x.spec, 'env').flatMap((list) => asArr(list).map((e) => text(asObj(e).name))),
        ];
        for (const name of names) {
          if (!CLAUDOMATOR_VARS.has(name) && !AGENT_CREDENTIALS.has(name))
            problems.push(`${r.name}: ${kindOf(x)}: ${name}`);
        }
      }
    }
    expect(problems).toEqual([]);
  });
});

// ---- Docker compose -----------------------------------------------------------------------------

describe('docker compose', () => {
  const composeFile = path.join(INFRA, 'compose', 'compose.yaml');
  let services: Obj = {};
  let stages: string[] = [];

  beforeAll(async () => {
    const [doc] = await readYaml(composeFile);
    services = asObj(asObj(doc).services);
    const dockerfile = DockerfileParser.parse(await readFile(path.join(INFRA, 'docker', 'Dockerfile'), 'utf8'));
    stages = dockerfile.getFROMs().map((f) => f.getBuildStage() ?? '');
  });

  const CLAUDOMATOR_SERVICES = ['claudomator-setup', 'orchestration', 'agents'];

  it('runs Temporal, its Web UI, Postgres, the one-shot setup and both worker roles', () => {
    expect(Object.keys(services)).toEqual(
      expect.arrayContaining(['postgresql', 'temporal', 'temporal-ui', ...CLAUDOMATOR_SERVICES]),
    );
    const setup = asObj(services['claudomator-setup']);
    expect(asArr(setup.command).map(text).join(' ')).toMatch(/temporal setup && .*migrate/);
    for (const worker of ['orchestration', 'agents']) {
      const dependsOn = asObj(asObj(services[worker]).depends_on);
      expect(asObj(dependsOn['claudomator-setup']).condition, `compose ${worker}.depends_on`).toBe(
        'service_completed_successfully',
      );
    }
  });

  it('uses only images built from this repository or pinned public images', async () => {
    const problems: string[] = [];
    for (const [name, svc] of Object.entries(services).map(([n, s]) => [n, asObj(s)] as const)) {
      const where = `${rel(composeFile)}: services.${name}`;
      const build = asObj(svc.build);
      if (Object.keys(build).length > 0) {
        const dockerfile = path.resolve(path.dirname(composeFile), text(build.context), text(build.dockerfile));
        if (
          !dockerfile.startsWith(ROOT) ||
          !(await readFile(dockerfile).then(
            () => true,
            () => false,
          ))
        ) {
          problems.push(`${where}.build.dockerfile: ${rel(dockerfile)} does not exist in this repository`);
        }
        if (!stages.includes(text(build.target)))
          problems.push(`${where}.build.target: no stage "${text(build.target)}"`);
        if (svc.image !== undefined && !/:local$/.test(text(svc.image)))
          problems.push(`${where}.image: a local build tags :local`);
        continue;
      }
      const image = text(svc.image ?? '');
      const tag = /^[\w./-]+:(?<tag>[\w.-]+)$/.exec(image)?.groups?.tag;
      if (!/@sha256:[0-9a-f]{64}$/.test(image) && (!tag || tag === 'latest' || !/\d/.test(tag))) {
        problems.push(`${where}.image: "${image}" is neither built here nor pinned to a versioned tag or digest`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('names only variables that exist, and gives each worker role what it needs', async () => {
    const problems: string[] = [];
    const source = await readFile(composeFile, 'utf8');
    for (const match of source.matchAll(/\$\{(?<name>[A-Z0-9_]+)/g)) {
      const name = match.groups?.name ?? '';
      if (!AGENT_CREDENTIALS.has(name))
        problems.push(`${rel(composeFile)}: \${${name}} interpolates an unknown variable`);
    }
    for (const [name, svc] of Object.entries(services).map(([n, s]) => [n, asObj(s)] as const)) {
      const env = asObj(svc.environment);
      for (const key of Object.keys(env)) {
        const ok = CLAUDOMATOR_SERVICES.includes(name)
          ? CLAUDOMATOR_VARS.has(key) || AGENT_CREDENTIALS.has(key)
          : key === 'TEMPORAL_ADDRESS' || (FOREIGN_VARS[key]?.split(' ').includes(name) ?? false);
        if (!ok)
          problems.push(`${rel(composeFile)}: services.${name}.environment.${key} is not a variable of that service`);
      }
      const role = asArr(svc.command).map(text)[2] as 'orchestration' | 'agents' | undefined;
      if (role === 'orchestration' || role === 'agents') {
        for (const required of REQUIRED_FOR_ROLE[role]) {
          if (env[required] === undefined)
            problems.push(`${rel(composeFile)}: services.${name}.environment.${required} is required`);
        }
        const grace = durationMs(text(env.CLAUDOMATOR_SHUTDOWN_GRACE), `services.${name}`);
        if (grace + 10_000 > durationMs(text(svc.stop_grace_period), `services.${name}.stop_grace_period`)) {
          problems.push(
            `${rel(composeFile)}: services.${name}.stop_grace_period must exceed CLAUDOMATOR_SHUTDOWN_GRACE by 10s`,
          );
        }
      }
      for (const dep of Object.keys(asObj(svc.depends_on))) {
        if (!(dep in services)) problems.push(`${rel(composeFile)}: services.${name}.depends_on.${dep} does not exist`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('docker compose (the real tool) accepts the file', async () => {
    const result = await runTool(infraTool('docker-compose'), ['-f', composeFile, 'config', '--quiet'], {
      env: { PATH: process.env.PATH ?? '' },
    });
    expect(result.stderr, `docker compose config ${rel(composeFile)}`).toBe('');
    expect(result.code).toBe(0);
  });

  it('docker compose rejects a broken file (so a pass means something)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-compose-'));
    try {
      const broken = path.join(dir, 'compose.yaml');
      const source = await readFile(composeFile, 'utf8');
      await writeFile(broken, source.replace('stop_grace_period: 125m', 'stop_grace_period: when-done'));
      const result = await runTool(infraTool('docker-compose'), ['-f', broken, 'config', '--quiet'], {
        cwd: path.dirname(composeFile),
        env: { PATH: process.env.PATH ?? '' },
      });
      expect(result.code).not.toBe(0);
      expect(result.stderr).toMatch(/stop_grace_period|when-done/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('every YAML file under infra/ parses (Helm templates are checked by helm template)', async () => {
    const templates = path.join(INFRA, 'helm', 'claudomator', 'templates');
    const files = (await listFiles(INFRA, ['.yaml', '.yml'])).filter((f) => !f.startsWith(templates));
    for (const file of files) await expect(readYaml(file), rel(file)).resolves.toBeDefined();
    expect(files.length).toBeGreaterThan(15);
  });
});

// ---- Terraform ----------------------------------------------------------------------------------

/** The modules whose providers have a vendored schema (infra/schemas/terraform), with that schema. */
const SCHEMA_CHECKED: Record<string, string> = {
  terraform: 'temporalcloud.json',
  'serverless/ecs-fargate': 'aws-6.69.1.json',
};

describe('Terraform', () => {
  let files: string[] = [];
  let parsed = new Map<string, { ok?: Obj; error?: string }>();

  beforeAll(async () => {
    files = [
      ...(await listFiles(path.join(INFRA, 'terraform'), ['.tf'])),
      ...(await listFiles(path.join(INFRA, 'serverless'), ['.tf'])),
    ];
    parsed = await parseHcl(files);
  });

  const body = (dir: string): Obj[] =>
    [...parsed.entries()].filter(([f]) => f.startsWith(path.join(INFRA, dir) + path.sep)).map(([, p]) => asObj(p.ok));

  it('every file parses with HashiCorp’s HCL parser', async () => {
    const problems: string[] = [];
    for (const file of files) {
      const result = await hclParse(file, await readFile(file, 'utf8'));
      if (result.error) problems.push(result.error);
    }
    expect(problems).toEqual([]);
    expect(files.length).toBeGreaterThanOrEqual(8);
    // python-hcl2 reads the same files for the structural checks below.
    expect([...parsed.entries()].filter(([, p]) => p.error).map(([f, p]) => `${rel(f)}: ${p.error}`)).toEqual([]);
  });

  it('every file is formatted as terraform fmt formats it', async () => {
    const problems: string[] = [];
    for (const file of files) {
      const source = await readFile(file, 'utf8');
      if ((await hclFormat(source)) !== source) problems.push(`${rel(file)}: not formatted (terraform fmt)`);
    }
    expect(problems).toEqual([]);
  });

  it('the parser and the formatter reject broken Terraform (so a pass means something)', async () => {
    const broken = await hclParse('broken.tf', 'resource "temporalcloud_namespace" "x" {\n  name = \n}\n');
    expect(broken.error).toMatch(/broken\.tf:2,\d+-3,1: Invalid expression/);
    const unformatted = 'resource "aws_ecs_cluster" "x" {\n  name = "a"\n    setting {\n  name="b"\n  }\n}\n';
    expect(await hclFormat(unformatted)).not.toBe(unformatted);
    const result = await parseHcl([path.join(INFRA, 'terraform', 'main.tf')]);
    expect(result.size).toBe(1);
  });

  it('resources use only arguments of the providers’ published schemas (infra/schemas/terraform)', async () => {
    const problems: string[] = [];
    let checked = 0;
    for (const [dir, schemaFile] of Object.entries(SCHEMA_CHECKED)) {
      const schema = JSON.parse(
        await readFile(path.join(INFRA, 'schemas', 'terraform', schemaFile), 'utf8'),
      ) as ProviderSchema;
      const prefix = `${schema.provider.split('/')[1]}_`;
      for (const parsedBody of body(dir)) {
        const blocks: Array<['resources' | 'data', string, string, Obj]> = [
          ...terraformResources(parsedBody).map(
            ([t, n, b]) => ['resources', t, n, b] as ['resources', string, string, Obj],
          ),
          ...terraformResources({ resource: parsedBody.data ?? null }).map(
            ([t, n, b]) => ['data', t, n, b] as ['data', string, string, Obj],
          ),
        ];
        for (const [kind, type, name, b] of blocks) {
          if (!type.startsWith(prefix)) continue;
          const where = `infra/${dir}: ${kind === 'data' ? 'data.' : ''}${type}.${name}`;
          const entry = schema[kind][type];
          if (!entry) {
            problems.push(`${where}: ${type} is not in ${schemaFile} (add it with scripts/vendor-terraform-schema.py)`);
            continue;
          }
          checked++;
          problems.push(...schemaProblems(where, b, entry));
        }
      }
    }
    expect(problems).toEqual([]);
    expect(checked).toBeGreaterThanOrEqual(12);
  });

  it('the schema check catches a misspelled or missing argument (so a pass means something)', async () => {
    const schema = JSON.parse(
      await readFile(path.join(INFRA, 'schemas', 'terraform', 'aws-6.69.1.json'), 'utf8'),
    ) as ProviderSchema;
    const service = schema.resources.aws_ecs_service ?? {};
    const problems = schemaProblems(
      'aws_ecs_service.x',
      { cluster: 'c', desired_cout: 2, network_configuration: [{ subnet: ['s'] }] },
      service,
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        "aws_ecs_service.x.desired_cout: not an argument of the provider's schema",
        "aws_ecs_service.x.network_configuration[0].subnet: not an argument of the provider's schema",
        "aws_ecs_service.x.network_configuration[0].subnets: required by the provider's schema",
        "aws_ecs_service.x.name: required by the provider's schema",
      ]),
    );
  });

  it('the Temporal Cloud namespace registers exactly claudomator’s search attributes; KEDA gets its own read-only key', () => {
    const locals = body('terraform').flatMap((b) => asArr(b.locals).map(asObj));
    const declared = asObj(locals.find((l) => l.search_attributes)?.search_attributes);
    const expected = Object.fromEntries(SEARCH_ATTRIBUTES.map((k) => [k.name, k.type.toLowerCase()]));
    expect(declared, 'infra/terraform/main.tf: locals.search_attributes vs SEARCH_ATTRIBUTES').toEqual(expected);

    const resources = body('terraform').flatMap(terraformResources);
    const ns = resources.find(([type]) => type === 'temporalcloud_namespace')?.[2];
    expect(ns?.api_key_auth, 'temporalcloud_namespace.api_key_auth').toBe(true);
    expect(ns?.retention_days, 'temporalcloud_namespace.retention_days').toBe('${var.retention_days}');
    const sa = resources.find(([type]) => type === 'temporalcloud_namespace_search_attribute')?.[2];
    expect(sa?.for_each, 'temporalcloud_namespace_search_attribute.for_each').toBe('${local.search_attributes}');

    const accounts = new Map(
      resources.filter(([type]) => type === 'temporalcloud_service_account').map(([, name, b]) => [name, b]),
    );
    const permissions = (name: string) => asArr(accounts.get(name)?.namespace_accesses).map((a) => asObj(a).permission);
    expect(permissions('workers'), 'service account workers').toEqual(['write']);
    expect(permissions('keda'), 'service account keda: it only reads backlogs').toEqual(['read']);

    const outputs = Object.assign({}, ...body('terraform').flatMap((b) => asArr(b.output).map(asObj))) as Obj;
    expect(Object.keys(outputs)).toEqual(
      expect.arrayContaining(['temporal_address', 'temporal_namespace', 'temporal_api_key', 'keda_api_key']),
    );
    for (const secret of ['temporal_api_key', 'keda_api_key']) {
      expect(asObj(outputs[secret]).sensitive, `output ${secret}.sensitive`).toBe(true);
    }
  });

  it('the ECS Fargate agent hosts run the agents role with known variables, referenced secrets and a stop that fits Fargate', () => {
    const resources = body('serverless/ecs-fargate').flatMap(terraformResources);
    const taskDefinition = resources.find(([type]) => type === 'aws_ecs_task_definition')?.[2];
    expect(taskDefinition, 'infra/serverless/ecs-fargate: aws_ecs_task_definition').toBeDefined();
    const locals = Object.assign(
      {},
      ...body('serverless/ecs-fargate').flatMap((b) => asArr(b.locals).map(asObj)),
    ) as Obj;
    const environment = asObj(locals.environment);
    const problems: string[] = [];
    for (const name of Object.keys(environment)) {
      if (!CLAUDOMATOR_VARS.has(name)) problems.push(`locals.environment.${name} is not a variable of infra/config.ts`);
    }
    for (const name of REQUIRED_FOR_ROLE.agents) {
      // The host id defaults to the task's hostname, unique per task; secrets come from secret_arns.
      if (name === 'CLAUDOMATOR_HOST_ID' || SECRET_VARS.has(name)) continue;
      if (environment[name] === undefined) problems.push(`locals.environment.${name} is required for agent hosts`);
    }
    for (const name of SECRET_VARS) {
      if (environment[name] !== undefined)
        problems.push(`locals.environment.${name}: a secret, pass it in secret_arns`);
    }
    // Fargate sends SIGKILL at most 120 s after SIGTERM; the worker must cancel (and checkpoint) before.
    const definitions = text(taskDefinition?.container_definitions);
    if (!/stopTimeout\s*=\s*120\b/.test(definitions)) problems.push('container_definitions: stopTimeout must be 120');
    const grace = durationMs(text(environment.CLAUDOMATOR_SHUTDOWN_GRACE), 'CLAUDOMATOR_SHUTDOWN_GRACE');
    if (grace + 10_000 > 120_000)
      problems.push('CLAUDOMATOR_SHUTDOWN_GRACE must end 10 s before Fargate’s 120 s stop timeout');
    if (environment.CLAUDOMATOR_AGENT_UID !== '10001')
      problems.push('CLAUDOMATOR_AGENT_UID must be the image’s agent user');
    if (!/command\s*=\s*\["worker", "--role", "agents"\]/.test(definitions))
      problems.push('container_definitions: command must be [worker, --role, agents]');
    const service = resources.find(([type]) => type === 'aws_ecs_service')?.[2];
    if (service?.deployment_minimum_healthy_percent !== 100)
      problems.push('aws_ecs_service.deployment_minimum_healthy_percent must be 100 (new hosts first)');
    expect(problems).toEqual([]);
  });
});

// ---- Helm ---------------------------------------------------------------------------------------

describe('Helm', () => {
  it('helm template renders the claudomator chart in both modes; the Kubernetes checks above cover the output', async () => {
    const renders = await renderAll();
    const kinds = (label: string) => renders.get(label)?.resources.map(kindOf) ?? [];
    expect(kinds('helm/claudomator')).toEqual(
      expect.arrayContaining([
        'ConfigMap/claudomator-config',
        'StatefulSet/claudomator-agents',
        'ScaledObject/claudomator-agents',
        'PodDisruptionBudget/claudomator-agents',
        'NetworkPolicy/claudomator-agents',
        'TriggerAuthentication/claudomator-keda',
        'Job/claudomator-migrate',
        'Connection/claudomator',
        'WorkerDeployment/claudomator-orchestration',
        'WorkerResourceTemplate/claudomator-orchestration-scaling',
        'PodDisruptionBudget/claudomator-orchestration',
      ]),
    );
    expect(kinds('helm/claudomator (mode deployment)')).toEqual(
      expect.arrayContaining([
        'Deployment/claudomator-orchestration-0-2-0',
        'ScaledObject/claudomator-orchestration-0-2-0',
      ]),
    );
    const lint = await runTool(infraTool('helm'), ['lint', '--strict', CHART]);
    expect(lint.stdout + lint.stderr, 'helm lint --strict').toMatch(/1 chart\(s\) linted, 0 chart\(s\) failed/);
  });

  it('the chart refuses values that cannot work, and a broken value fails validation (so a pass means something)', async () => {
    // values.schema.json: a typo or a wrong type stops helm before it renders anything.
    await expect(helmTemplate(CHART, 'claudomator', ['orchestration.mode=rolling'])).rejects.toThrow(
      /at '\/orchestration\/mode': value must be one of 'workerController', 'deployment'/,
    );
    await expect(helmTemplate(CHART, 'claudomator', ['agents.minReplica=2'])).rejects.toThrow(
      /at '\/agents': additional properties 'minReplica' not allowed/,
    );
    // The templates' own guard.
    await expect(helmTemplate(CHART, 'claudomator', ['orchestration.minReplicas=0'])).rejects.toThrow(
      /minReplicas must be 1 or more with orchestration\.mode=workerController/,
    );
    // A value the schema lets through but the cluster would reject: the rendered output fails validation.
    const broken = await helmTemplate(CHART, 'claudomator', ['orchestration.rollout.strategy=Eventually']);
    const wd = broken.resources.filter((x) => x.kind === 'WorkerDeployment');
    expect((await validateCustomResources(wd)).join('\n')).toMatch(
      /spec\.rollout\.strategy: 'Eventually' is not one of/,
    );
  });
});

// ---- Temporal's official chart ----------------------------------------------------------------

/**
 * Problems of values for the official Temporal chart 1.x: persistence under
 * server.config.persistence.datastores (both stores SQL on Postgres, passwords from existing Secrets),
 * and none of the keys chart 1.x removed (it fails on them).
 */
function temporalValuesProblems(values: Obj, where: string): string[] {
  const problems: string[] = [];
  for (const removed of ['cassandra', 'elasticsearch', 'mysql', 'postgresql', 'prometheus', 'grafana', 'schema']) {
    if (values[removed] !== undefined) problems.push(`${where}: top-level ${removed}: removed in chart 1.x`);
  }
  const persistence = asObj(asObj(asObj(values.server).config).persistence);
  for (const legacy of ['default', 'visibility']) {
    if (persistence[legacy] !== undefined)
      problems.push(`${where}: server.config.persistence.${legacy}: chart 1.x reads persistence.datastores.${legacy}`);
  }
  const stores = asObj(persistence.datastores);
  const databases = new Set<string>();
  for (const [role, store] of [
    ['defaultStore', persistence.defaultStore],
    ['visibilityStore', persistence.visibilityStore],
  ] as const) {
    const sql = asObj(asObj(stores[text(store)]).sql);
    const at = `${where}: server.config.persistence.datastores.${text(store)}.sql`;
    if (store === undefined) {
      problems.push(`${where}: server.config.persistence.${role} is not set`);
      continue;
    }
    if (sql.pluginName !== 'postgres12') problems.push(`${at}.pluginName must be postgres12`);
    if (sql.password !== undefined) problems.push(`${at}.password must not be inline`);
    if (typeof sql.existingSecret !== 'string') problems.push(`${at}.existingSecret: the password's Secret`);
    if (!/^[\w.-]+:\d+$/.test(text(sql.connectAddr))) problems.push(`${at}.connectAddr must be host:port`);
    databases.add(text(sql.databaseName));
  }
  if (databases.size !== 2) problems.push(`${where}: the two stores need two databases`);
  if (!Number.isInteger(persistence.numHistoryShards)) problems.push(`${where}: numHistoryShards must be set`);
  return problems;
}

describe('Temporal’s official chart values', () => {
  const file = path.join(INFRA, 'helm', 'temporal-values.yaml');

  it('use chart 1.x’s layout: both stores on Postgres under datastores, passwords from Secrets, pinned chart', async () => {
    const [values] = await readYaml(file);
    expect(temporalValuesProblems(asObj(values), rel(file))).toEqual([]);
    expect(await readFile(file, 'utf8')).toMatch(/TEMPORAL_CHART_VERSION=\d+\.\d+\.\d+/);
  });

  it('the layout check rejects the 0.x layout the chart no longer reads (so a pass means something)', () => {
    const old = {
      server: { config: { persistence: { default: { driver: 'sql', sql: { host: 'db', password: 'x' } } } } },
      postgresql: { enabled: false },
      schema: { setup: { enabled: true } },
    };
    const problems = temporalValuesProblems(old, 'old-values.yaml').join('\n');
    expect(problems).toMatch(/top-level postgresql: removed in chart 1\.x/);
    expect(problems).toMatch(/top-level schema: removed/);
    expect(problems).toMatch(/persistence\.default: chart 1\.x reads persistence\.datastores\.default/);
    expect(problems).toMatch(/defaultStore is not set/);
  });
});

// ---- Dockerfile ---------------------------------------------------------------------------------

describe('Dockerfile', () => {
  const file = path.join(INFRA, 'docker', 'Dockerfile');

  /** Structural problems of a Dockerfile: multi-stage, pinned bases, non-root targets, git. */
  function dockerfileProblems(text: string, targets: string[]): string[] {
    const problems: string[] = [];
    const dockerfile = DockerfileParser.parse(text);
    const args = new Map(
      dockerfile
        .getInitialARGs()
        .flatMap((a) => a.getProperties())
        .map((p) => [p.getName(), p.getValue() ?? '']),
    );
    const froms = dockerfile.getFROMs();
    if (froms.length < 2)
      problems.push(`${rel(file)}: FROM: expected a multi-stage build, got ${froms.length} stage(s)`);
    const stageNames = froms.map((f) => f.getBuildStage());
    for (const from of froms) {
      const image = (from.getImage() ?? '').replace(/\$\{(\w+)\}/g, (_, n: string) => args.get(n) ?? `\${${n}}`);
      if (stageNames.includes(image)) continue;
      const tag = /:(?<tag>[^:@]+)$/.exec(image)?.groups?.tag ?? '';
      if (!/@sha256:/.test(image) && !/\d+\.\d+\.\d+/.test(tag)) {
        problems.push(
          `${rel(file)}: FROM ${from.getImage() ?? ''} (line ${from.getRange().start.line + 1}): base image not pinned to x.y.z`,
        );
      }
    }
    const stages = dockerfile.getInstructions();
    for (const target of targets) {
      const index = stageNames.indexOf(target);
      if (index < 0) {
        problems.push(`${rel(file)}: no stage "${target}"`);
        continue;
      }
      // The effective USER of a target is the last USER in it or in the stages it is built FROM.
      const chain: string[] = [];
      for (let s: string | undefined = target; s && stageNames.includes(s);) {
        chain.unshift(s);
        s = froms[stageNames.indexOf(s)]?.getImage() ?? undefined;
      }
      const users = stages
        .filter((i) => i.getKeyword() === 'USER')
        .filter((i) =>
          chain.includes(
            froms
              .filter((f) => f.getRange().start.line <= i.getRange().start.line)
              .at(-1)
              ?.getBuildStage() ?? '',
          ),
        );
      const user = users.at(-1)?.getArgumentsContent() ?? 'root';
      if (/^(root|0)(:|$)/.test(user))
        problems.push(`${rel(file)}: stage ${target}: USER is ${user}, must be non-root`);
    }
    const runs = stages.filter((i) => i.getKeyword() === 'RUN').map((i) => i.getArgumentsContent() ?? '');
    if (!runs.some((r) => /apt-get install[^&]*\bgit\b/.test(r)))
      problems.push(`${rel(file)}: RUN: git is not installed`);
    return problems;
  }

  it('is multi-stage, with pinned bases, non-root runtime targets and git', async () => {
    expect(dockerfileProblems(await readFile(file, 'utf8'), ['orchestration', 'agents'])).toEqual([]);
  });

  it('pins the agent CLIs, claude-code at the version the tests drive', async () => {
    const source = await readFile(file, 'utf8');
    const dockerfile = DockerfileParser.parse(source);
    const args = new Map(
      dockerfile
        .getARGs()
        .flatMap((a) => a.getProperties())
        .map((p) => [p.getName(), p.getValue() ?? '']),
    );
    for (const name of ['CLAUDE_CODE_VERSION', 'GEMINI_CLI_VERSION', 'CODEX_VERSION']) {
      expect(args.get(name), `${rel(file)}: ARG ${name}`).toMatch(/^\d+\.\d+\.\d+$/);
    }
    for (const pkg of ['@anthropic-ai/claude-code', '@google/gemini-cli', '@openai/codex']) {
      expect(source, `${rel(file)}: npm install of ${pkg}`).toMatch(new RegExp(`"${pkg}@\\$\\{\\w+_VERSION\\}"`));
    }
    const lock = JSON.parse(await readFile(path.join(ROOT, 'package-lock.json'), 'utf8')) as Obj;
    const locked = (pkg: string) => asObj(asObj(lock.packages)[`node_modules/${pkg}`]).version;
    expect(args.get('CLAUDE_CODE_VERSION'), 'ARG CLAUDE_CODE_VERSION vs package-lock.json').toBe(
      locked('@anthropic-ai/claude-code'),
    );
    expect(args.get('GEMINI_CLI_VERSION'), 'ARG GEMINI_CLI_VERSION vs package-lock.json').toBe(
      locked('@google/gemini-cli'),
    );
    expect(args.get('CODEX_VERSION'), 'ARG CODEX_VERSION vs package-lock.json').toBe(locked('@openai/codex'));
  });

  it('hadolint (the real linter) passes the Dockerfile', async () => {
    const result = await runTool(infraTool('hadolint'), [file]);
    expect(result.stdout + result.stderr, 'hadolint infra/docker/Dockerfile').toBe('');
    expect(result.code).toBe(0);
  });

  it('hadolint fails a broken Dockerfile (so a pass means something)', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-hadolint-'));
    try {
      const broken = path.join(dir, 'Dockerfile');
      await writeFile(broken, 'FROM node:latest\nRUN cd /app && npm ci\n');
      const result = await runTool(infraTool('hadolint'), [broken]);
      expect(result.code).not.toBe(0);
      expect(result.stdout).toMatch(/DL3007/); // the latest tag
      expect(result.stdout).toMatch(/DL3003/); // cd instead of WORKDIR
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('the agents image has the agent user the manifests run agents as, and git trusts its checkouts', async () => {
    const source = await readFile(file, 'utf8');
    expect(source).toMatch(/useradd --uid 10001 --gid 10001 /);
    expect(source).toMatch(/git config --system --add safe\.directory '\*'/);
    const uids = new Set<string>();
    for (const r of (await renderAll()).values()) {
      for (const { container, role } of workerContainers(r)) {
        if (role !== 'agents') continue;
        const uid = asArr(container.env)
          .filter(isObj)
          .find((e) => e.name === 'CLAUDOMATOR_AGENT_UID')?.value;
        uids.add(text(uid));
      }
    }
    expect([...uids]).toEqual(['10001']);
  });

  it('keeps dependencies, builds and secrets out of the build context', async () => {
    const ignored = (await readFile(path.join(ROOT, '.dockerignore'), 'utf8')).split('\n').map((l) => l.trim());
    for (const entry of ['node_modules', 'dist', '.git', '.tools', '.env']) {
      expect(ignored, `.dockerignore: ${entry}`).toContain(entry);
    }
  });

  it('flags a single-stage root image (so a pass means something)', () => {
    const problems = dockerfileProblems('FROM node:latest AS orchestration\nRUN echo\n', ['orchestration']);
    expect(problems.join('\n')).toMatch(/multi-stage/);
    expect(problems.join('\n')).toMatch(/not pinned/);
    expect(problems.join('\n')).toMatch(/USER is root/);
    expect(problems.join('\n')).toMatch(/git is not installed/);
  });
});
