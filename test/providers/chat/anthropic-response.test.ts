import { describe, expect, it } from 'vitest';
import { AnthropicStreamError, AnthropicStreamTranslator, chatUsageOf, finishReasonOf, fromAnthropicMessage } from '../../../src/providers/chat/anthropic-response.js';

describe('Anthropic answers as chat completions', () => {
  it('maps stop reasons', () => {
    expect(['end_turn', 'stop_sequence', 'max_tokens', 'tool_use', 'refusal', null].map(finishReasonOf)).toEqual([
      'stop',
      'stop',
      'length',
      'tool_calls',
      'content_filter',
      null,
    ]);
  });

  it('counts cache reads and writes inside prompt_tokens and names them', () => {
    expect(chatUsageOf({ input_tokens: 10, output_tokens: 5, cache_read_input_tokens: 100, cache_creation_input_tokens: 20 })).toEqual({
      prompt_tokens: 130,
      completion_tokens: 5,
      total_tokens: 135,
      prompt_tokens_details: { cached_tokens: 100, cache_write_tokens: 20 },
    });
  });

  it('turns text and tool_use blocks into a message with tool_calls', () => {
    const completion = fromAnthropicMessage(
      {
        id: 'msg_1',
        type: 'message',
        model: 'claude-opus-4-5',
        content: [
          { type: 'text', text: 'Checking.' },
          { type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Oslo' } },
        ],
        stop_reason: 'tool_use',
        usage: { input_tokens: 12, output_tokens: 8 },
      },
      1,
    );
    expect(completion.choices).toEqual([
      {
        index: 0,
        message: { role: 'assistant', content: 'Checking.', tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
        finish_reason: 'tool_calls',
        logprobs: null,
      },
    ]);
    expect(completion.usage).toMatchObject({ prompt_tokens: 12, completion_tokens: 8 });
  });

  it('streams events as chunks: role, text, tool-call pieces, finish reason, then usage at message_stop', () => {
    const t = new AnthropicStreamTranslator();
    const feed = (type: string, data: object) => t.translate(type, JSON.stringify({ type, ...data }));
    expect(feed('message_start', { message: { id: 'msg_2', model: 'm', usage: { input_tokens: 9, output_tokens: 1, cache_read_input_tokens: 4 } } })[0]!.choices[0]!.delta).toEqual({ role: 'assistant', content: '' });
    expect(t.translate('ping', '{"type":"ping"}')).toEqual([]);
    expect(feed('content_block_delta', { index: 0, delta: { type: 'text_delta', text: 'Hi' } })[0]!.choices[0]!.delta).toEqual({ content: 'Hi' });
    expect(feed('content_block_start', { index: 1, content_block: { type: 'tool_use', id: 'toolu_2', name: 'f', input: {} } })[0]!.choices[0]!.delta).toEqual({
      tool_calls: [{ index: 0, id: 'toolu_2', type: 'function', function: { name: 'f', arguments: '' } }],
    });
    expect(feed('content_block_delta', { index: 1, delta: { type: 'input_json_delta', partial_json: '{"a":' } })[0]!.choices[0]!.delta).toEqual({
      tool_calls: [{ index: 0, function: { arguments: '{"a":' } }],
    });
    expect(feed('message_delta', { delta: { stop_reason: 'tool_use' }, usage: { output_tokens: 21 } })[0]!.choices[0]!.finish_reason).toBe('tool_calls');
    expect(t.done).toBe(false);
    const last = feed('message_stop', {});
    expect(t.done).toBe(true);
    expect(last).toEqual([expect.objectContaining({ choices: [], usage: { prompt_tokens: 13, completion_tokens: 21, total_tokens: 34, prompt_tokens_details: { cached_tokens: 4, cache_write_tokens: 0 } } })]);
  });

  it('raises an error event as an error', () => {
    expect(() => new AnthropicStreamTranslator().translate('error', '{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}')).toThrow(AnthropicStreamError);
  });
});
