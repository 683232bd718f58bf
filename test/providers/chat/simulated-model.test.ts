import { encode } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { countPromptTokens, simulateReply } from '../../../src/providers/chat/simulated-model.js';

const hello = [{ role: 'user', content: 'Hello' }];

describe('countPromptTokens', () => {
  it('counts a one-word user message as OpenAI does for GPT-4o-family models (8 tokens)', () => {
    expect(countPromptTokens(hello)).toBe(8);
  });

  it('adds the wrapping overhead per message, the name, and text parts', () => {
    const text = 'The quick brown fox jumps over the lazy dog.';
    const messages = [
      { role: 'system', content: 'Be brief.' },
      { role: 'user', name: 'ada', content: [{ type: 'text', text }] },
    ];
    const expected =
      3 + (3 + encode('system').length + encode('Be brief.').length) + (3 + encode('user').length + 1 + encode('ada').length + encode(text).length);
    expect(countPromptTokens(messages)).toBe(expected);
  });

  it('counts special-token strings in user text as plain text instead of failing', () => {
    expect(countPromptTokens([{ role: 'user', content: 'a <|endoftext|> b' }])).toBeGreaterThan(8);
  });
});

describe('simulateReply', () => {
  it('answers the same request with the same text, and another request with other text', () => {
    const a = simulateReply('m', hello, 0, undefined);
    expect(simulateReply('m', hello, 0, undefined)).toEqual(a);
    expect(simulateReply('m', [{ role: 'user', content: 'Hello!' }], 0, undefined).tokens).not.toEqual(a.tokens);
    expect(simulateReply('m', hello, 1, undefined).tokens).not.toEqual(a.tokens);
  });

  it('produces exactly as many tokens as the tokenizer finds in the text', () => {
    for (let i = 0; i < 300; i++) {
      const reply = simulateReply('m', [{ role: 'user', content: `prompt ${i}` }], 0, undefined, { min: 1, max: 400 });
      expect(encode(reply.tokens.join('')).length).toBe(reply.tokens.length);
    }
  });

  it('stops at max_tokens exactly with finish_reason "length", and otherwise stops on its own', () => {
    const natural = simulateReply('m', hello, 0, undefined, { min: 30, max: 30 });
    expect(natural).toMatchObject({ finishReason: 'stop' });
    expect(natural.tokens).toHaveLength(30);

    const cut = simulateReply('m', hello, 0, 7, { min: 30, max: 30 });
    expect(cut.finishReason).toBe('length');
    expect(cut.tokens).toEqual(natural.tokens.slice(0, 7));

    expect(simulateReply('m', hello, 0, 30, { min: 30, max: 30 }).finishReason).toBe('stop');
  });
});
