/**
 * The adapters by agent type. An unknown type is a configuration error, not a crash: the runner turns it
 * into a non-retryable failure naming the types there are.
 */
import { AGENT_TYPES, type AgentType } from '../workflows/types.js';
import { type AgentAdapter, AgentConfigError } from './adapter.js';
import { claudeAdapter } from './claude.js';
import { codexAdapter } from './codex.js';
import { commandAdapter } from './command.js';
import { geminiAdapter } from './gemini.js';

export const adapters: Readonly<Record<AgentType, AgentAdapter>> = {
  claude: claudeAdapter,
  gemini: geminiAdapter,
  codex: codexAdapter,
  command: commandAdapter,
};

export function adapterFor(agent: string): AgentAdapter {
  if (!(AGENT_TYPES as readonly string[]).includes(agent)) {
    throw new AgentConfigError(`agent "${agent}" is unknown: use one of ${AGENT_TYPES.join(', ')}`);
  }
  return adapters[agent as AgentType];
}
