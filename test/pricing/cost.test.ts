import { describe, expect, it } from 'vitest';
import { parseUsd } from '../../src/ledger/money.js';
import { defaultCatalog } from '../../src/pricing/catalog.js';
import { affordableOutputTokens, chatCost, embeddingCost, generationCost } from '../../src/pricing/cost.js';

const catalog = defaultCatalog();

describe('pricing', () => {
  it("bills the seed's worked example exactly: gpt-5.2, 500 in / 200 out = $0.0011025", () => {
    const model = catalog.chat('gpt-5.2')!;
    expect(model.input_nanos_per_million).toBe(parseUsd('0.525'));
    expect(model.output_nanos_per_million).toBe(parseUsd('4.200'));
    expect(chatCost(model, { promptTokens: 500, completionTokens: 200 })).toBe(1_102_500n);
  });

  it('rounds half up once per request, not per side', () => {
    // 1 token in at 0.5 n$/token and 1 token out at 0.5 n$/token: 1 n$ total, not 2 (per-side rounding) or 0.
    const model = { input_nanos_per_million: 500_000n, output_nanos_per_million: 500_000n };
    expect(chatCost(model, { promptTokens: 1, completionTokens: 1 })).toBe(1n);
    expect(chatCost(model, { promptTokens: 1, completionTokens: 0 })).toBe(1n); // 0.5 rounds up
    expect(chatCost({ input_nanos_per_million: 499_999n, output_nanos_per_million: 0n }, { promptTokens: 1, completionTokens: 0 })).toBe(0n);
  });

  it('prices cached prompt tokens at the catalog’s cache rates, in one rounding', () => {
    const claude = catalog.chat('claude-opus-4.5')!;
    // 1000 prompt tokens of which 600 read from cache and 300 written: 100 × 1.5 + 600 × 0.15 + 300 × 1.875 + 50 × 7.5 $/M.
    expect(chatCost(claude, { promptTokens: 1000, cachedTokens: 600, cacheWriteTokens: 300, completionTokens: 50 })).toBe(
      (100n * 1_500_000_000n + 600n * 150_000_000n + 300n * 1_875_000_000n + 50n * 7_500_000_000n) / 1_000_000n,
    );
    const gpt = catalog.chat('gpt-5.2')!;
    expect(chatCost(gpt, { promptTokens: 1000, cachedTokens: 1000, completionTokens: 0 })).toBe(52_500n);
  });

  it('prices cached tokens as plain input where the catalog has no cache rate, and never believes more cached than prompt tokens', () => {
    const llama = catalog.chat('llama-3.3-70b-instruct')!;
    expect(chatCost(llama, { promptTokens: 1000, cachedTokens: 900, completionTokens: 10 })).toBe(chatCost(llama, { promptTokens: 1000, completionTokens: 10 }));
    const gpt = catalog.chat('gpt-5.2')!;
    expect(chatCost(gpt, { promptTokens: 10, cachedTokens: 50, completionTokens: 0 })).toBe(chatCost(gpt, { promptTokens: 10, cachedTokens: 10, completionTokens: 0 }));
  });

  it('charges $0.21 per delivered generation for the three media models', () => {
    for (const id of ['nano-banana-2', 'nano-banana-pro', 'veo-3.1']) {
      const m = catalog.generation(id)!;
      expect(m, id).toBeDefined();
      expect(generationCost(m)).toBe(parseUsd('0.21'));
    }
    expect(generationCost(catalog.generation('nano-banana-2')!, 3)).toBe(parseUsd('0.63'));
    expect(generationCost(catalog.generation('veo-3.1')!, 0)).toBe(0n);
  });

  it('prices embeddings per input token, rounded half up once', () => {
    const small = catalog.embedding('text-embedding-3-small')!;
    expect(small.input_nanos_per_million).toBe(parseUsd('0.006'));
    expect(embeddingCost(small, 1_000_000)).toBe(parseUsd('0.006'));
    expect(embeddingCost(catalog.embedding('text-embedding-3-large')!, 1234)).toBe(48_126n);
    expect(embeddingCost({ input_nanos_per_million: 1_500_000n }, 1)).toBe(2n); // 1.5 rounds up
    expect(embeddingCost({ input_nanos_per_million: 1_499_999n }, 1)).toBe(1n);
    expect(catalog.embedding('gpt-5.2')).toBeUndefined();
    expect(catalog.chat('text-embedding-3-small')).toBeUndefined();
    expect(catalog.generation('bge-m3')).toBeUndefined();
  });

  it('lists a realistic catalog of GPT-5, Claude, Gemini and open-weight chat models', () => {
    const families = new Set(catalog.models.filter((m) => m.kind === 'chat').map((m) => m.family));
    expect([...families].sort()).toEqual(['anthropic', 'google', 'open-weight', 'openai']);
    expect(catalog.chat('veo-3.1')).toBeUndefined();
    expect(catalog.generation('gpt-5.2')).toBeUndefined();
  });

  it('finds the largest affordable completion for a budget', () => {
    const model = catalog.chat('gpt-5.2')!;
    const budget = parseUsd('0.0011025');
    expect(affordableOutputTokens(model, 500, budget)).toBe(200);
    expect(affordableOutputTokens(model, 500, budget - 1n)).toBe(199);
    expect(affordableOutputTokens(model, 500, parseUsd('0.0002'))).toBe(-1);
    expect(affordableOutputTokens(model, 0, parseUsd('1000'))).toBe(model.max_output_tokens);
  });

  it('refuses negative or fractional token counts', () => {
    const model = catalog.chat('gpt-5.2')!;
    expect(() => chatCost(model, { promptTokens: -1, completionTokens: 0 })).toThrow(RangeError);
    expect(() => chatCost(model, { promptTokens: 1.5, completionTokens: 0 })).toThrow(RangeError);
  });
});
