/**
 * The model classifier: picks the model of a task that names none. A small model
 * (CLAUDOMATOR_CLASSIFIER_MODEL, through the Anthropic Messages API) reads the task's name and
 * instructions and the agents' state from the pool, and answers with one of the granted agent's models
 * and a reason; both are recorded on the execution. Off unless configured.
 *
 * It never fails a task: an HTTP error, a timeout or a reply that is not one of the offered models is
 * logged and gives the agent's default model, with the reason "classifier failed: …".
 */
import Anthropic from '@anthropic-ai/sdk';
import { Context, log } from '@temporalio/activity';
import { getAgentStatuses, poolTarget } from '../infra/agent-pool.js';
import type { ClassifierConfig, Config } from '../infra/config.js';
import type { AgentStatus, AgentType } from '../workflows/types.js';

/** The models the classifier may pick per agent, small to large (aliases the agent CLIs accept). */
export const MODEL_CHOICES: Partial<Record<AgentType, readonly string[]>> = {
  claude: ['haiku', 'sonnet', 'opus'],
  gemini: ['flash-lite', 'flash', 'pro'],
};

/** The reply word for "the agent's own default model". */
const DEFAULT_CHOICE = 'default';
/** Instructions longer than this are cut for the classifier: the start says what kind of work it is. */
const MAX_INSTRUCTIONS = 8_000;
const MAX_REASON = 300;
/** How long the classifier waits for the pool's state before going on without it (part of its timeout). */
const POOL_QUERY_TIMEOUT_MS = 1_000;

export interface Classification {
  /** Absent: use the agent's default model. */
  model?: string;
  reason: string;
}

export interface ClassifyInput {
  agent: AgentType;
  name: string;
  instructions: string;
}

/** A reply that is not what the classifier was asked for; the message says what was wrong. */
export class ClassifierReplyError extends Error {
  override readonly name = 'ClassifierReplyError';
}

export const CLASSIFIER_SYSTEM_PROMPT = `You choose the model a coding agent runs a task with.
Light, mechanical work (a typo, a rename, formatting, docs, a version bump) gets the smallest model; ordinary
features and bug fixes the middle one; hard work (architecture, a large refactor, concurrency, security, a
subtle bug) the largest. When the agent has tasks waiting, lean towards a faster model unless the task needs
a large one. Answer with one JSON object and nothing else:
{"model": "<one of the offered models, or \\"default\\" for the agent's own default>", "reason": "<one short sentence>"}`;

/** The user message: the choices, the agents' state (when known) and the task. */
export function classifierPrompt(input: ClassifyInput, choices: readonly string[], agents?: AgentStatus[]): string {
  const instructions =
    input.instructions.length > MAX_INSTRUCTIONS
      ? `${input.instructions.slice(0, MAX_INSTRUCTIONS)}\n[… ${input.instructions.length - MAX_INSTRUCTIONS} more characters]`
      : input.instructions;
  return [
    `Agent: ${input.agent}. Offered models, small to large: ${choices.join(', ')} (or "${DEFAULT_CHOICE}").`,
    '',
    'Agents now:',
    ...(agents === undefined ? ['(unknown: the agent pool did not answer)'] : agents.map(describeAgent)),
    '',
    `Task name: ${input.name}`,
    'Instructions:',
    instructions,
  ].join('\n');
}

function describeAgent(s: AgentStatus): string {
  const state = [
    `${s.activeTasks}/${s.limit} slots in use`,
    `${s.waiting} waiting`,
    ...(s.rateLimited ? [`rate-limited until ${s.rateLimitedUntil ?? '?'}`] : []),
    ...(s.paused ? ['paused'] : []),
    ...(s.drained ? ['drained'] : []),
  ];
  return `- ${s.agent}: ${state.join(', ')}`;
}

/**
 * The classifier's reply as a classification: one JSON object (a code fence or words around it are
 * tolerated) whose `model` is one of `choices` or "default" and whose `reason` is a non-empty text.
 */
export function parseClassifierReply(text: string, choices: readonly string[]): Classification {
  const start = text.indexOf('{');
  const end = text.lastIndexOf('}');
  const quoted = JSON.stringify(oneLine(text, 120));
  if (start < 0 || end < start) throw new ClassifierReplyError(`the reply holds no JSON object: ${quoted}`);
  let reply: unknown;
  try {
    reply = JSON.parse(text.slice(start, end + 1));
  } catch {
    throw new ClassifierReplyError(`the reply is not valid JSON: ${quoted}`);
  }
  if (typeof reply !== 'object' || reply === null || Array.isArray(reply)) {
    throw new ClassifierReplyError(`the reply is not a JSON object: ${quoted}`);
  }
  const { model, reason } = reply as Record<string, unknown>;
  const allowed = [...choices, DEFAULT_CHOICE];
  const picked = typeof model === 'string' ? allowed.find((c) => c === model.trim().toLowerCase()) : undefined;
  if (picked === undefined) {
    throw new ClassifierReplyError(
      `"model" must be one of ${allowed.join(', ')}; the reply has ${JSON.stringify(model) ?? 'none'}`,
    );
  }
  if (typeof reason !== 'string' || reason.trim() === '') {
    throw new ClassifierReplyError(
      `"reason" must be a non-empty text; the reply has ${JSON.stringify(reason) ?? 'none'}`,
    );
  }
  return { ...(picked === DEFAULT_CHOICE ? {} : { model: picked }), reason: oneLine(reason, MAX_REASON) };
}

/** Ask the classifier model; throws on an HTTP error, no answer within `timeoutMs`, or a bad reply. */
export async function askClassifier(
  classifier: ClassifierConfig,
  input: ClassifyInput,
  choices: readonly string[],
  agents?: AgentStatus[],
  timeoutMs = classifier.timeoutMs,
): Promise<Classification> {
  const client = new Anthropic({
    apiKey: classifier.apiKey,
    baseURL: classifier.baseUrl ?? 'https://api.anthropic.com',
    timeout: timeoutMs,
    // One attempt: the task is waiting, and the fallback (the agent's default model) is a fine answer.
    maxRetries: 0,
  });
  let message: Anthropic.Message;
  try {
    message = await client.messages.create({
      model: classifier.model,
      max_tokens: 200,
      system: CLASSIFIER_SYSTEM_PROMPT,
      messages: [{ role: 'user', content: classifierPrompt(input, choices, agents) }],
    });
  } catch (err) {
    if (err instanceof Anthropic.APIConnectionTimeoutError) {
      throw new Error(`no answer within ${timeoutMs} ms`, { cause: err });
    }
    if (err instanceof Anthropic.APIError && err.status !== undefined) {
      throw new Error(`HTTP ${err.status} from ${client.baseURL}: ${oneLine(err.message, 200)}`, { cause: err });
    }
    throw err;
  }
  const text = message.content.flatMap((block) => (block.type === 'text' ? [block.text] : [])).join('\n');
  return parseClassifierReply(text, choices);
}

export interface ClassifyDeps {
  config: Readonly<Config>;
  /** The agents' state; default: the pool's answer through the worker's Temporal client. */
  agentStatuses?: () => Promise<AgentStatus[]>;
}

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createClassifyActivities(deps: ClassifyDeps) {
  const agentStatuses =
    deps.agentStatuses ??
    (() => {
      const client = Context.current().client;
      return client.withDeadline(Date.now() + POOL_QUERY_TIMEOUT_MS, () =>
        getAgentStatuses(client, poolTarget(deps.config)),
      );
    });
  return {
    /** Never throws for a classifier failure: the answer then has no model and says why. */
    async classifyModel(input: ClassifyInput): Promise<Classification> {
      const { classifier } = deps.config;
      if (!classifier) return { reason: "no classifier configured: the agent's default" };
      const choices = MODEL_CHOICES[input.agent];
      if (!choices) return { reason: `${input.agent} has no models to choose from: its default` };
      // One budget for both steps: the workflow gives this local activity 10 s, the configuration at most 9.
      const deadline = Date.now() + classifier.timeoutMs;
      const agents = await agentStatuses().catch((err: unknown) => {
        log.warn('Classifying without the agents state: the pool did not answer', { error: errorText(err) });
        return undefined;
      });
      try {
        const remaining = Math.max(deadline - Date.now(), 1);
        const classification = await askClassifier(classifier, input, choices, agents, remaining);
        log.info('Task classified', { task: input.name, agent: input.agent, ...classification });
        return classification;
      } catch (err) {
        const error = errorText(err);
        log.warn("Classifier failed; the agent's default model is used", { task: input.name, error });
        return { reason: `classifier failed: ${oneLine(error, MAX_REASON)}` };
      }
    },
  };
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function oneLine(text: string, max: number): string {
  const flat = text.replace(/\s+/g, ' ').trim();
  return flat.length > max ? `${flat.slice(0, max - 1)}…` : flat;
}
