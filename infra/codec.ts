/**
 * Payload encryption end to end: a Temporal `PayloadCodec` that encrypts every payload claudomator
 * writes — workflow and activity inputs and results, signals, updates, queries, heartbeats, memos,
 * summaries and details, and (through the failure converter of `failure-converter.cjs`) failure
 * messages and stack traces — with AES-256-GCM, and the data converter that workers, the SDK, the CLI
 * and the codec server (infra/codec-server.ts, for the Web UI) share. The Temporal server and whoever
 * reads its histories see ciphertext; search attributes, workflow ids and type names stay in clear.
 *
 * An encrypted payload has the metadata `encoding: binary/encrypted`, `encryption-key-id: <id>` and
 * `encryption-cipher: AES-256-GCM`, and as data the 12-byte IV, the ciphertext of the original
 * Payload (protobuf) and the 16-byte tag; the key id is authenticated too. Rotation: put a new key
 * first in CLAUDOMATOR_ENCRYPTION_KEYS and keep the old ones after it: new payloads use the new key,
 * old ones still decrypt. Payloads that are not encrypted pass through decoding unchanged.
 */
import { createCipheriv, createDecipheriv, createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { DataConverter, Payload, PayloadCodec } from '@temporalio/common';
// Default import: @temporalio/proto is CommonJS whose named exports Node's ESM loader cannot see.
import proto from '@temporalio/proto';
import {
  ConfigError,
  ENCRYPTION_KEY_FILE,
  readEncryptionKeys,
  type Config,
  type ConfigProblem,
  type EncryptionKey,
} from './config.js';

const { Payload: PayloadMessage } = proto.temporal.api.common.v1;

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';
export const CIPHER_METADATA = 'encryption-cipher';
export const CIPHER = 'AES-256-GCM';
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** `failure-converter.cjs` next to this module (`npm run build` copies it into dist/infra/). */
export const FAILURE_CONVERTER_PATH = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));

/** A payload this process cannot decrypt; the message says which key it needs and where to put it. */
export class PayloadDecryptionError extends Error {
  override readonly name = 'PayloadDecryptionError';
}

const text = new TextEncoder();
const fromText = new TextDecoder();

export class EncryptionCodec implements PayloadCodec {
  private readonly keys: ReadonlyMap<string, KeyObject>;
  /** The key new payloads are encrypted with; undefined: encode leaves payloads as they are. */
  readonly encryptsWith: string | undefined;

  /** `keys[0]` encrypts (unless `encrypt` is false); all of them decrypt. */
  constructor(keys: readonly EncryptionKey[], options: { encrypt?: boolean } = {}) {
    this.keys = new Map(keys.map((k) => [k.id, createSecretKey(k.key)]));
    this.encryptsWith = options.encrypt !== false ? keys[0]?.id : undefined;
  }

  encode(payloads: Payload[]): Promise<Payload[]> {
    const id = this.encryptsWith;
    if (id === undefined) return Promise.resolve(payloads);
    const key = this.keys.get(id)!;
    return Promise.resolve(payloads.map((payload) => (isEncrypted(payload) ? payload : encrypt(payload, id, key))));
  }

  decode(payloads: Payload[]): Promise<Payload[]> {
    try {
      return Promise.resolve(payloads.map((payload) => (isEncrypted(payload) ? this.decrypt(payload) : payload)));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  }

  private decrypt(payload: Payload): Payload {
    const id = metadata(payload, KEY_ID_METADATA);
    const cipher = metadata(payload, CIPHER_METADATA);
    const data = payload.data ?? new Uint8Array();
    if (id === undefined || (cipher !== undefined && cipher !== CIPHER) || data.length < IV_BYTES + TAG_BYTES) {
      throw new PayloadDecryptionError(
        `An encrypted payload is malformed (key id ${id ?? 'missing'}, cipher ${cipher ?? 'missing'}, ` +
          `${data.length} bytes): claudomator's codec (${CIPHER}) did not write it, or it was cut short.`,
      );
    }
    const key = this.keys.get(id);
    if (!key) {
      const known = [...this.keys.keys()];
      throw new PayloadDecryptionError(
        `A payload is encrypted with key "${id}", which this process does not have ` +
          `(${known.length > 0 ? `its keys: ${known.join(', ')}` : 'it has no encryption key'}). ` +
          `Add "${id}:<its base64 key>" to CLAUDOMATOR_ENCRYPTION_KEYS after the current key ` +
          '(the first key encrypts, every listed key decrypts).',
      );
    }
    const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
    decipher.setAAD(text.encode(id));
    decipher.setAuthTag(data.subarray(data.length - TAG_BYTES));
    let plain: Buffer;
    try {
      plain = Buffer.concat([decipher.update(data.subarray(IV_BYTES, data.length - TAG_BYTES)), decipher.final()]);
    } catch {
      throw new PayloadDecryptionError(
        `A payload encrypted with key "${id}" does not decrypt with this process's key "${id}": the key under ` +
          'that id is not the one that encrypted it (check CLAUDOMATOR_ENCRYPTION_KEYS), or the payload was altered.',
      );
    }
    return PayloadMessage.decode(plain);
  }
}

function encrypt(payload: Payload, id: string, key: KeyObject): Payload {
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(text.encode(id));
  const sealed = Buffer.concat([cipher.update(PayloadMessage.encode(payload).finish()), cipher.final()]);
  return {
    metadata: {
      encoding: text.encode(ENCRYPTED_ENCODING),
      [KEY_ID_METADATA]: text.encode(id),
      [CIPHER_METADATA]: text.encode(CIPHER),
    },
    data: Buffer.concat([iv, sealed, cipher.getAuthTag()]),
  };
}

function metadata(payload: Payload, name: string): string | undefined {
  const value = payload.metadata?.[name];
  return value ? fromText.decode(value) : undefined;
}

export function isEncrypted(payload: Payload): boolean {
  return metadata(payload, 'encoding') === ENCRYPTED_ENCODING;
}

/** True when new payloads are encrypted: a key is configured and CLAUDOMATOR_ENCRYPTION is not off. */
export function encryptionActive(config: Pick<Config, 'encryption'>): boolean {
  return config.encryption.mode !== 'off' && config.encryption.keys.length > 0;
}

export function createPayloadCodec(config: Pick<Config, 'encryption'>): EncryptionCodec {
  return new EncryptionCodec(config.encryption.keys, { encrypt: encryptionActive(config) });
}

/**
 * The data converter of every claudomator client and worker. Always the codec (without keys it only
 * turns encrypted payloads into a clear error) and the failure converter that puts messages and stack
 * traces into an encoded payload. The workflow sandbox gets the same failure converter from the bundle
 * (worker/bundle.ts); codecs run outside it.
 */
export function claudomatorDataConverter(config: Pick<Config, 'encryption'>): DataConverter {
  return { payloadCodecs: [createPayloadCodec(config)], failureConverterPath: FAILURE_CONVERTER_PATH };
}

/**
 * The local stack's key: with encryption not off and no key configured, create one in
 * `<dataDir>/encryption-keys` (mode 0600) on first run and use it from then on (every claudomator
 * process with the same data dir reads it). Returns the configuration with the key, and the file when
 * this call created it.
 */
export async function ensureLocalKey(
  config: Readonly<Config>,
): Promise<{ config: Readonly<Config>; created: string | undefined }> {
  if (config.encryption.mode === 'off' || config.encryption.keys.length > 0) return { config, created: undefined };
  const file = path.join(config.dataDir, ENCRYPTION_KEY_FILE);
  await mkdir(config.dataDir, { recursive: true });
  let created: string | undefined;
  try {
    const handle = await open(file, 'wx', 0o600);
    try {
      await handle.writeFile(
        `# claudomator payload encryption key, created ${new Date().toISOString()} by claudomator up.\n` +
          '# Workflow histories written with it can only be read with it: keep it, back it up.\n' +
          `local-${randomBytes(4).toString('hex')}:${randomBytes(32).toString('base64')}\n`,
      );
    } finally {
      await handle.close();
    }
    created = file;
  } catch (err) {
    // Another process created it first: use that one.
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
  }
  const problems: ConfigProblem[] = [];
  const keys = readEncryptionKeys(undefined, config.dataDir, problems);
  if (problems.length > 0) throw new ConfigError(problems);
  return { config: Object.freeze({ ...config, encryption: { ...config.encryption, ...keys } }), created };
}
