import { mulDivHalfUp } from '../ledger/money.js';
import type { ChatModel, EmbeddingModel, GenerationModel } from './catalog.js';

const MILLION = 1_000_000n;

export interface TokenUsage {
  promptTokens: number;
  completionTokens: number;
  /** Of promptTokens, those read from the provider's prompt cache. */
  cachedTokens?: number;
  /** Of promptTokens, those written to the provider's prompt cache. */
  cacheWriteTokens?: number;
}

export type ChatRates = Pick<ChatModel, 'input_nanos_per_million' | 'output_nanos_per_million'> &
  Partial<Pick<ChatModel, 'cached_input_nanos_per_million' | 'cache_write_nanos_per_million'>>;

/**
 * The seed's formula, exactly: in × in_rate + out × out_rate over one million, rounded half-up
 * once per request (never per side, so two half-nanos do not become two nanos). Prompt tokens the
 * provider served from (or wrote to) its cache are priced at the catalog's cache rates, so the
 * charge follows what the provider bills; a model without them prices every prompt token alike.
 */
export function chatCost(model: ChatRates, usage: TokenUsage): bigint {
  const prompt = whole(usage.promptTokens, 'promptTokens');
  const completion = whole(usage.completionTokens, 'completionTokens');
  // An upstream that reports more cached tokens than prompt tokens is not believed past the prompt.
  const cached = min(whole(usage.cachedTokens, 'cachedTokens'), prompt);
  const written = min(whole(usage.cacheWriteTokens, 'cacheWriteTokens'), prompt - cached);
  const numerator =
    (prompt - cached - written) * model.input_nanos_per_million +
    cached * (model.cached_input_nanos_per_million ?? model.input_nanos_per_million) +
    written * (model.cache_write_nanos_per_million ?? model.input_nanos_per_million) +
    completion * model.output_nanos_per_million;
  return mulDivHalfUp(numerator, 1n, MILLION);
}

function whole(n: number | undefined, name: string): bigint {
  if (n !== undefined && (!Number.isSafeInteger(n) || n < 0)) throw new RangeError(`${name} must be a non-negative integer`);
  return BigInt(n ?? 0);
}

function min(a: bigint, b: bigint): bigint {
  return a < b ? a : b;
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
