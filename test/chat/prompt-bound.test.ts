import { describe, expect, it } from 'vitest';
import { IMAGE_PART_BOUND_TOKENS, promptTokenBound } from '../../src/chat/prompt-bound.js';
import { countPromptTokens } from '../../src/chat/tokens.js';

const texts = [
  'Hello',
  'The quick brown fox jumps over the lazy dog. '.repeat(40),
  'Grüße aus Köln — 日本語のテキスト 🙂🙂🙂',
  '{"a":[1,2,3],"b":"\\n\\t"}',
  'a <|endoftext|> b <|im_start|>',
  '           lots of    spaces      ',
];

describe('promptTokenBound', () => {
  it('is never below what a real tokenizer counts for the same messages', () => {
    for (const text of texts) {
      const messages = [
        { role: 'system', content: 'You are terse.' },
        { role: 'user', content: text, name: 'ada' },
      ];
      expect(promptTokenBound({ model: 'm', messages })).toBeGreaterThanOrEqual(countPromptTokens(messages));
    }
  });

  it('counts an image as a fixed bound rather than by the size of its data URL', () => {
    const image = { type: 'image_url', image_url: { url: `data:image/png;base64,${'A'.repeat(100_000)}` } };
    const bound = promptTokenBound({ model: 'm', messages: [{ role: 'user', content: [{ type: 'text', text: 'What is it?' }, image] }] });
    expect(bound).toBeGreaterThan(IMAGE_PART_BOUND_TOKENS);
    expect(bound).toBeLessThan(IMAGE_PART_BOUND_TOKENS + 1_000);
  });

  it('counts an image part wherever it is, and text that only quotes one as text', () => {
    const part = { type: 'input_image', image_url: `data:image/png;base64,${'A'.repeat(50_000)}` };
    const quoted = JSON.stringify(part).slice(0, 200);
    const withImage = promptTokenBound({ model: 'm', input: [{ role: 'user', content: [part] }] });
    const quoting = promptTokenBound({ model: 'm', messages: [{ role: 'user', content: quoted }] });
    expect(withImage).toBeGreaterThan(IMAGE_PART_BOUND_TOKENS);
    expect(withImage).toBeLessThan(IMAGE_PART_BOUND_TOKENS + 1_000);
    expect(quoting).toBeGreaterThanOrEqual(Buffer.byteLength(JSON.stringify(quoted)));
    expect(quoting).toBeLessThan(IMAGE_PART_BOUND_TOKENS);
  });

  it('leaves room for what templates add around tools', () => {
    const messages = [{ role: 'user', content: 'Weather?' }];
    const tools = [{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }];
    const without = promptTokenBound({ model: 'm', messages });
    const withTools = promptTokenBound({ model: 'm', messages, tools });
    expect(withTools - without).toBeGreaterThan(JSON.stringify(tools).length + 500);
  });
});
