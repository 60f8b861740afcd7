/**
 * Payload encryption on the real server: what the SDK and the workers write is AES-256-GCM under the
 * configured key and reads back; keys rotate; a payload under a key a process lacks is a clear
 * error; and the codec server gives the Web UI the decrypted payloads (CORS, bearer token).
 */
import { Client, WorkflowFailedError } from '@temporalio/client';
import type { Payload } from '@temporalio/common';
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { execa } from 'execa';
import { afterAll, afterEach, beforeAll, describe, expect, inject, it, vi } from 'vitest';
import {
  claudomatorDataConverter,
  createPayloadCodec,
  EncryptionCodec,
  PayloadDecryptionError,
} from '../../infra/codec.js';
import { payloadToJson, startCodecServer, type CodecServer } from '../../infra/codec-server.js';
import { taskStatusQuery, taskWorkflowId } from '../../workflows/definitions.js';
import { cliEnv, startCli, waitForOutput } from '../e2e/cli-process.js';
import { tempDir, waitFor } from '../helpers/fake-agent.js';
import { useTestDatabase } from '../helpers/fixtures.js';
import { devServerEnv, uniqueName } from '../helpers/temporal.js';
import {
  encoding,
  historyAsStored,
  historyPayloads,
  isOurs,
  keyIdOf,
  keysVariable,
  newKey,
  startCodecStack,
  type CodecStack,
} from './helpers/codec.js';

const db = useTestDatabase();
let env: TestWorkflowEnvironment;
const stacks: CodecStack[] = [];
const scratch = tempDir('codec-tests');
const SECRET = 'tok-9f2c1e77-planted-in-the-instructions';
const keyA = newKey('key-a');
const keyB = newKey('key-b');

beforeAll(async () => {
  env = await devServerEnv();
});
afterEach(async () => {
  for (const stack of stacks.splice(0)) await stack.stop();
});
afterAll(async () => {
  await env?.teardown();
  scratch.remove();
});

async function stack(name: string, keys: string, extra: { scenario?: string } = {}): Promise<CodecStack> {
  const started = await startCodecStack(env, db.current, { name, dir: `${scratch.dir}/${name}`, keys, ...extra });
  stacks.push(started);
  return started;
}

interface JsonPayload {
  metadata: Record<string, string>;
  data: string;
}

const decodedText = async (codec: EncryptionCodec, payloads: Payload[]): Promise<string> =>
  (await codec.decode(payloads)).map((p) => Buffer.from(p.data ?? []).toString()).join('\n');

describe('payload encryption', () => {
  it('encrypts what the SDK and the workers write, and reads it back (SDK → worker → SDK)', async () => {
    const name = uniqueName('round-trip');
    const s = await stack(name, keysVariable(keyA));
    expect(await s.client.health()).toMatchObject({ taskQueue: name, database: 'ok' });

    const [task] = await s.client.submitTasks({
      id: `${name}-ok`,
      name: 'round trip',
      instructions: `Say ok. The deploy token is ${SECRET}.`,
      agent: { type: 'command', command: 'echo ok' },
    });
    expect((await s.client.waitForTask(task!.id, { timeoutMs: 90_000 })).state).toBe('READY');
    const handle = s.client.temporal.workflow.getHandle(taskWorkflowId(task!.id));
    expect(await handle.result()).toMatchObject({ taskId: task!.id, state: 'READY' });

    // On the server: every payload but the search attributes is ciphertext under key A.
    const history = await handle.fetchHistory();
    const payloads = historyPayloads(history).filter(isOurs);
    expect(payloads.length).toBeGreaterThan(10);
    for (const { path, payload } of payloads) {
      expect([path, encoding(payload), keyIdOf(payload)]).toEqual([path, 'binary/encrypted', 'key-a']);
    }
    expect(historyAsStored(history).bytes.includes(SECRET)).toBe(false);
    // The check can fail: the instructions are in there, for whoever holds the key.
    expect(
      await decodedText(
        createPayloadCodec(s.config),
        payloads.map((p) => p.payload),
      ),
    ).toContain(SECRET);

    // A client without the codec reads nothing.
    await expect(env.client.workflow.getHandle(taskWorkflowId(task!.id)).result()).rejects.toThrow(/binary\/encrypted/);
  });

  it('encrypts failure messages: the history says "Encoded failure", the SDK reads the reason', async () => {
    const name = uniqueName('failure');
    const s = await stack(name, keysVariable(keyA));
    const [task] = await s.client.submitTasks({
      id: `${name}-fails`,
      name: 'fails',
      instructions: 'Fail loudly.',
      // No shell: the command agent splits on spaces (a backslash escapes one).
      agent: { type: 'command', command: `node -e console.error("refusing\\ to\\ use\\ ${SECRET}");process.exit(3)` },
    });
    expect((await s.client.waitForTask(task!.id, { timeoutMs: 90_000 })).state).toBe('FAILED');
    const handle = s.client.temporal.workflow.getHandle(taskWorkflowId(task!.id));
    const failure = await handle.result().then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(failure).toBeInstanceOf(WorkflowFailedError);
    expect((failure as WorkflowFailedError).cause?.message).toMatch(new RegExp(`Task ${task!.id} ended FAILED`));

    const history = await handle.fetchHistory();
    const failed = history.events!.find((e) => e.workflowExecutionFailedEventAttributes)!
      .workflowExecutionFailedEventAttributes!.failure!;
    expect(failed.message).toBe('Encoded failure');
    expect(failed.stackTrace ?? '').toBe('');
    expect(encoding(failed.encodedAttributes!)).toBe('binary/encrypted');
    expect(await decodedText(createPayloadCodec(s.config), [failed.encodedAttributes!])).toMatch(/ended FAILED/);
    expect(historyAsStored(history).bytes.includes(SECRET)).toBe(false);
    expect(historyAsStored(history).json).not.toContain('ended FAILED');
  });

  it('rotates keys: a task started under A completes after workers and client restart with keys B,A', async () => {
    const name = uniqueName('rotation');
    const before = await stack(name, keysVariable(keyA));
    const [task] = await before.client.submitTasks({
      id: `${name}-asks`,
      name: 'asks',
      instructions: 'Pick a database [scenario:question]',
      agent: { type: 'claude' },
    });
    const blocked = await before.client.waitForTask(task!.id, { timeoutMs: 90_000 });
    expect(blocked).toMatchObject({ state: 'BLOCKED', question: { text: 'Which database should I use?' } });
    await stacks.pop()!.stop();

    const after = await stack(name, keysVariable(keyB, keyA));
    await after.client.answerQuestion(task!.id, 'postgres, under key B');
    const done = await after.client.waitForTask(task!.id, { timeoutMs: 90_000 });
    expect(done.state).toBe('READY');
    const handle = after.client.temporal.workflow.getHandle(taskWorkflowId(task!.id));
    expect(await handle.result()).toMatchObject({ state: 'READY' });

    const history = await handle.fetchHistory();
    const payloads = historyPayloads(history).filter(isOurs);
    const byKey = (id: string) => payloads.filter((p) => keyIdOf(p.payload) === id);
    expect(byKey('key-a').length).toBeGreaterThan(0);
    expect(byKey('key-b').length).toBeGreaterThan(0);
    expect(byKey('key-a').length + byKey('key-b').length).toBe(payloads.length);
    // The workflow's input was written under A, the answer (an update) under B.
    const started = history.events![0]!.workflowExecutionStartedEventAttributes!.input!.payloads![0]!;
    expect(keyIdOf(started)).toBe('key-a');
    const answer = {
      payload: history.events!.find(
        (e) => e.workflowExecutionUpdateAcceptedEventAttributes?.acceptedRequest?.input?.name === 'answer',
      )!.workflowExecutionUpdateAcceptedEventAttributes!.acceptedRequest!.input!.args!.payloads![0]!,
    };
    expect(keyIdOf(answer.payload)).toBe('key-b');
    expect(await decodedText(createPayloadCodec(after.config), [answer.payload])).toContain('postgres, under key B');

    // Without key A, its payloads are a clear error naming the key and the variable.
    const withoutA = new Client({
      connection: env.connection,
      namespace: env.namespace ?? 'default',
      dataConverter: claudomatorDataConverter({ encryption: { mode: 'auto', keys: [keyB], keySource: 'test' } }),
    });
    const error = await withoutA.workflow
      .getHandle(taskWorkflowId(task!.id))
      .fetchHistory()
      .then(async (h) => {
        const started = historyPayloads(h).find((p) =>
          p.path.includes('workflowExecutionStartedEventAttributes.input'),
        );
        return new EncryptionCodec([keyB]).decode([started!.payload]);
      })
      .then(
        () => undefined,
        (err: unknown) => err,
      );
    expect(error).toBeInstanceOf(PayloadDecryptionError);
    expect((error as Error).message).toMatch(
      /encrypted with key "key-a", which this process does not have \(its keys: key-b\)\. Add "key-a:<its base64 key>" to CLAUDOMATOR_ENCRYPTION_KEYS/,
    );
  });

  it('refuses a payload under an unknown key with a clear error, in the SDK and in a worker', async () => {
    const name = uniqueName('unknown-key');
    const keyC = newKey('key-c');
    const s = await stack(name, keysVariable(keyA));
    const [task] = await s.client.submitTasks({
      id: `${name}-asks`,
      name: 'asks',
      instructions: 'Pick a database [scenario:question]',
      agent: { type: 'claude' },
    });
    expect((await s.client.waitForTask(task!.id, { timeoutMs: 90_000 })).state).toBe('BLOCKED');

    // The SDK holding only C asks the worker (key A): the answer comes back under A.
    const onlyC = new Client({
      connection: env.connection,
      namespace: env.namespace ?? 'default',
      dataConverter: claudomatorDataConverter({ encryption: { mode: 'auto', keys: [keyC], keySource: 'test' } }),
    });
    const handle = onlyC.workflow.getHandle(taskWorkflowId(task!.id));
    await expect(handle.query(taskStatusQuery)).rejects.toThrow(
      /encrypted with key "key-a", which this process does not have \(its keys: key-c\)\. Add "key-a:<its base64 key>" to CLAUDOMATOR_ENCRYPTION_KEYS/,
    );
    await stacks.pop()!.stop();

    // A worker holding only C cannot replay the workflow written under A. It logs the reason and refuses
    // with "Encoded failure", as every failure message travels encrypted: the query fails with it, or, when
    // a workflow task reached the worker first, that task fails with it and the server refuses queries.
    const logged: string[] = [];
    let lastQueryError = 'none';
    const original = process.stderr.write.bind(process.stderr);
    const spy = vi.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      logged.push(String(chunk));
      return original(chunk);
    });
    try {
      const c = await stack(name, keysVariable(keyC));
      // The first query can meet the server before the new worker polls, and the server then answers
      // with its own error ("Failed to query Workflow"); ask again until the worker's refusal comes back.
      const workflow = c.client.temporal.workflow.getHandle(taskWorkflowId(task!.id));
      const refusal = await waitFor(
        'the worker holding only key C to refuse the query or the workflow task',
        async () => {
          const err = await workflow.query(taskStatusQuery).then(
            () => new Error('the query succeeded'),
            (e: unknown) => e as Error,
          );
          lastQueryError = `${err.message} (cause: ${(err.cause as Error | undefined)?.message ?? 'none'})`;
          if (lastQueryError.includes('Encoded failure')) return lastQueryError;
          if (!lastQueryError.includes('Workflow Task in failed state')) return false;
          const failed = ((await workflow.fetchHistory()).events ?? []).find(
            (e) => e.workflowTaskFailedEventAttributes?.failure?.message === 'Encoded failure',
          );
          return failed !== undefined && `workflow task failed: Encoded failure (${lastQueryError})`;
        },
        60_000,
      ).catch((e: Error) => {
        throw new Error(`${e.message}; the last query error: ${lastQueryError}`);
      });
      expect(refusal).toContain('Encoded failure');
      // A wait on a workflow whose tasks fail for good does not spin: it fails at once with the server's reason.
      const waitError = await c.client.waitForTask(task!.id, { until: ['READY'], timeoutMs: 60_000 }).then(
        () => new Error('the wait succeeded'),
        (e: unknown) => e as Error,
      );
      expect(waitError.message).toBe('Workflow Update failed');
      expect((waitError.cause as Error | undefined)?.message).toMatch(/Workflow Task in failed state/);
      expect(logged.join('')).toMatch(
        /Failed to process Workflow Activation[\s\S]*encrypted with key "key-a", which this process does not have \(its keys: key-c\)/,
      );
    } finally {
      spy.mockRestore();
    }
    await env.client.workflow.getHandle(taskWorkflowId(task!.id)).terminate('test over');
  });
});

describe('codec server', () => {
  let server: CodecServer | undefined;
  afterEach(async () => {
    await server?.close();
    server = undefined;
  });

  it('decodes and encodes over HTTP for the allowed origin, with the bearer token, and refuses the rest', async () => {
    const name = uniqueName('codec-http');
    const s = await stack(name, keysVariable(keyA));
    const [task] = await s.client.submitTasks({
      id: `${name}-ok`,
      name: 'ok',
      instructions: `Say ok. ${SECRET}`,
      agent: { type: 'command', command: 'echo ok' },
    });
    expect((await s.client.waitForTask(task!.id, { timeoutMs: 90_000 })).state).toBe('READY');
    // The payloads as the Web UI sends them: the history's JSON, base64 fields.
    const stored = JSON.parse(
      historyAsStored(await s.client.temporal.workflow.getHandle(taskWorkflowId(task!.id)).fetchHistory()).json,
    ) as { events: Array<Record<string, { input?: { payloads: unknown[] } }>> };
    const input = stored.events[0]!.workflowExecutionStartedEventAttributes!.input!.payloads;

    server = await startCodecServer({
      codec: createPayloadCodec(s.config),
      origins: ['http://localhost:8233'],
      token: 's3cret-bearer',
      namespace: 'default',
    });
    const post = (route: string, body: unknown, headers: Record<string, string> = {}) =>
      fetch(`${server!.url}${route}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-namespace': 'default', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    const auth = { authorization: 'Bearer s3cret-bearer', origin: 'http://localhost:8233' };

    // The browser's preflight: no token needed, the UI's headers allowed.
    const preflight = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: {
        origin: 'http://localhost:8233',
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type,x-namespace,authorization',
      },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    expect(preflight.headers.get('access-control-allow-methods')).toContain('POST');
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('x-namespace');
    expect(preflight.headers.get('access-control-allow-headers')?.toLowerCase()).toContain('authorization');
    const elsewhere = await fetch(`${server.url}/decode`, {
      method: 'OPTIONS',
      headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' },
    });
    expect(elsewhere.status).toBe(403);
    expect(elsewhere.headers.get('access-control-allow-origin')).toBeNull();

    // The token.
    const anonymous = await post('/decode', { payloads: input }, { origin: 'http://localhost:8233' });
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get('www-authenticate')).toBe('Bearer');
    expect(await anonymous.text()).toContain('CLAUDOMATOR_CODEC_SERVER_TOKEN');
    expect((await post('/decode', { payloads: input }, { authorization: 'Bearer wrong' })).status).toBe(401);

    // Decoding the workflow's real input (the UI's path has a query string).
    const decoded = await post('/decode?preserveStorageRefs=true', { payloads: input }, auth);
    expect(decoded.status).toBe(200);
    expect(decoded.headers.get('access-control-allow-origin')).toBe('http://localhost:8233');
    const clear = ((await decoded.json()) as { payloads: Array<{ metadata: Record<string, string>; data: string }> })
      .payloads;
    expect(Buffer.from(clear[0]!.metadata.encoding!, 'base64').toString()).toBe('json/plain');
    expect(JSON.parse(Buffer.from(clear[0]!.data, 'base64').toString())).toMatchObject({ taskId: task!.id });

    // Encoding (what the UI does with a signal's or an update's input), then decoding it again.
    const plain = payloadToJson({
      metadata: { encoding: Buffer.from('json/plain') },
      data: Buffer.from(JSON.stringify({ answer: 'from the UI' })),
    });
    const encoded = (await (await post('/encode', { payloads: [plain] }, auth)).json()) as { payloads: unknown[] };
    const sealed = encoded.payloads[0] as { metadata: Record<string, string>; data: string };
    expect(Buffer.from(sealed.metadata.encoding!, 'base64').toString()).toBe('binary/encrypted');
    expect(Buffer.from(sealed.metadata['encryption-key-id']!, 'base64').toString()).toBe('key-a');
    expect(Buffer.from(sealed.data, 'base64').toString('latin1')).not.toContain('from the UI');
    const back = (await (await post('/decode', encoded, auth)).json()) as { payloads: Array<{ data: string }> };
    expect(JSON.parse(Buffer.from(back.payloads[0]!.data, 'base64').toString())).toEqual({ answer: 'from the UI' });

    // Another namespace, another origin, bad bodies, an unknown key.
    const failed = async (response: Response) => [
      response.status,
      ((await response.json()) as { error: string }).error,
    ];
    const other = await post('/decode', { payloads: input }, { ...auth, 'x-namespace': 'payments' });
    expect(await failed(other)).toEqual([403, expect.stringContaining('namespace default, not payments')]);
    const foreign = await post('/decode', { payloads: input }, { ...auth, origin: 'https://evil.example' });
    expect(await failed(foreign)).toEqual([403, expect.stringContaining('CLAUDOMATOR_CODEC_SERVER_ORIGINS')]);
    const notJson = await post('/decode', '{"payloads": [', auth);
    expect(await failed(notJson)).toEqual([400, expect.stringContaining('not JSON')]);
    const noList = await post('/decode', { payload: [] }, auth);
    expect(await failed(noList)).toEqual([400, expect.stringContaining('"payloads" array')]);
    const [underB] = await new EncryptionCodec([keyB]).encode([
      { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('1') },
    ]);
    const unknown = await post('/decode', { payloads: [payloadToJson(underB!)] }, auth);
    expect(await failed(unknown)).toEqual([400, expect.stringContaining('encrypted with key "key-b"')]);
    expect((await fetch(`${server.url}/`, { headers: auth })).status).toBe(200); // GET: a hint, not an error
    expect((await post('/elsewhere', { payloads: [] }, auth)).status).toBe(404);

    // The Temporal CLI through the same endpoint: `temporal workflow show --codec-endpoint`.
    const show = (codec: string[]) =>
      execa(inject('temporalCliPath'), [
        'workflow',
        'show',
        '--address',
        inject('temporalAddress'),
        '--namespace',
        inject('temporalNamespace'),
        '--workflow-id',
        taskWorkflowId(task!.id),
        '--output',
        'json',
        ...codec,
      ]);
    const startInput = async (codec: string[]) => {
      const { events } = JSON.parse((await show(codec)).stdout) as {
        events: Array<{ workflowExecutionStartedEventAttributes?: { input: { payloads: JsonPayload[] } } }>;
      };
      const [payload] = events[0]!.workflowExecutionStartedEventAttributes!.input.payloads;
      return { encoding: Buffer.from(payload!.metadata.encoding!, 'base64').toString(), data: payload!.data };
    };
    const viaCodec = await startInput(['--codec-endpoint', server.url, '--codec-auth', 'Bearer s3cret-bearer']);
    expect(viaCodec.encoding).toBe('json/plain');
    expect(JSON.parse(Buffer.from(viaCodec.data, 'base64').toString())).toMatchObject({ taskId: task!.id });
    expect((await startInput([])).encoding).toBe('binary/encrypted');
  });

  it('`claudomator codec-server` serves with the configured keys and token until Ctrl-C; without keys it says what is missing', async () => {
    const cliEnvironment = await cliEnv({
      databaseUrl: db.current.url,
      queue: uniqueName('codec-cli'),
      extra: {
        CLAUDOMATOR_ENCRYPTION_KEYS: keysVariable(keyB, keyA),
        CLAUDOMATOR_CODEC_SERVER_TOKEN: 'cli-token',
        CLAUDOMATOR_CODEC_SERVER_ORIGINS: 'http://localhost:8233,https://cloud.temporal.io',
      },
    });
    const { freePort } = await import('../../infra/dev-server.js');
    const port = await freePort();
    const cli = startCli(['codec-server', '--port', String(port)], cliEnvironment);
    try {
      const line = await waitForOutput(cli, /codec server on/);
      expect(line).toContain(`http://127.0.0.1:${port}`);
      const [underA] = await new EncryptionCodec([keyA]).encode([
        { metadata: { encoding: Buffer.from('json/plain') }, data: Buffer.from('"old key"') },
      ]);
      const response = await fetch(`http://127.0.0.1:${port}/decode`, {
        method: 'POST',
        headers: { authorization: 'Bearer cli-token', origin: 'https://cloud.temporal.io' },
        body: JSON.stringify({ payloads: [payloadToJson(underA!)] }),
      });
      expect(response.status).toBe(200);
      expect(response.headers.get('access-control-allow-origin')).toBe('https://cloud.temporal.io');
      const body = (await response.json()) as { payloads: Array<{ data: string }> };
      expect(Buffer.from(body.payloads[0]!.data, 'base64').toString()).toBe('"old key"');
      cli.kill('SIGINT');
      const result = await cli;
      expect(result.exitCode, result.all).toBe(0);
      expect(result.stderr).toContain('keys key-b, key-a from CLAUDOMATOR_ENCRYPTION_KEYS');
      expect(result.stderr).toContain('bearer token required');
      expect(result.all).not.toContain(keyA.key.toString('base64'));
    } finally {
      cli.kill('SIGKILL');
    }

    const { CLAUDOMATOR_ENCRYPTION_KEYS: _keys, ...withoutKeys } = cliEnvironment;
    const refused = await startCli(['codec-server'], withoutKeys);
    expect(refused.exitCode).toBe(2);
    expect(refused.stderr).toContain('CLAUDOMATOR_ENCRYPTION_KEYS');
  });
});
