import { describe, expect, it } from 'vitest';
import {
  ClassifierReplyError,
  classifierPrompt,
  MODEL_CHOICES,
  parseClassifierReply,
} from '../../activities/classify.js';
import { ConfigError, loadConfig } from '../../infra/config.js';
import type { AgentStatus } from '../../workflows/types.js';

const CLAUDE = MODEL_CHOICES.claude!;

describe('parseClassifierReply', () => {
  it('takes one of the offered models and the reason', () => {
    expect(parseClassifierReply('{"model": "haiku", "reason": "a one-line typo fix"}', CLAUDE)).toEqual({
      model: 'haiku',
      reason: 'a one-line typo fix',
    });
  });

  it('tolerates a code fence, words around the object, case and spaces in the model name', () => {
    const reply = 'Here you go:\n```json\n{"model": " Opus ", "reason": "a redesign of\\n  the cache"}\n```';
    expect(parseClassifierReply(reply, CLAUDE)).toEqual({ model: 'opus', reason: 'a redesign of the cache' });
  });

  it('"default" means the agent default: no model, the reason kept', () => {
    expect(parseClassifierReply('{"model":"default","reason":"an ordinary change"}', CLAUDE)).toEqual({
      reason: 'an ordinary change',
    });
  });

  it('refuses a model that was not offered, naming the choices', () => {
    expect(() => parseClassifierReply('{"model":"gpt-4","reason":"x"}', CLAUDE)).toThrow(
      '"model" must be one of haiku, sonnet, opus, default; the reply has "gpt-4"',
    );
    // Gemini's models are not Claude's.
    expect(() => parseClassifierReply('{"model":"flash","reason":"x"}', CLAUDE)).toThrow(ClassifierReplyError);
    expect(() => parseClassifierReply('{"model":3,"reason":"x"}', CLAUDE)).toThrow(/the reply has 3/);
    expect(() => parseClassifierReply('{"reason":"x"}', CLAUDE)).toThrow(/the reply has none/);
  });

  it('refuses a missing or empty reason', () => {
    expect(() => parseClassifierReply('{"model":"haiku"}', CLAUDE)).toThrow('"reason" must be a non-empty text');
    expect(() => parseClassifierReply('{"model":"haiku","reason":"  "}', CLAUDE)).toThrow(/"reason"/);
  });

  it('refuses prose, broken JSON and non-objects, quoting the start of the reply', () => {
    expect(() => parseClassifierReply('I would pick haiku.', CLAUDE)).toThrow(
      'the reply holds no JSON object: "I would pick haiku."',
    );
    expect(() => parseClassifierReply('{"model": haiku}', CLAUDE)).toThrow(/not valid JSON/);
    expect(() => parseClassifierReply('', CLAUDE)).toThrow(/no JSON object/);
  });

  it('cuts a long reason to one line of at most 300 characters', () => {
    const { reason } = parseClassifierReply(JSON.stringify({ model: 'sonnet', reason: 'x'.repeat(1000) }), CLAUDE);
    expect(reason).toHaveLength(300);
    expect(reason.endsWith('…')).toBe(true);
  });
});

describe('classifierPrompt', () => {
  const claude: AgentStatus = {
    agent: 'claude',
    limit: 2,
    activeTasks: 2,
    waiting: 3,
    holders: ['task-a', 'task-b'],
    rateLimited: true,
    rateLimitedUntil: '2030-01-01T00:00:00.000Z',
    paused: false,
    drained: false,
    consecutiveFailures: 0,
  };

  it('offers the choices and shows the task and the agents now', () => {
    const prompt = classifierPrompt({ agent: 'claude', name: 'Fix typo', instructions: 'teh → the' }, CLAUDE, [claude]);
    expect(prompt).toContain('Offered models, small to large: haiku, sonnet, opus (or "default")');
    expect(prompt).toContain('- claude: 2/2 slots in use, 3 waiting, rate-limited until 2030-01-01T00:00:00.000Z');
    expect(prompt).toContain('Task name: Fix typo');
    expect(prompt).toContain('teh → the');
  });

  it('says when the agents state is unknown, and cuts very long instructions', () => {
    const prompt = classifierPrompt({ agent: 'gemini', name: 'n', instructions: 'y'.repeat(9_000) }, ['flash']);
    expect(prompt).toContain('(unknown: the agent pool did not answer)');
    expect(prompt).toContain('[… 1000 more characters]');
    expect(prompt.length).toBeLessThan(8_500);
  });
});

describe('classifier configuration', () => {
  it('is off unless CLAUDOMATOR_CLASSIFIER_MODEL is set', () => {
    expect(loadConfig({ ANTHROPIC_API_KEY: 'k' }).classifier).toBeUndefined();
  });

  it('takes the key and base URL from its own variables, else the ANTHROPIC_ ones', () => {
    expect(
      loadConfig({
        CLAUDOMATOR_CLASSIFIER_MODEL: 'claude-haiku-4-5',
        ANTHROPIC_API_KEY: 'agents-key',
        ANTHROPIC_BASE_URL: 'http://proxy.local:8080/',
      }).classifier,
    ).toEqual({
      model: 'claude-haiku-4-5',
      apiKey: 'agents-key',
      baseUrl: 'http://proxy.local:8080',
      timeoutMs: 8_000,
    });
    expect(
      loadConfig({
        CLAUDOMATOR_CLASSIFIER_MODEL: 'm',
        CLAUDOMATOR_CLASSIFIER_API_KEY: 'own-key',
        CLAUDOMATOR_CLASSIFIER_BASE_URL: 'https://api.example.com',
        CLAUDOMATOR_CLASSIFIER_TIMEOUT: '3s',
        ANTHROPIC_API_KEY: 'agents-key',
      }).classifier,
    ).toEqual({ model: 'm', apiKey: 'own-key', baseUrl: 'https://api.example.com', timeoutMs: 3_000 });
  });

  it('refuses a missing key, a bad URL and a timeout the workflow would cut, naming each variable', () => {
    let error: unknown;
    try {
      loadConfig({
        CLAUDOMATOR_CLASSIFIER_MODEL: 'claude-haiku-4-5',
        CLAUDOMATOR_CLASSIFIER_BASE_URL: 'ftp://x',
        CLAUDOMATOR_CLASSIFIER_TIMEOUT: '30s',
      });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems.map((p) => p.variable).sort()).toEqual([
      'CLAUDOMATOR_CLASSIFIER_API_KEY',
      'CLAUDOMATOR_CLASSIFIER_BASE_URL',
      'CLAUDOMATOR_CLASSIFIER_TIMEOUT',
    ]);
    expect((error as Error).message).toContain('at most 9s');
  });
});
