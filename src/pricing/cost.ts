import { mulDivHalfUp } from '../ledger/money.js';
import type { ChatModel, EmbeddingModel, GenerationModel } from './catalog.js';

const MILLION = 1_000_000n;

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
}

/**
 * The seed's formula, exactly: in × in_rate + out × out_rate over one million, rounded half-up
 * once per request (never per side, so two half-nanos do not become two nanos).
 */
export function chatCost(model: Pick<ChatModel, 'input_nanos_per_million' | 'output_nanos_per_million'>, usage: TokenUsage): bigint {
  if (!Number.isSafeInteger(usage.promptTokens) || usage.promptTokens < 0) throw new RangeError('promptTokens must be a non-negative integer');
  if (!Number.isSafeInteger(usage.completionTokens) || usage.completionTokens < 0) throw new RangeError('completionTokens must be a non-negative integer');
  const numerator =
    BigInt(usage.promptTokens) * model.input_nanos_per_million + BigInt(usage.completionTokens) * model.output_nanos_per_million;
  return mulDivHalfUp(numerator, 1n, MILLION);
}

/** Input tokens only, over one million, rounded half-up once per request. */
export function embeddingCost(model: Pick<EmbeddingModel, 'input_nanos_per_million'>, promptTokens: number): bigint {
  return chatCost({ input_nanos_per_million: model.input_nanos_per_million, output_nanos_per_million: 0n }, { promptTokens, completionTokens: 0 });
}

/** Flat fee per delivered asset; failed generations are never passed here. */
export function generationCost(model: Pick<GenerationModel, 'per_generation_nanos'>, delivered = 1): bigint {
  if (!Number.isSafeInteger(delivered) || delivered < 0) throw new RangeError('delivered must be a non-negative integer');
  return model.per_generation_nanos * BigInt(delivered);
}

/**
 * Largest number of output tokens whose cost, with the given prompt, fits in `budget`.
 * Returns -1 when not even the prompt fits.
 */
export function affordableOutputTokens(model: ChatModel, promptTokens: number, budget: bigint): number {
  const promptCost = chatCost(model, { promptTokens, completionTokens: 0 });
  if (promptCost > budget) return -1;
  if (model.output_nanos_per_million === 0n) return model.max_output_tokens;
  // Search the exact bound rather than invert the rounded formula: rounding makes inversion off by one.
  let lo = 0;
  let hi = model.max_output_tokens;
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    if (chatCost(model, { promptTokens, completionTokens: mid }) <= budget) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}
