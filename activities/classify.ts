/**
 * The model classifier (the seed's `Classifier`): picks a model for a task that names none, from its
 * name and instructions. This one is a transparent rule set — light chores get the small model,
 * design-heavy work the large one, everything else the agent's default — behind an activity, so a
 * smarter classifier (an LLM call, say) can replace it without touching workflow code. A failure
 * here never fails a task: the workflow falls back to the agent's default model.
 */
import type { AgentType } from '../workflows/types.js';

const MODELS: Partial<Record<AgentType, { light: string; heavy: string }>> = {
  claude: { light: 'haiku', heavy: 'opus' },
  gemini: { light: 'flash', heavy: 'pro' },
};

const LIGHT = /\b(typo|rename|format(ting)?|lint|comment|docs?|readme|bump|version|changelog|spelling|whitespace)\b/i;
const HEAVY =
  /\b(architect(ure)?|design|redesign|rewrite|migrat(e|ion)|security|concurren(t|cy)|performance|refactor)\b/i;

export interface Classification {
  /** Absent: use the agent's default model. */
  model?: string;
  reason: string;
}

export function classify(agent: AgentType, name: string, instructions: string): Classification {
  const models = MODELS[agent];
  if (!models) return { reason: `${agent} has no model tiers: its default model` };
  const text = `${name}\n${instructions}`;
  const heavy = HEAVY.exec(text);
  if (heavy) return { model: models.heavy, reason: `mentions "${heavy[0]}": the large model` };
  const light = LIGHT.exec(text);
  if (light && instructions.length < 2_000)
    return { model: models.light, reason: `a light chore ("${light[0]}"): the small model` };
  return { reason: 'a standard task: the agent default' };
}

// eslint-disable-next-line @typescript-eslint/explicit-module-boundary-types -- inferred on purpose: workflows proxy this type
export function createClassifyActivities() {
  return {
    async classifyModel(input: { agent: AgentType; name: string; instructions: string }): Promise<Classification> {
      return Promise.resolve(classify(input.agent, input.name, input.instructions));
    },
  };
}
