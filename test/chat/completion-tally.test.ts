import { describe, expect, it } from 'vitest';
import { CompletionTally } from '../../src/chat/completion-tally.js';
import { settle } from '../../src/chat/settlement.js';
import { countPromptTokens, countTextTokens } from '../../src/chat/tokens.js';
import type { ChatCompletionChunk } from '../../src/providers/chat/types.js';

const prompt = { messages: [{ role: 'user', content: 'Write a poem.' }] };
const chunk = (delta: Record<string, unknown>, usage?: ChatCompletionChunk['usage']): ChatCompletionChunk => ({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: usage ? [] : [{ index: 0, delta, finish_reason: null }],
  ...(usage !== undefined ? { usage } : {}),
});

describe('CompletionTally', () => {
  it('bills the upstream\'s own usage when it reports one', () => {
    const tally = new CompletionTally();
    tally.addChunk(chunk({ content: 'Roses are red' }));
    tally.addChunk(chunk({}, { prompt_tokens: 12, completion_tokens: 4, total_tokens: 16 }));
    expect(tally.usage(prompt, 100)).toEqual({ promptTokens: 12, completionTokens: 4, source: 'upstream' });
  });

  it('estimates a cut stream from the text, reasoning and tool-call arguments that arrived', () => {
    const tally = new CompletionTally();
    tally.addChunk(chunk({ role: 'assistant', content: '' }));
    tally.addChunk(chunk({ reasoning_content: 'Think first.' }));
    tally.addChunk(chunk({ content: 'Roses are red,' }));
    tally.addChunk(chunk({ tool_calls: [{ index: 0, function: { name: 'rhyme', arguments: '{"word":"red"}' } }] }));
    expect(tally.produced).toBe(true);
    expect(tally.usage(prompt, 100)).toEqual({
      promptTokens: countPromptTokens(prompt.messages),
      completionTokens: countTextTokens('Think first.Roses are red,rhyme{"word":"red"}'),
      source: 'estimated',
    });
  });

  it('never estimates more than the upstream was allowed to generate', () => {
    const tally = new CompletionTally();
    tally.addChunk(chunk({ content: 'many words here, far more than three tokens' }));
    expect(tally.usage(prompt, 3).completionTokens).toBe(3);
  });

  it('reports nothing produced before the first generated text', () => {
    const tally = new CompletionTally();
    tally.addChunk(chunk({ role: 'assistant', content: '' }));
    expect(tally.produced).toBe(false);
    expect(tally.usage(prompt, 10).completionTokens).toBe(0);
  });

  it('ignores a malformed usage object rather than billing from it', () => {
    const tally = new CompletionTally();
    tally.addChunk(chunk({}, { prompt_tokens: -1, completion_tokens: 2, total_tokens: 1 }));
    expect(tally.usage(prompt, 10).source).toBe('estimated');
  });
});

describe('settle', () => {
  const gpt52 = { input_nanos_per_million: 525_000_000n, output_nanos_per_million: 4_200_000_000n };

  it('prices the seed\'s worked example exactly: 500 in / 200 out on gpt-5.2 is $0.0011025', () => {
    expect(settle(gpt52, { promptTokens: 500, completionTokens: 200, source: 'upstream' }, 5_000_000n)).toEqual({
      promptTokens: 500,
      completionTokens: 200,
      cachedTokens: 0,
      cacheWriteTokens: 0,
      cost: 1_102_500n,
      charge: 1_102_500n,
    });
  });

  it('never charges more than was held', () => {
    const s = settle(gpt52, { promptTokens: 500, completionTokens: 200, source: 'upstream' }, 1_000_000n);
    expect(s.cost).toBe(1_102_500n);
    expect(s.charge).toBe(1_000_000n);
  });
});
