import { describe, expect, it } from 'vitest';
import { toChatRequest } from '../../src/responses/chat-request.js';
import { responseRequestSchema } from '../../src/responses/request-schema.js';

const parse = (body: unknown) => responseRequestSchema.parse(body);

describe('a Responses request in chat-completions terms', () => {
  it('puts instructions first, calls developer system, flattens assistant text and drops reasoning items', () => {
    const chat = toChatRequest(
      parse({
        model: 'gpt-5.2',
        instructions: 'Be brief.',
        input: [
          { role: 'developer', content: 'Answer in French.' },
          { type: 'message', role: 'user', content: [{ type: 'input_text', text: 'Hi' }] },
          { type: 'reasoning', id: 'rs_1', summary: [] },
          { role: 'assistant', content: [{ type: 'output_text', text: 'Bon' }, { type: 'output_text', text: 'jour' }] },
          { role: 'user', content: 'Again' },
        ],
      }),
    );
    expect(chat.messages).toEqual([
      { role: 'system', content: 'Be brief.' },
      { role: 'system', content: 'Answer in French.' },
      { role: 'user', content: 'Hi' },
      { role: 'assistant', content: 'Bonjour' },
      { role: 'user', content: 'Again' },
    ]);
  });

  it('gathers the calls of one turn into one assistant message and their outputs into tool messages', () => {
    const chat = toChatRequest(
      parse({
        model: 'gpt-5.2',
        input: [
          { role: 'user', content: 'Weather in Oslo and Rome?' },
          { type: 'function_call', call_id: 'call_a', name: 'weather', arguments: '{"city":"Oslo"}' },
          { type: 'function_call', call_id: 'call_b', name: 'weather', arguments: '{"city":"Rome"}' },
          { type: 'function_call_output', call_id: 'call_a', output: '12' },
          { type: 'function_call_output', call_id: 'call_b', output: [{ type: 'input_text', text: '2' }, { type: 'input_text', text: '4' }] },
        ],
        tools: [{ type: 'function', name: 'weather', parameters: { type: 'object' } }],
        tool_choice: { type: 'function', name: 'weather' },
        parallel_tool_calls: false,
      }),
    );
    expect(chat.messages.slice(1)).toEqual([
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'call_a', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } },
          { id: 'call_b', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } },
        ],
      },
      { role: 'tool', tool_call_id: 'call_a', content: '12' },
      { role: 'tool', tool_call_id: 'call_b', content: '24' },
    ]);
    expect(chat.tools).toEqual([{ type: 'function', function: { name: 'weather', parameters: { type: 'object' } } }]);
    expect(chat.tool_choice).toEqual({ type: 'function', function: { name: 'weather' } });
    expect(chat.parallel_tool_calls).toBe(false);
  });

  it('maps text.format, verbosity and reasoning effort, and sets no output limit of its own', () => {
    const chat = toChatRequest(parse({ model: 'm', input: 'x', text: { format: { type: 'json_object' }, verbosity: 'low' }, reasoning: { effort: 'high' }, max_output_tokens: 9 }));
    expect(chat).toMatchObject({ response_format: { type: 'json_object' }, verbosity: 'low', reasoning_effort: 'high' });
    expect(chat.max_completion_tokens).toBeUndefined();
    expect(chat.max_tokens).toBeUndefined();
  });

  it('refuses what a stateless gateway cannot honour or does not know', () => {
    expect(responseRequestSchema.safeParse({ model: 'm', input: 'x', background: true }).success).toBe(false);
    expect(responseRequestSchema.safeParse({ model: 'm', input: 'x', tools: [{ type: 'web_search' }] }).success).toBe(false);
    expect(responseRequestSchema.safeParse({ model: 'm', input: [{ role: 'user', content: [{ type: 'input_image', file_id: 'file_1' }] }] }).success).toBe(false);
    expect(responseRequestSchema.safeParse({ model: 'm', input: [] }).success).toBe(false);
  });
});
