import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Payload } from '@temporalio/common';
import { defaultPayloadConverter } from '@temporalio/common';
import { afterAll, describe, expect, it } from 'vitest';
import {
  createPayloadCodec,
  EncryptionCodec,
  encryptionActive,
  ensureLocalKey,
  isEncrypted,
  PayloadDecryptionError,
} from '../../infra/codec.js';
import { ConfigError, loadConfig, type EncryptionKey } from '../../infra/config.js';

const key = (id: string): EncryptionKey => ({ id, key: randomBytes(32) });
const spec = (k: EncryptionKey): string => `${k.id}:${k.key.toString('base64')}`;
const json = (value: unknown): Payload => defaultPayloadConverter.toPayload(value);
const value = (payload: Payload): unknown => defaultPayloadConverter.fromPayload(payload);

const scratch = mkdtempSync(path.join(os.tmpdir(), 'claudomator-codec-unit-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

function configError(env: Record<string, string>): ConfigError {
  try {
    loadConfig({ CLAUDOMATOR_DATA_DIR: path.join(scratch, 'none'), ...env });
  } catch (err) {
    if (err instanceof ConfigError) return err;
    throw err;
  }
  throw new Error('loadConfig accepted it');
}

describe('CLAUDOMATOR_ENCRYPTION_KEYS', () => {
  it('reads keys in order; the first encrypts; auto is on with a key and off without', () => {
    const [a, b] = [key('k-2'), key('k.1')];
    const config = loadConfig({
      CLAUDOMATOR_DATA_DIR: path.join(scratch, 'none'),
      CLAUDOMATOR_ENCRYPTION_KEYS: ` ${spec(a)} , ${spec(b)} `,
    });
    expect(config.encryption.keys.map((k) => k.id)).toEqual(['k-2', 'k.1']);
    expect(config.encryption.keys[0]!.key.equals(a.key)).toBe(true);
    expect(config.encryption).toMatchObject({ mode: 'auto', keySource: 'CLAUDOMATOR_ENCRYPTION_KEYS' });
    expect(encryptionActive(config)).toBe(true);
    expect(createPayloadCodec(config).encryptsWith).toBe('k-2');

    const none = loadConfig({ CLAUDOMATOR_DATA_DIR: path.join(scratch, 'none') });
    expect(none.encryption.keys).toEqual([]);
    expect(encryptionActive(none)).toBe(false);
    const off = loadConfig({
      CLAUDOMATOR_DATA_DIR: path.join(scratch, 'none'),
      CLAUDOMATOR_ENCRYPTION: 'off',
      CLAUDOMATOR_ENCRYPTION_KEYS: spec(a),
    });
    expect(encryptionActive(off)).toBe(false);
    expect(createPayloadCodec(off).encryptsWith).toBeUndefined();
  });

  it('refuses a bad key with the variable, the expected form, and no key material', () => {
    const short = `short:${randomBytes(16).toString('base64')}`;
    const noId = randomBytes(32).toString('base64');
    const a = key('dup');
    const error = configError({ CLAUDOMATOR_ENCRYPTION_KEYS: `${short},${noId},${spec(a)},${spec({ ...a })}` });
    expect(error.problems.map((p) => [p.variable, p.got])).toEqual([
      ['CLAUDOMATOR_ENCRYPTION_KEYS', 'entry 1 (id short)'],
      ['CLAUDOMATOR_ENCRYPTION_KEYS', 'entry 2'],
      ['CLAUDOMATOR_ENCRYPTION_KEYS', 'dup'],
    ]);
    expect(error.message).toContain('<id>:<base64 of 32 random bytes>');
    expect(error.message).not.toContain(noId.slice(0, 8));
    expect(error.message).not.toContain(short.slice(6, 14));
  });

  it('refuses CLAUDOMATOR_ENCRYPTION=on without a key, and an unknown mode', () => {
    const [problem] = configError({ CLAUDOMATOR_ENCRYPTION: 'on' }).problems;
    expect(problem!.variable).toBe('CLAUDOMATOR_ENCRYPTION_KEYS');
    expect(problem!.expected).toContain('CLAUDOMATOR_ENCRYPTION=on');
    expect(configError({ CLAUDOMATOR_ENCRYPTION: 'maybe' }).problems[0]).toMatchObject({
      variable: 'CLAUDOMATOR_ENCRYPTION',
      got: 'maybe',
    });
  });

  it('reads the data dir key file (comments, one key a line) and refuses one others can read', () => {
    const dataDir = mkdtempSync(path.join(scratch, 'data-'));
    const [a, b] = [key('new'), key('old')];
    const file = path.join(dataDir, 'encryption-keys');
    writeFileSync(file, `# rotated on 2026-12-01, keep the old one, it decrypts\n${spec(a)}\n\n${spec(b)}\n`, {
      mode: 0o600,
    });
    const config = loadConfig({ CLAUDOMATOR_DATA_DIR: dataDir });
    expect(config.encryption.keys.map((k) => k.id)).toEqual(['new', 'old']);
    expect(config.encryption.keySource).toBe(file);
    // The variable wins over the file.
    const c = key('env');
    expect(
      loadConfig({ CLAUDOMATOR_DATA_DIR: dataDir, CLAUDOMATOR_ENCRYPTION_KEYS: spec(c) }).encryption.keys.map(
        (k) => k.id,
      ),
    ).toEqual(['env']);

    chmodSync(file, 0o644);
    const error = configError({ CLAUDOMATOR_DATA_DIR: dataDir });
    expect(error.problems[0]!.variable).toContain(file);
    expect(error.problems[0]!.expected).toContain(`chmod 600 ${file}`);
  });

  it('the local stack creates a key file of mode 0600 once, then reuses it', async () => {
    const dataDir = path.join(scratch, 'fresh', 'data');
    const config = loadConfig({ CLAUDOMATOR_DATA_DIR: dataDir });
    const first = await ensureLocalKey(config);
    const file = path.join(dataDir, 'encryption-keys');
    expect(first.created).toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(first.config.encryption.keys).toHaveLength(1);
    expect(first.config.encryption.keys[0]!.id).toMatch(/^local-[0-9a-f]{8}$/);
    expect(encryptionActive(first.config)).toBe(true);

    const again = await ensureLocalKey(loadConfig({ CLAUDOMATOR_DATA_DIR: dataDir }));
    expect(again.created).toBeUndefined();
    expect(again.config.encryption.keys[0]!.key.equals(first.config.encryption.keys[0]!.key)).toBe(true);
    expect(readFileSync(file, 'utf8').match(/^local-/gm)).toHaveLength(1);

    const off = loadConfig({ CLAUDOMATOR_DATA_DIR: path.join(scratch, 'off'), CLAUDOMATOR_ENCRYPTION: 'off' });
    expect((await ensureLocalKey(off)).created).toBeUndefined();
  });
});

describe('EncryptionCodec', () => {
  const a = key('a');
  const b = key('b');

  it('round-trips payloads, hiding their bytes, with a fresh IV each time', async () => {
    const codec = new EncryptionCodec([a]);
    const clear = [json({ instructions: 'the secret plan' }), json(null), json(undefined)];
    const encrypted = await codec.encode(clear);
    for (const p of encrypted) {
      expect(isEncrypted(p)).toBe(true);
      expect(Buffer.from(p.metadata!['encryption-key-id']!).toString()).toBe('a');
      expect(Buffer.from(p.data!).toString('latin1')).not.toContain('secret');
    }
    const [again] = await codec.encode([clear[0]!]);
    expect(Buffer.from(again!.data!).equals(Buffer.from(encrypted[0]!.data!))).toBe(false);
    const decoded = await codec.decode(encrypted);
    expect(decoded.map(value)).toEqual([{ instructions: 'the secret plan' }, null, undefined]);
    // Already encrypted payloads are not wrapped twice; clear ones pass decoding unchanged.
    expect(await codec.encode(encrypted)).toEqual(encrypted);
    expect(await codec.decode(clear)).toEqual(clear);
  });

  it('rotation: new payloads use the first key, payloads of an older key still decrypt', async () => {
    const [old] = await new EncryptionCodec([a]).encode([json('written under a')]);
    const rotated = new EncryptionCodec([b, a]);
    const [fresh] = await rotated.encode([json('written under b')]);
    expect(Buffer.from(fresh!.metadata!['encryption-key-id']!).toString()).toBe('b');
    expect((await rotated.decode([old!, fresh!])).map(value)).toEqual(['written under a', 'written under b']);
  });

  it('an unknown key id, a different key under a known id, and tampering are clear errors', async () => {
    const [sealed] = await new EncryptionCodec([a]).encode([json('x')]);
    await expect(new EncryptionCodec([b]).decode([sealed!])).rejects.toThrow(
      /encrypted with key "a", which this process does not have \(its keys: b\)\. Add "a:<its base64 key>" to CLAUDOMATOR_ENCRYPTION_KEYS/,
    );
    await expect(new EncryptionCodec([]).decode([sealed!])).rejects.toThrow(/it has no encryption key/);
    await expect(new EncryptionCodec([{ id: 'a', key: b.key }]).decode([sealed!])).rejects.toThrow(
      /does not decrypt with this process's key "a"/,
    );
    const tampered = { ...sealed!, data: Buffer.from(sealed!.data!) };
    tampered.data[20] = tampered.data[20]! ^ 1;
    await expect(new EncryptionCodec([a]).decode([tampered])).rejects.toThrow(PayloadDecryptionError);
    // The key id is authenticated: relabelling a payload under another known key fails.
    const relabelled = { ...sealed!, metadata: { ...sealed!.metadata, 'encryption-key-id': Buffer.from('b') } };
    await expect(new EncryptionCodec([a, { id: 'b', key: a.key }]).decode([relabelled])).rejects.toThrow(
      /does not decrypt/,
    );
    const cut = { ...sealed!, data: Buffer.from(sealed!.data!).subarray(0, 10) };
    await expect(new EncryptionCodec([a]).decode([cut])).rejects.toThrow(/malformed/);
  });
});
