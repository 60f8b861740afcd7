/**
 * Offline readers and validators for the deployment files under infra/, used by
 * test/infra/manifests.test.ts. Each wraps a maintained tool rather than re-implementing it:
 * kubectl's built-in kustomize renders the overlays, kubernetes-validate (PyPI, the Kubernetes
 * JSON schemas, strict mode) checks built-in kinds, @kubernetes-models/keda (KEDA's CRD schemas
 * as compiled validators) checks KEDA kinds, python-hcl2 parses Terraform and dockerfile-ast
 * parses Dockerfiles. The Python tools are installed by scripts/install-tools.sh into .tools/infra.
 * Every problem is reported as "<file or render>: <resource> <field>: <what is wrong>".
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ScaledObject, TriggerAuthentication } from '@kubernetes-models/keda/keda.sh/v1alpha1';
import { parseAllDocuments } from 'yaml';

const run = promisify(execFile);

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', '..');
export const INFRA = path.join(ROOT, 'infra');
const TOOLS = path.join(ROOT, '.tools', 'infra', 'bin');

export const rel = (file: string): string => path.relative(ROOT, file);

/** A tool from .tools/infra, or an error that says how to get it. */
export function tool(name: 'kubectl' | 'kubernetes-validate' | 'python'): string {
  const file = path.join(TOOLS, name);
  if (!existsSync(file)) {
    throw new Error(`${rel(file)} is missing: run \`bash scripts/install-tools.sh\` (installs the infra validators)`);
  }
  return file;
}

/** Every file under `dir` whose name ends with one of `suffixes`, sorted. */
export async function listFiles(dir: string, suffixes: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() && suffixes.some((s) => entry.name.endsWith(s))) {
      out.push(path.join(entry.parentPath, entry.name));
    }
  }
  return out.sort();
}

// ---- YAML ---------------------------------------------------------------------------------------

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
export type Obj = { [key: string]: Json };

export const isObj = (v: Json | undefined): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);
export const asObj = (v: Json | undefined): Obj => (isObj(v) ? v : {});
export const asArr = (v: Json | undefined): Json[] => (Array.isArray(v) ? v : []);
export const asStr = (v: Json | undefined): string | undefined => (typeof v === 'string' ? v : undefined);
/** A value as text for comparisons and messages: scalars as String() does, structures as JSON. */
export const text = (v: Json | undefined): string =>
  typeof v === 'object' && v !== null ? JSON.stringify(v) : String(v);

/** Parses every document of a YAML stream (merge keys on); a syntax error names the file and line. */
export function parseYamlStream(text: string, source: string): Obj[] {
  const docs = parseAllDocuments(text, { merge: true, prettyErrors: true });
  const out: Obj[] = [];
  for (const doc of docs) {
    if (doc.errors.length > 0) {
      throw new Error(`${source}: invalid YAML: ${doc.errors.map((e) => e.message).join('; ')}`);
    }
    const value = doc.toJS() as Json;
    if (value === null || value === undefined) continue;
    if (!isObj(value)) throw new Error(`${source}: a YAML document is not a mapping`);
    out.push(value);
  }
  return out;
}

export async function readYaml(file: string): Promise<Obj[]> {
  return parseYamlStream(await readFile(file, 'utf8'), rel(file));
}

// ---- Kubernetes ---------------------------------------------------------------------------------

export interface Render {
  /** The kustomization directory, relative to the repository. */
  name: string;
  resources: Obj[];
}

/** `kubectl kustomize <dir>`: the overlay as the cluster would receive it. */
export async function kustomize(dir: string): Promise<Render> {
  const { stdout } = await run(tool('kubectl'), ['kustomize', dir], { maxBuffer: 32 * 1024 * 1024 }).catch(
    (err: Error & { stderr?: string }) => {
      throw new Error(`kustomize build ${rel(dir)} failed: ${err.stderr ?? err.message}`);
    },
  );
  return { name: rel(dir), resources: parseYamlStream(stdout, `kustomize build ${rel(dir)}`) };
}

export const kindOf = (r: Obj): string => `${asStr(r.kind) ?? '?'}/${asStr(asObj(r.metadata).name) ?? '?'}`;

export const KEDA_API = 'keda.sh/v1alpha1';

/**
 * Validates built-in kinds with kubernetes-validate in strict mode (unknown fields are errors, as
 * with the API server's strict field validation) against one Kubernetes version, in one process for
 * all the given sets. Returns one message per invalid resource, prefixed with its set's label; a
 * kind the schemas do not know is reported too.
 */
export async function validateBuiltins(
  sets: { label: string; resources: Obj[] }[],
  version: string,
): Promise<string[]> {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'claudomator-k8s-'));
  try {
    const files = new Map<string, string>();
    for (const [i, set] of sets.entries()) {
      if (set.resources.length === 0) continue;
      const file = path.join(dir, `set-${i}.yaml`);
      await writeFile(file, set.resources.map((r) => JSON.stringify(r)).join('\n---\n'));
      files.set(file, set.label);
    }
    if (files.size === 0) return [];
    const output = await run(tool('kubernetes-validate'), ['--strict', '--quiet', '-k', version, ...files.keys()]).then(
      ({ stdout, stderr }) => stdout + stderr,
      (err: Error & { stdout?: string; stderr?: string }) => `${err.stdout ?? ''}${err.stderr ?? ''}` || err.message,
    );
    return output
      .split('\n')
      .filter((line) => /^(ERROR|WARN)\b/.test(line))
      .map((line) => {
        const file = [...files.keys()].find((f) => line.includes(f));
        const label = file ? (files.get(file) ?? '') : '';
        return `${label} (Kubernetes ${version}): ${line
          .replace(/^(ERROR|WARN)\s+/, '')
          .replace(file ?? '', '')
          .trim()}`;
      });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

/** Validates a KEDA resource against KEDA's CRD schema; undefined when valid. */
export function validateKeda(resource: Obj): string | undefined {
  const kind = asStr(resource.kind);
  try {
    if (kind === 'ScaledObject') new ScaledObject(resource as never).validate();
    else if (kind === 'TriggerAuthentication') new TriggerAuthentication(resource as never).validate();
    else return `${kindOf(resource)}: no KEDA schema for kind ${kind ?? '(none)'}`;
  } catch (err) {
    return `${kindOf(resource)}: ${err instanceof Error ? err.message : String(err)}`;
  }
  return undefined;
}

// ---- Terraform ----------------------------------------------------------------------------------

const HCL_SCRIPT = `
import json, sys, hcl2
from hcl2.utils import SerializationOptions
opts = SerializationOptions(with_comments=False, explicit_blocks=False, strip_string_quotes=True)
out = {}
for name in sys.argv[1:]:
    try:
        with open(name) as f:
            out[name] = {"ok": hcl2.load(f, serialization_options=opts)}
    except Exception as e:
        out[name] = {"error": str(e).strip()}
print(json.dumps(out))
`;

/** Parses Terraform files with python-hcl2: the parsed body, or the parser's error, per file. */
export async function parseHcl(files: string[]): Promise<Map<string, { ok?: Obj; error?: string }>> {
  const { stdout } = await run(tool('python'), ['-c', HCL_SCRIPT, ...files], { maxBuffer: 32 * 1024 * 1024 });
  const parsed = JSON.parse(stdout) as Record<string, { ok?: Obj; error?: string }>;
  return new Map(Object.entries(parsed));
}

/** `resource "type" "name" { … }` blocks of a parsed Terraform file, as [type, name, body]. */
export function terraformResources(parsed: Obj): [string, string, Obj][] {
  const out: [string, string, Obj][] = [];
  for (const group of asArr(parsed.resource)) {
    for (const [type, byName] of Object.entries(asObj(group))) {
      for (const [name, body] of Object.entries(asObj(byName))) out.push([type, name, asObj(body)]);
    }
  }
  return out;
}

/** Every value of `key` anywhere inside `value` (depth first). */
export function findKey(value: Json | undefined, key: string): Json[] {
  const out: Json[] = [];
  const walk = (v: Json | undefined): void => {
    if (Array.isArray(v)) v.forEach(walk);
    else if (isObj(v)) {
      for (const [k, child] of Object.entries(v)) {
        if (k === key) out.push(child);
        walk(child);
      }
    }
  };
  walk(value);
  return out;
}

// ---- Custom resources against vendored CRDs -----------------------------------------------------

export const CRDS = path.join(INFRA, 'schemas');

const CRD_SCRIPT = `
import json, sys, yaml
from jsonschema import Draft7Validator

def strict(node):
    """A CRD's openAPIV3Schema as JSON Schema, with unknown fields rejected (kubectl's strict
    field validation) wherever the CRD neither preserves unknown fields nor declares a map."""
    if isinstance(node, list):
        return [strict(n) for n in node]
    if not isinstance(node, dict):
        return node
    out = {k: strict(v) for k, v in node.items() if k != "nullable" and not k.startswith("x-kubernetes-")}
    if node.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
    if "properties" in node and "additionalProperties" not in node and not node.get("x-kubernetes-preserve-unknown-fields"):
        out["additionalProperties"] = False
    return out

crds, resources = json.loads(sys.argv[1]), json.load(sys.stdin)
schemas = {}
for path in crds:
    with open(path) as f:
        for doc in yaml.safe_load_all(f):
            if not doc:
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                key = spec["group"] + "/" + version["name"] + "/" + spec["names"]["kind"]
                schemas[key] = Draft7Validator(strict(version["schema"]["openAPIV3Schema"]))
out = []
for r in resources:
    key = str(r.get("apiVersion")) + "/" + str(r.get("kind"))
    v = schemas.get(key)
    if v is None:
        out.append([None])
        continue
    out.append(sorted(
        ".".join(str(p) for p in e.absolute_path) + ": " + e.message.split("\\n")[0]
        for e in v.iter_errors(r)
    ))
print(json.dumps(out))
`;

/**
 * Validates custom resources against the vendored CRDs in infra/schemas (jsonschema from .tools/infra,
 * strict about unknown fields). Returns one message per problem; a kind no vendored CRD defines is
 * reported as such.
 */
export async function validateCustomResources(resources: Obj[]): Promise<string[]> {
  const crds = await listFiles(CRDS, ['.yaml']);
  const child = execFile(tool('python'), ['-c', CRD_SCRIPT, JSON.stringify(crds)], { maxBuffer: 32 * 1024 * 1024 });
  const output = new Promise<string>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    child.stdout?.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => (code === 0 ? resolve(stdout) : reject(new Error(`CRD validation failed: ${stderr}`))));
  });
  child.stdin?.end(JSON.stringify(resources));
  const results = JSON.parse(await output) as Array<string[] | [null]>;
  return results.flatMap((errors, i) => {
    const r = resources[i] ?? {};
    if (errors[0] === null)
      return [`${kindOf(r)}: no vendored CRD in infra/schemas for ${text(r.apiVersion)} ${text(r.kind)}`];
    return (errors as string[]).map((e) => `${kindOf(r)}: ${e}`);
  });
}

/** The names a tool binary from .tools/infra/bin answers to. */
export function infraTool(name: 'helm' | 'hadolint' | 'docker-compose'): string {
  const file = path.join(TOOLS, name);
  if (!existsSync(file)) {
    throw new Error(`${rel(file)} is missing: run \`bash scripts/install-tools.sh\` (installs the infra validators)`);
  }
  return file;
}

/** Runs a tool; resolves with its exit code and output instead of throwing on a non-zero exit. */
export async function runTool(
  file: string,
  args: string[],
  options: { cwd?: string; env?: NodeJS.ProcessEnv } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  return run(file, args, { maxBuffer: 64 * 1024 * 1024, ...options }).then(
    ({ stdout, stderr }) => ({ code: 0, stdout, stderr }),
    (err: Error & { code?: number | string; stdout?: string; stderr?: string }) => ({
      code: typeof err.code === 'number' ? err.code : 1,
      stdout: err.stdout ?? '',
      stderr: err.stderr ?? err.message,
    }),
  );
}

// ---- Terraform: HashiCorp's own formatter and parser, and the vendored provider schemas ---------

/**
 * `terraform fmt`'s formatting of `source` (hclwrite.Format from HashiCorp's hcl, built to wasm in
 * @cdktf/hcl-tools), so a check needs no terraform binary.
 */
export async function hclFormat(source: string): Promise<string> {
  const { format } = await import('@cdktf/hcl-tools');
  return format(source);
}

/** Parses with HashiCorp's HCL parser (@cdktf/hcl2json); the parser's error names the file, line and column. */
export async function hclParse(file: string, source: string): Promise<{ ok?: Obj; error?: string }> {
  const { parse } = await import('@cdktf/hcl2json');
  try {
    return { ok: (await parse(rel(file), source)) as Obj };
  } catch (err) {
    return { error: err instanceof Error ? err.message : String(err) };
  }
}

/** A vendored provider schema (infra/schemas/terraform): attribute → required|optional, block → nested. */
export interface ProviderSchema {
  provider: string;
  version: string;
  resources: Record<string, Obj>;
  data: Record<string, Obj>;
}

const META_ARGUMENTS = new Set([
  'count',
  'for_each',
  'depends_on',
  'lifecycle',
  'provider',
  'provisioner',
  'connection',
]);

/**
 * Names in a resource body (as python-hcl2 reads it) that the provider's schema does not have, and
 * required ones that are missing; nested blocks are checked too.
 */
export function schemaProblems(where: string, body: Obj, schema: Obj, meta = true): string[] {
  const problems: string[] = [];
  for (const [key, value] of Object.entries(body)) {
    if (meta && META_ARGUMENTS.has(key)) continue;
    if (key.startsWith('__')) continue;
    const entry = schema[key];
    if (entry === undefined) {
      problems.push(`${where}.${key}: not an argument of the provider's schema`);
      continue;
    }
    if (isObj(entry)) {
      for (const [i, item] of (Array.isArray(value) ? value : [value]).entries()) {
        if (isObj(item)) problems.push(...schemaProblems(`${where}.${key}[${i}]`, item, entry, false));
      }
    }
  }
  for (const [key, entry] of Object.entries(schema)) {
    const required = entry === 'required' || (isObj(entry) && entry.__required__ === true);
    if (required && !(key in body)) problems.push(`${where}.${key}: required by the provider's schema`);
  }
  return problems;
}

// ---- Helm ---------------------------------------------------------------------------------------

/** `helm template <release> <chart>` with `--set` values: the chart as the cluster would receive it. */
export async function helmTemplate(
  chart: string,
  release: string,
  sets: string[] = [],
  label?: string,
): Promise<Render> {
  const args = ['template', release, chart, ...sets.flatMap((s) => ['--set', s])];
  const result = await runTool(infraTool('helm'), args);
  const name = label ?? rel(chart);
  if (result.code !== 0) throw new Error(`helm template ${name} failed: ${result.stderr}`);
  return { name, resources: parseYamlStream(result.stdout, `helm template ${name}`) };
}
