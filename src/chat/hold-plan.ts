import { chatCost } from '../pricing/cost.js';
import type { ChatModel } from '../pricing/catalog.js';

type Rates = Pick<ChatModel, 'input_nanos_per_million' | 'output_nanos_per_million' | 'max_output_tokens'>;

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
      /** The least a request of this prompt could cost: the prompt and one token per choice. */
      required: bigint;
    };

/**
 * What to hold before forwarding a chat request: its worst case, with `max_tokens` lowered until
 * that worst case fits the available balance. Refused when not even the prompt and a single output
 * token per choice fit.
 */
export function planHold(input: HoldPlanInput): HoldPlan {
  const { model, promptTokenBound, choices, available } = input;
  const worstCase = (perChoice: number) =>
    chatCost(model, { promptTokens: promptTokenBound, completionTokens: perChoice * choices });

  const ceiling = Math.min(input.requestedMaxTokens ?? model.max_output_tokens, model.max_output_tokens);
  if (worstCase(ceiling) <= available) return { affordable: true, maxTokens: ceiling, amount: worstCase(ceiling) };

  // Search the exact limit: inverting the half-up rounded formula would be off by one at the edges.
  let lo = 0;
  let hi = ceiling;
  while (lo < hi) {
    const mid = Math.floor((lo + hi + 1) / 2);
    if (worstCase(mid) <= available) lo = mid;
    else hi = mid - 1;
  }
  if (lo < 1) return { affordable: false, required: worstCase(1) };
  return { affordable: true, maxTokens: lo, amount: worstCase(lo) };
}
