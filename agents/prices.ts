/**
 * Token prices for the CLIs that report tokens but no cost (Gemini, Codex), to estimate what a run spent
 * and to enforce a task's budget. List prices in US dollars per million tokens (2025); a model not in the
 * table is priced like the family's most expensive entry, so a budget is never enforced too loosely.
 */
import type { Transcript } from './adapter.js';

export interface TokenPrice {
  /** Matched against the start of the model name. */
  prefix: string;
  input: number;
  cachedInput: number;
  output: number;
}

/** Most specific prefixes first; the last entry is the family default. */
export const GEMINI_PRICES: readonly TokenPrice[] = [
  { prefix: 'gemini-2.5-flash-lite', input: 0.1, cachedInput: 0.025, output: 0.4 },
  { prefix: 'gemini-2.5-flash', input: 0.3, cachedInput: 0.075, output: 2.5 },
  { prefix: 'gemini-2.5-pro', input: 1.25, cachedInput: 0.31, output: 10 },
  { prefix: '', input: 2.5, cachedInput: 0.625, output: 15 },
];

export const CODEX_PRICES: readonly TokenPrice[] = [
  { prefix: 'gpt-5-nano', input: 0.05, cachedInput: 0.005, output: 0.4 },
  { prefix: 'gpt-5-mini', input: 0.25, cachedInput: 0.025, output: 2 },
  { prefix: 'o4-mini', input: 1.1, cachedInput: 0.275, output: 4.4 },
  { prefix: 'gpt-5', input: 1.25, cachedInput: 0.125, output: 10 },
  { prefix: '', input: 2, cachedInput: 0.5, output: 15 },
];

/** The estimated cost of the tokens in `t`; undefined when no tokens were reported. */
export function estimateCostUsd(t: Transcript, prices: readonly TokenPrice[]): number | undefined {
  if (t.inputTokens === 0 && t.outputTokens === 0) return undefined;
  const model = t.model ?? '';
  const price = prices.find((p) => model.startsWith(p.prefix)) ?? prices[prices.length - 1];
  if (price === undefined) return undefined;
  const uncached = Math.max(0, t.inputTokens - t.cachedInputTokens);
  const usd = (uncached * price.input + t.cachedInputTokens * price.cachedInput + t.outputTokens * price.output) / 1e6;
  return Math.round(usd * 1e6) / 1e6;
}
