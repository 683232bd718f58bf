import { chatCost } from '../pricing/cost.js';
import type { ChatModel } from '../pricing/catalog.js';

type Rates = Pick<ChatModel, 'input_nanos_per_million' | 'output_nanos_per_million' | 'max_output_tokens'> &
  Partial<Pick<ChatModel, 'cache_write_nanos_per_million'>>;

export interface HoldPlanInput {
  model: Rates;
  /** An upper bound of the prompt's tokens (see prompt-bound.ts). */
  promptTokenBound: number;
  /** The caller's `max_completion_tokens` / `max_tokens`, per choice; undefined when not given. */
  requestedMaxTokens: number | undefined;
  /** `n`: the upstream bills the prompt once and the completion tokens of every choice. */
  choices: number;
  available: bigint;
}

export type HoldPlan =
  | {
      affordable: true;
      /** The per-choice limit to send upstream: the caller's, or lower when the balance cannot cover it. */
      maxTokens: number;
      /** The worst-case cost of the request with that limit: the amount to hold. */
      amount: bigint;
    }
  | {
      affordable: false;
      reason: 'balance';
      /** The least a request of this prompt could cost: the prompt and one token per choice. */
      required: bigint;
    }
  | {
      affordable: false;
      /** The caller asked for more output than the balance covers: refused, never silently cut. */
      reason: 'max_tokens';
      requestedMaxTokens: number;
      /** The most the balance affords per choice (at least 1). */
      affordableMaxTokens: number;
      /** The worst case of the request as asked. */
      required: bigint;
    };

/**
 * What to hold before forwarding a chat request: its worst case. A caller who set no output limit
 * gets the limit lowered until the worst case fits the available balance; a caller who set one is
 * refused rather than cut short (a limit cut silently halves tool-call JSON). Refused too when not
 * even the prompt and a single output token per choice fit.
 */
export function planHold(input: HoldPlanInput): HoldPlan {
  const { promptTokenBound, choices, available } = input;
  // A prompt written to the provider's cache can cost more than plain input: the worst case
  // assumes every prompt token is priced at the dearer of the two.
  const write = input.model.cache_write_nanos_per_million;
  const model = write !== undefined && write > input.model.input_nanos_per_million ? { ...input.model, input_nanos_per_million: write } : input.model;
  const worstCase = (perChoice: number) => chatCost(model, { promptTokens: promptTokenBound, completionTokens: perChoice * choices });

  const ceiling = Math.min(input.requestedMaxTokens ?? model.max_output_tokens, model.max_output_tokens);
  const atCeiling = worstCase(ceiling);
  if (atCeiling <= available) return { affordable: true, maxTokens: ceiling, amount: atCeiling };

  // Search the exact limit: inverting the half-up rounded formula would be off by one at the edges.
  let lo = 0;
  let hi = ceiling;
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    if (worstCase(mid) <= available) lo = mid;
    else hi = mid - 1;
  }
  if (lo < 1) return { affordable: false, reason: 'balance', required: worstCase(1) };
  if (input.requestedMaxTokens !== undefined) {
    return { affordable: false, reason: 'max_tokens', requestedMaxTokens: ceiling, affordableMaxTokens: lo, required: atCeiling };
  }
  return { affordable: true, maxTokens: lo, amount: worstCase(lo) };
}
