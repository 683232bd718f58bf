import { encode } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { countPromptTokens } from '../../src/chat/tokens.js';

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
