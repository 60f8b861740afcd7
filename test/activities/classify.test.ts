/**
 * The classifier activity against a local stand-in of the Messages API: the request it sends, a good
 * reply, and every way it fails (a bad reply, an HTTP error, no answer in time), each of which leaves
 * the model to the agent's default and says why.
 */
import { once } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { MockActivityEnvironment } from '@temporalio/testing';
import { afterEach, describe, expect, it } from 'vitest';
import {
  CLASSIFIER_SYSTEM_PROMPT,
  createClassifyActivities,
  type Classification,
  type ClassifyInput,
} from '../../activities/classify.js';
import { loadConfig } from '../../infra/config.js';
import type { AgentStatus } from '../../workflows/types.js';
import { MessagesApiServer, requestText, systemText, type ScriptedReply } from '../helpers/messages-api.js';

const TASK: ClassifyInput = { agent: 'claude', name: 'Fix the typo in README', instructions: 'teh → the, line 3' };

const CLAUDE_BUSY: AgentStatus = {
  agent: 'claude',
  limit: 2,
  activeTasks: 2,
  waiting: 4,
  holders: ['task-a', 'task-b'],
  rateLimited: false,
  paused: false,
  drained: false,
  consecutiveFailures: 0,
};

let server: MessagesApiServer | undefined;
afterEach(async () => {
  await server?.close();
  server = undefined;
});

function classifierAt(url: string, extra: Record<string, string> = {}) {
  return loadConfig({
    CLAUDOMATOR_CLASSIFIER_MODEL: 'claude-haiku-4-5',
    CLAUDOMATOR_CLASSIFIER_BASE_URL: url,
    CLAUDOMATOR_CLASSIFIER_API_KEY: 'test-classifier-key',
    CLAUDOMATOR_CLASSIFIER_TIMEOUT: '3s',
    ...extra,
  });
}

async function classify(
  reply: ScriptedReply | undefined,
  options: { input?: ClassifyInput; agents?: () => Promise<AgentStatus[]> } = {},
) {
  server = await MessagesApiServer.start(reply ? [reply] : []);
  const activities = createClassifyActivities({
    config: classifierAt(server.url),
    agentStatuses: options.agents ?? (() => Promise.resolve([CLAUDE_BUSY])),
  });
  return run(activities, options.input ?? TASK);
}

/** `classifyModel(input)` in a mock activity context (no Temporal client: the pool's state comes from `agentStatuses`). */
function run(activities: ReturnType<typeof createClassifyActivities>, input: ClassifyInput): Promise<Classification> {
  return new MockActivityEnvironment().run((i: ClassifyInput) => activities.classifyModel(i), input);
}

describe('classifyModel against a Messages API stand-in', () => {
  it('sends the task and the agents state, and returns the model and reason of a good reply', async () => {
    const picked = await classify({ text: '{"model": "haiku", "reason": "a one-word typo fix"}' });
    expect(picked).toEqual({ model: 'haiku', reason: 'a one-word typo fix' });

    expect(server!.requests).toHaveLength(1);
    const [request] = server!.requests;
    expect(request!.path).toBe('/v1/messages');
    // The SDK sends the key as a bearer token (older versions: x-api-key).
    expect(request!.headers.authorization ?? request!.headers['x-api-key']).toMatch(/^(Bearer )?test-classifier-key$/);
    expect(request!.body.model).toBe('claude-haiku-4-5');
    expect(request!.body.stream).toBeUndefined();
    expect(systemText(request!)).toBe(CLASSIFIER_SYSTEM_PROMPT);
    const text = requestText(request!);
    expect(text).toContain('Offered models, small to large: haiku, sonnet, opus');
    expect(text).toContain('Task name: Fix the typo in README');
    expect(text).toContain('teh → the, line 3');
    expect(text).toContain('- claude: 2/2 slots in use, 4 waiting');
    server!.assertDone();
  });

  it('offers the agent its own models ("default" keeps its default)', async () => {
    const picked = await classify(
      { text: '{"model": "default", "reason": "ordinary work"}' },
      { input: { ...TASK, agent: 'gemini' } },
    );
    expect(picked).toEqual({ reason: 'ordinary work' });
    expect(requestText(server!.requests[0]!)).toContain('Offered models, small to large: flash-lite, flash, pro');
  });

  it('a reply that is not one of the offered models: no model, the reason says what was wrong', async () => {
    expect(await classify({ text: '{"model": "gpt-5", "reason": "it is the best"}' })).toEqual({
      reason: 'classifier failed: "model" must be one of haiku, sonnet, opus, default; the reply has "gpt-5"',
    });
    await server!.close();
    expect(await classify({ text: 'Use haiku, it is a tiny change.' })).toEqual({
      reason: 'classifier failed: the reply holds no JSON object: "Use haiku, it is a tiny change."',
    });
  });

  it('an HTTP error: no model, the status and the API message in the reason, no retry', async () => {
    const picked = await classify({
      status: 529,
      error: { type: 'overloaded_error', message: 'Overloaded' },
    });
    expect(picked.model).toBeUndefined();
    expect(picked.reason).toMatch(/^classifier failed: HTTP 529 from http:\/\/127\.0\.0\.1:\d+: .*Overloaded/);
    expect(server!.requests).toHaveLength(1);
  });

  it('no answer in time: no model, the timeout in the reason', async () => {
    // A server that takes the request and never answers.
    const silent = http.createServer(() => undefined);
    silent.listen(0, '127.0.0.1');
    await once(silent, 'listening');
    try {
      const url = `http://127.0.0.1:${(silent.address() as AddressInfo).port}`;
      const activities = createClassifyActivities({
        config: classifierAt(url, { CLAUDOMATOR_CLASSIFIER_TIMEOUT: '500ms' }),
        agentStatuses: () => Promise.resolve([]),
      });
      const started = Date.now();
      const picked = await run(activities, TASK);
      expect(picked.model).toBeUndefined();
      expect(picked.reason).toMatch(/^classifier failed: no answer within \d+ ms$/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      silent.closeAllConnections();
      silent.close();
    }
  });

  it('classifies without the agents state when the pool does not answer', async () => {
    const picked = await classify(
      { text: '{"model": "sonnet", "reason": "a feature"}' },
      { agents: () => Promise.reject(new Error('query timed out')) },
    );
    expect(picked).toEqual({ model: 'sonnet', reason: 'a feature' });
    expect(requestText(server!.requests[0]!)).toContain('(unknown: the agent pool did not answer)');
  });

  it('asks nothing when no classifier is configured, or when the agent has no models to choose from', async () => {
    server = await MessagesApiServer.start([]);
    const off = createClassifyActivities({ config: loadConfig({ ANTHROPIC_BASE_URL: server.url }) });
    expect(await run(off, TASK)).toEqual({
      reason: "no classifier configured: the agent's default",
    });
    const on = createClassifyActivities({ config: classifierAt(server.url), agentStatuses: () => Promise.resolve([]) });
    expect(await run(on, { ...TASK, agent: 'codex' })).toEqual({
      reason: 'codex has no models to choose from: its default',
    });
    expect(server.requests).toEqual([]);
  });
});
