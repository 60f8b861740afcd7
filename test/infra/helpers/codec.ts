/**
 * Fixtures of the payload-encryption tests: keys, a claudomator stack (production worker factory and
 * SDK client) whose queues and directories survive a restart under other keys, and what a history
 * looks like to someone without the keys: its raw bytes and its payloads.
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import type { Payload } from '@temporalio/common';
import proto from '@temporalio/proto';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { inject } from 'vitest';
import { ClaudomatorClient } from '../../../client/index.js';
import type { Config, EncryptionKey } from '../../../infra/config.js';
import { createWorkers, type CreatedWorker } from '../../../worker/factory.js';
import type { TestDatabase } from '../../helpers/db.js';
import { fakeAgentConfig } from '../../helpers/fake-agent.js';

export function newKey(id: string): EncryptionKey {
  return { id, key: randomBytes(32) };
}

/** CLAUDOMATOR_ENCRYPTION_KEYS for these keys, the first one encrypting. */
export function keysVariable(...keys: EncryptionKey[]): string {
  return keys.map((k) => `${k.id}:${k.key.toString('base64')}`).join(',');
}

export interface CodecStack {
  client: ClaudomatorClient;
  config: Readonly<Config>;
  workers: CreatedWorker[];
  stop(): Promise<void>;
}

/**
 * Workers (role all) and an SDK client named `name`, with their data in `dir`: starting it again
 * with the same name and dir is the same deployment restarted, e.g. under rotated keys.
 */
export async function startCodecStack(
  env: TestWorkflowEnvironment,
  db: TestDatabase,
  options: { name: string; dir: string; keys: string; scenario?: string; env?: Record<string, string> },
): Promise<CodecStack> {
  const config = fakeAgentConfig({
    dataDir: path.join(options.dir, 'data'),
    stateDir: path.join(options.dir, 'fake-agent-state'),
    scenario: options.scenario ?? 'success',
    env: {
      TEMPORAL_ADDRESS: inject('temporalAddress'),
      TEMPORAL_NAMESPACE: inject('temporalNamespace'),
      CLAUDOMATOR_TASK_QUEUE: options.name,
      CLAUDOMATOR_AGENT_TASK_QUEUE: `${options.name}-agents`,
      CLAUDOMATOR_POOL_WORKFLOW_ID: `${options.name}-pool`,
      CLAUDOMATOR_HOST_ID: `${options.name}-host`,
      CLAUDOMATOR_AGENT_HEARTBEAT_TIMEOUT: '10s',
      CLAUDOMATOR_SHUTDOWN_GRACE: '2s',
      CLAUDOMATOR_ENCRYPTION_KEYS: options.keys,
      ...options.env,
    },
  });
  const workers = await createWorkers({
    role: 'all',
    config,
    connection: env.nativeConnection,
    store: db.store,
    workflowBundle: { codePath: inject('workflowBundlePath') },
  });
  const runs = workers.map(({ worker }) => worker.run());
  const client = await ClaudomatorClient.connect(config, { databaseUrl: db.url });
  return {
    client,
    config,
    workers,
    async stop() {
      await client.close();
      for (const { worker } of workers) if (worker.getState() === 'RUNNING') worker.shutdown();
      await Promise.allSettled(runs);
    },
  };
}

export interface FoundPayload {
  /** Where it sits in the history, e.g. `events.4.activityTaskScheduledEventAttributes.input.payloads.0`. */
  path: string;
  payload: Payload;
}

/** Every payload of a history (anything with `data` and `metadata.encoding`), search attributes included. */
export function historyPayloads(history: proto.temporal.api.history.v1.IHistory): FoundPayload[] {
  const found: FoundPayload[] = [];
  const walk = (node: unknown, at: string): void => {
    if (node === null || typeof node !== 'object' || ArrayBuffer.isView(node)) return;
    const candidate = node as Payload;
    if (candidate.metadata && typeof candidate.metadata === 'object' && 'encoding' in candidate.metadata) {
      found.push({ path: at, payload: candidate });
      return;
    }
    for (const [key, value] of Object.entries(node)) walk(value, at ? `${at}.${key}` : key);
  };
  walk(history, '');
  return found;
}

/** Search attribute values are indexed by the server, so they are never encoded: ids, states, agent names. */
export function isSearchAttribute(found: FoundPayload): boolean {
  return /(^|\.)(searchAttributes|indexedFields)(\.|$)/.test(found.path);
}

/**
 * The SDK core's own bookkeeping in markers, written in clear by design: a patch's id, a local
 * activity's sequence number, type and times (its result is a payload of ours, and encrypted).
 */
export function isSdkBookkeeping(found: FoundPayload): boolean {
  return /markerRecordedEventAttributes\.details\.(data|patch[-_]data)\./.test(found.path);
}

/** Payloads that carry what claudomator and its users wrote: each must be encrypted. */
export function isOurs(found: FoundPayload): boolean {
  return !isSearchAttribute(found) && !isSdkBookkeeping(found);
}

export function encoding(payload: Payload): string {
  return Buffer.from(payload.metadata?.encoding ?? []).toString();
}

export function keyIdOf(payload: Payload): string | undefined {
  const id = payload.metadata?.['encryption-key-id'];
  return id ? Buffer.from(id).toString() : undefined;
}

/** The history as the server stores and sends it (protobuf), and as `temporal workflow show -o json` prints it. */
export function historyAsStored(history: proto.temporal.api.history.v1.IHistory): { bytes: Buffer; json: string } {
  const message = proto.temporal.api.history.v1.History.fromObject(history);
  return {
    bytes: Buffer.from(proto.temporal.api.history.v1.History.encode(message).finish()),
    json: JSON.stringify(message.toJSON()),
  };
}
