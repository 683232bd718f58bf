import { describe, expect, it } from 'vitest';
import { toAnthropicRequest, UntranslatableRequest } from '../../../src/providers/chat/anthropic-request.js';

describe('toAnthropicRequest', () => {
  it('moves system and developer messages into `system` and keeps the turns in order', () => {
    const out = toAnthropicRequest(
      {
        model: 'claude-opus-4-5',
        max_completion_tokens: 300,
        messages: [
          { role: 'system', content: 'Be brief.' },
          { role: 'developer', content: [{ type: 'text', text: 'Answer in English.' }] },
          { role: 'user', content: 'Hi' },
          { role: 'assistant', content: 'Hello!' },
          { role: 'user', content: 'Again' },
        ],
      },
      false,
    );
    expect(out).toEqual({
      model: 'claude-opus-4-5',
      max_tokens: 300,
      system: 'Be brief.\n\nAnswer in English.',
      messages: [
        { role: 'user', content: [{ type: 'text', text: 'Hi' }] },
        { role: 'assistant', content: [{ type: 'text', text: 'Hello!' }] },
        { role: 'user', content: [{ type: 'text', text: 'Again' }] },
      ],
    });
  });

  it('translates tools, tool calls and their results (consecutive results in one user turn)', () => {
    const out = toAnthropicRequest(
      {
        model: 'm',
        max_tokens: 50,
        tool_choice: 'required',
        parallel_tool_calls: false,
        tools: [{ type: 'function', function: { name: 'weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }],
        messages: [
          { role: 'user', content: 'Weather in Oslo and Rome?' },
          {
            role: 'assistant',
            content: null,
            tool_calls: [
              { id: 'call_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
              { id: 'call_2', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
            ],
          },
          { role: 'tool', tool_call_id: 'call_1', content: '3°C' },
          { role: 'tool', tool_call_id: 'call_2', content: '19°C' },
        ],
      },
      true,
    );
    expect(out.stream).toBe(true);
    expect(out.max_tokens).toBe(50);
    expect(out.tools).toEqual([{ name: 'weather', description: 'Weather now', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }]);
    expect(out.tool_choice).toEqual({ type: 'any', disable_parallel_tool_use: true });
    expect(out.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Oslo and Rome?' }] },
      {
        role: 'assistant',
        content: [
          { type: 'tool_use', id: 'call_1', name: 'weather', input: { city: 'Oslo' } },
          { type: 'tool_use', id: 'call_2', name: 'weather', input: { city: 'Rome' } },
        ],
      },
      {
        role: 'user',
        content: [
          { type: 'tool_result', tool_use_id: 'call_1', content: '3°C' },
          { type: 'tool_result', tool_use_id: 'call_2', content: '19°C' },
        ],
      },
    ]);
  });

  it('maps stop, temperature (capped at Anthropic’s 1) and inline images', () => {
    const out = toAnthropicRequest(
      {
        model: 'm',
        max_tokens: 10,
        stop: 'END',
        temperature: 1.7,
        messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'data:image/png;base64,AAAA' } }] }],
      },
      false,
    );
    expect(out.stop_sequences).toEqual(['END']);
    expect(out.temperature).toBe(1);
    expect(out.messages[0]!.content).toEqual([{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: 'AAAA' } }]);
  });

  it('refuses what Anthropic cannot do rather than answering something else', () => {
    expect(() => toAnthropicRequest({ model: 'm', n: 2, messages: [{ role: 'user', content: 'x' }] }, false)).toThrow(UntranslatableRequest);
  });
});
