import type { ChatModel } from '../pricing/catalog.js';
import { chatCost } from '../pricing/cost.js';
import type { BillableUsage } from './completion-tally.js';

export interface Settlement {
  promptTokens: number;
  completionTokens: number;
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
  model: Pick<ChatModel, 'input_nanos_per_million' | 'output_nanos_per_million'>,
  usage: BillableUsage,
  held: bigint,
): Settlement {
  const cost = chatCost(model, usage);
  return {
    promptTokens: usage.promptTokens,
    completionTokens: usage.completionTokens,
    cost,
    charge: cost < held ? cost : held,
  };
}
