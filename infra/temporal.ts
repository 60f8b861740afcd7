/**
 * Connections to Temporal built from the configuration (`@temporalio/envconfig` under the hood),
 * clients with claudomator's data converter, and the idempotent registration of claudomator's search attributes on a namespace.
 */
import { Client, Connection } from '@temporalio/client';
import type { SearchAttributeType } from '@temporalio/common';
// Default import: @temporalio/proto is CommonJS whose named exports Node's ESM loader cannot see.
import proto from '@temporalio/proto';
import type { NativeConnection } from '@temporalio/worker';
import { SEARCH_ATTRIBUTES } from '../workflows/definitions.js';
import { claudomatorDataConverter } from './codec.js';
import type { Config } from './config.js';

const { temporal } = proto;

/** A client with claudomator's data converter (payload encryption: infra/codec.ts). */
export async function connectClient(config: Pick<Config, 'temporal' | 'encryption'>): Promise<Client> {
  const connection = await Connection.connect(config.temporal.connection);
  return new Client({
    connection,
    namespace: config.temporal.namespace,
    dataConverter: claudomatorDataConverter(config),
  });
}

export async function connectWorkerConnection(config: Pick<Config, 'temporal'>): Promise<NativeConnection> {
  // Loaded here, not at the top: clients (SDK, CLI) import this module and need none of the worker SDK.
  const { NativeConnection } = await import('@temporalio/worker');
  return NativeConnection.connect(config.temporal.connection);
}

const INDEXED_TYPES: Record<SearchAttributeType, proto.temporal.api.enums.v1.IndexedValueType> = {
  TEXT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_TEXT,
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  INT: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_INT,
  DOUBLE: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DOUBLE,
  BOOL: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_BOOL,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
  KEYWORD_LIST: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD_LIST,
};

/**
 * Register every claudomator search attribute that the namespace lacks; attributes that exist are
 * left alone, so running it twice is a no-op. Returns the names it added.
 */
export async function registerSearchAttributes(connection: Connection, namespace: string): Promise<string[]> {
  const existing = await connection.operatorService.listSearchAttributes({ namespace });
  const known = new Set(Object.keys(existing.customAttributes ?? {}));
  const missing = SEARCH_ATTRIBUTES.filter((key) => !known.has(key.name));
  if (missing.length === 0) return [];
  await connection.operatorService.addSearchAttributes({
    namespace,
    searchAttributes: Object.fromEntries(missing.map((key) => [key.name, INDEXED_TYPES[key.type]])),
  });
  return missing.map((key) => key.name);
}
