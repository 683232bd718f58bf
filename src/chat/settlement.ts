import { chatCost, type ChatRates } from '../pricing/cost.js';
import type { BillableUsage } from './completion-tally.js';

export interface Settlement {
  promptTokens: number;
  completionTokens: number;
  /** Of promptTokens, read from the provider's cache (priced at the cached rate); 0 when none reported. */
  cachedTokens: number;
  /** Of promptTokens, written to the provider's cache (priced at the cache-write rate). */
  cacheWriteTokens: number;
  /** The exact price of the usage at the model's rates. */
  cost: bigint;
  /** What is taken from the hold: the cost, but never more than was held. */
  charge: bigint;
}

/**
 * The hold is the most a request may take from the balance; an upstream that reports more than the
 * bound we held for (e.g. a template far bigger than its prompt) costs us the difference, never the
 * customer's other funds. Callers log a charge below the cost.
 */
export function settle(
  model: ChatRates,
  usage: BillableUsage,
  held: bigint,
): Settlement {
  const cost = chatCost(model, usage);
  // As chatCost believes them: never more cached or written tokens than the prompt had.
  const cachedTokens = Math.min(usage.cachedTokens ?? 0, usage.promptTokens);
  const cacheWriteTokens = Math.min(usage.cacheWriteTokens ?? 0, usage.promptTokens - cachedTokens);
  return {
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    cachedTokens,
    cacheWriteTokens,
    cost,
    charge: cost < held ? cost : held,
  };
}

/**
 * How an upstream call ended, for billing: the upstream finished its answer (whether or not the
 * caller was still there to read it); the caller left and the upstream was stopped at the drain
 * bound before it reported usage; or the upstream itself failed.
 */
export type CallEnding = 'finished' | 'client_left' | 'upstream_failed';

/**
 * Once the upstream accepted a request it bills us whether or not the caller still listens, so a
 * caller who left pays at least the prompt and what was generated, never nothing. Only the
 * upstream's own failure before any output is free: the caller got an error and nothing else.
 */
export function isBillable(ending: CallEnding, producedOutput: boolean): boolean {
  return ending !== 'upstream_failed' || producedOutput;
}
