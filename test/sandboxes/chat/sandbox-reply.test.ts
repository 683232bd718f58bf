import { encode } from 'gpt-tokenizer';
import { describe, expect, it } from 'vitest';
import { sandboxReply } from '../../../src/sandboxes/chat/sandbox-reply.js';

const hello = [{ role: 'user', content: 'Hello' }];

describe('sandboxReply', () => {
  it('answers the same request with the same text, and another request with other text', () => {
    const a = sandboxReply('m', hello, 0, undefined);
    expect(sandboxReply('m', hello, 0, undefined)).toEqual(a);
    expect(sandboxReply('m', [{ role: 'user', content: 'Hello!' }], 0, undefined).tokens).not.toEqual(a.tokens);
    expect(sandboxReply('m', hello, 1, undefined).tokens).not.toEqual(a.tokens);
  });

  it('produces exactly as many tokens as the tokenizer finds in the text', () => {
    for (let i = 0; i < 300; i++) {
      const reply = sandboxReply('m', [{ role: 'user', content: `prompt ${i}` }], 0, undefined, { min: 1, max: 400 });
      expect(encode(reply.tokens.join('')).length).toBe(reply.tokens.length);
    }
  });

  it('stops at max_tokens exactly with finish_reason "length", and otherwise stops on its own', () => {
    const natural = sandboxReply('m', hello, 0, undefined, { min: 30, max: 30 });
    expect(natural).toMatchObject({ finishReason: 'stop' });
    expect(natural.tokens).toHaveLength(30);

    const cut = sandboxReply('m', hello, 0, 7, { min: 30, max: 30 });
    expect(cut.finishReason).toBe('length');
    expect(cut.tokens).toEqual(natural.tokens.slice(0, 7));

    expect(sandboxReply('m', hello, 0, 30, { min: 30, max: 30 }).finishReason).toBe('stop');
  });
});
