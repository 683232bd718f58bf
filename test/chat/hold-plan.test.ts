import { describe, expect, it } from 'vitest';
import { planHold } from '../../src/chat/hold-plan.js';
import { parseUsd } from '../../src/ledger/money.js';
import { chatCost } from '../../src/pricing/cost.js';

// gpt-5.2's published rates: $0.525 in, $4.20 out per million tokens.
const gpt52 = { input_nanos_per_million: 525_000_000n, output_nanos_per_million: 4_200_000_000n, max_output_tokens: 128_000 };

describe('planHold', () => {
  it('holds the worst case of the caller\'s own max_tokens when the balance covers it', () => {
    const plan = planHold({ model: gpt52, promptTokenBound: 500, requestedMaxTokens: 200, choices: 1, available: parseUsd('10') });
    expect(plan).toEqual({ affordable: true, maxTokens: 200, amount: 1_102_500n });
  });

  it('without max_tokens, holds for the model\'s longest answer when affordable', () => {
    const plan = planHold({ model: gpt52, promptTokenBound: 500, requestedMaxTokens: undefined, choices: 1, available: parseUsd('10') });
    expect(plan).toMatchObject({ affordable: true, maxTokens: 128_000 });
  });

  it('without max_tokens, limits the output to exactly what the available balance affords', () => {
    const available = 1_000_000n; // $0.001
    const plan = planHold({ model: gpt52, promptTokenBound: 500, requestedMaxTokens: undefined, choices: 1, available });
    expect(plan.affordable).toBe(true);
    if (!plan.affordable) return;
    expect(plan.amount).toBeLessThanOrEqual(available);
    expect(chatCost(gpt52, { promptTokens: 500, completionTokens: plan.maxTokens + 1 })).toBeGreaterThan(available);
    expect(plan.maxTokens).toBe(175);
  });

  it('refuses a max_tokens the balance cannot cover, saying how many it can, instead of cutting it', () => {
    const plan = planHold({ model: gpt52, promptTokenBound: 500, requestedMaxTokens: 4000, choices: 1, available: 1_000_000n });
    expect(plan).toEqual({
      affordable: false,
      reason: 'max_tokens',
      requestedMaxTokens: 4000,
      affordableMaxTokens: 175,
      required: chatCost(gpt52, { promptTokens: 500, completionTokens: 4000 }),
    });
  });

  it('holds a prompt at the cache-write rate when that is dearer than plain input', () => {
    const claude = { input_nanos_per_million: 1_000_000_000n, output_nanos_per_million: 5_000_000_000n, cache_write_nanos_per_million: 1_250_000_000n, max_output_tokens: 1000 };
    const plan = planHold({ model: claude, promptTokenBound: 1000, requestedMaxTokens: 10, choices: 1, available: parseUsd('10') });
    expect(plan).toMatchObject({ affordable: true, amount: chatCost({ ...claude, input_nanos_per_million: 1_250_000_000n }, { promptTokens: 1000, completionTokens: 10 }) });
  });

  it('spreads the affordable output over n choices', () => {
    const one = planHold({ model: gpt52, promptTokenBound: 500, requestedMaxTokens: undefined, choices: 1, available: 1_000_000n });
    const three = planHold({ model: gpt52, promptTokenBound: 500, requestedMaxTokens: undefined, choices: 3, available: 1_000_000n });
    expect(one.affordable && three.affordable).toBe(true);
    if (!one.affordable || !three.affordable) return;
    expect(three.maxTokens).toBe(Math.floor(one.maxTokens / 3));
    expect(three.amount).toBe(chatCost(gpt52, { promptTokens: 500, completionTokens: three.maxTokens * 3 }));
  });

  it('refuses when not even the prompt and one token fit, saying what the least request costs', () => {
    const promptOnly = chatCost(gpt52, { promptTokens: 500, completionTokens: 0 });
    const plan = planHold({ model: gpt52, promptTokenBound: 500, requestedMaxTokens: 10, choices: 1, available: promptOnly });
    expect(plan).toEqual({ affordable: false, reason: 'balance', required: chatCost(gpt52, { promptTokens: 500, completionTokens: 1 }) });
    expect(planHold({ model: gpt52, promptTokenBound: 500, requestedMaxTokens: 10, choices: 1, available: 0n }).affordable).toBe(false);
  });

  it('never plans a hold above the available balance, whatever the balance', () => {
    for (let available = 0n; available < 3_000_000n; available += 7_919n) {
      const plan = planHold({ model: gpt52, promptTokenBound: 321, requestedMaxTokens: undefined, choices: 2, available });
      if (plan.affordable) {
        expect(plan.amount).toBeLessThanOrEqual(available);
        expect(plan.amount).toBe(chatCost(gpt52, { promptTokens: 321, completionTokens: plan.maxTokens * 2 }));
      } else {
        expect(plan.required).toBeGreaterThan(available);
      }
    }
  });
});
