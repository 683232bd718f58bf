import { describe, expect, it } from 'vitest';
import { defaultCatalog } from '../../src/pricing/catalog.js';

const catalog = defaultCatalog();

describe('catalog chat model ids and aliases', () => {
  it.each([
    ['openai/gpt-5.2', 'gpt-5.2'],
    ['anthropic/claude-opus-4.5', 'claude-opus-4.5'],
    ['google/gemini-3-pro', 'gemini-3-pro'],
    ['meta-llama/llama-3.3-70b-instruct', 'llama-3.3-70b-instruct'],
    ['gpt-5.2', 'gpt-5.2'],
  ])('resolves %s to %s', (alias, id) => {
    expect(catalog.chat(alias)?.id).toBe(id);
  });

  it.each(['anthropic/gpt-5.2', 'openai/', '/gpt-5.2', 'google/veo-3.1', 'openai/no-such-model'])('does not resolve %s', (alias) => {
    expect(catalog.chat(alias)).toBeUndefined();
  });
});
