import { describe, expect, it } from 'vitest';
import { defaultCatalog, parseCatalog } from '../../src/pricing/catalog.js';

const catalog = defaultCatalog();

describe('catalog chat model ids and aliases', () => {
  it.each([
    ['openai/gpt-5.2', 'gpt-5.2'],
    ['anthropic/claude-opus-4.5', 'claude-opus-4.5'],
    ['google/gemini-3-pro', 'gemini-3-pro'],
    ['meta-llama/llama-3.3-70b-instruct', 'llama-3.3-70b-instruct'],
    ['gpt-5.2', 'gpt-5.2'],
    ['gpt-5.2-2025-12-11', 'gpt-5.2'],
    ['claude-sonnet-4-5-20250929', 'claude-sonnet-4.5'],
    ['claude-opus-4-5', 'claude-opus-4.5'],
    ['anthropic/claude-haiku-4-5-20251001', 'claude-haiku-4.5'],
    ['gemini-3-pro-preview', 'gemini-3-pro'],
  ])('resolves %s to %s', (alias, id) => {
    expect(catalog.chat(alias)?.id).toBe(id);
  });

  it.each(['anthropic/gpt-5.2', 'openai/claude-opus-4-5', 'gpt-5.2-2025-12-12', 'openai/', '/gpt-5.2', 'google/veo-3.1', 'openai/no-such-model'])('does not resolve %s', (alias) => {
    expect(catalog.chat(alias)).toBeUndefined();
  });
});

describe('catalog snapshot aliases', () => {
  const chat = (id: string, aliases: string[]) => ({
    id, kind: 'chat', family: 'openai', provider: 'upstream', upstream_model: id, aliases,
    input_nanos_per_million: 1, output_nanos_per_million: 1, context_window: 10, max_output_tokens: 5,
  });

  it('refuses an alias that is another model\u2019s id or alias, so no id can mean two models', () => {
    expect(() => parseCatalog({ version: 'v', models: [chat('a', ['b']), chat('b', [])] })).toThrow(/alias b of a/);
    expect(() => parseCatalog({ version: 'v', models: [chat('a', ['x']), chat('b', ['x'])] })).toThrow(/alias x of b/);
  });

  it('resolves only chat models through an alias', () => {
    const catalog = parseCatalog({ version: 'v', models: [chat('a', ['a-2025'])] });
    expect(catalog.chat('a-2025')?.id).toBe('a');
    expect(catalog.embedding('a-2025')).toBeUndefined();
  });
});
