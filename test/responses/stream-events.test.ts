import { describe, expect, it } from 'vitest';
import type { ChatCompletionChunk } from '../../src/providers/chat/types.js';
import { responseRequestSchema } from '../../src/responses/request-schema.js';
import { ResponseIds, responseShell, responseUsage } from '../../src/responses/response-object.js';
import { ChatStreamTranslator, ResponseEventNumbering } from '../../src/responses/stream-events.js';

const ids = new ResponseIds('req_abc');
const shell = responseShell(responseRequestSchema.parse({ model: 'gpt-5.2', input: 'x' }), ids, 'gpt-5.2', 1);
const chunk = (delta: Record<string, unknown>, finish: ChatCompletionChunk['choices'][number]['finish_reason'] = null): ChatCompletionChunk => ({
  id: 'c',
  object: 'chat.completion.chunk',
  created: 1,
  model: 'm',
  choices: [{ index: 0, delta, finish_reason: finish }],
});
const usage = responseUsage({ prompt_tokens: 10, completion_tokens: 4 });

describe('chat chunks as Responses events', () => {
  it('opens a message then a call as separate output items and closes both, in output order, at the end', () => {
    const t = new ChatStreamTranslator(shell, ids);
    const events = [
      ...t.start(),
      ...t.push(chunk({ role: 'assistant', content: 'Let me ' })),
      ...t.push(chunk({ content: 'check.' })),
      ...t.push(chunk({ tool_calls: [{ index: 0, id: 'call_1', type: 'function', function: { name: 'weather', arguments: '' } }] })),
      ...t.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '{"city":' } }] })),
      ...t.push(chunk({ tool_calls: [{ index: 0, function: { arguments: '"Oslo"}' } }] })),
      ...t.push(chunk({}, 'tool_calls')),
      ...t.end(usage),
    ];
    expect(events.map((e) => `${e.type}${'output_index' in e ? `#${e.output_index as number}` : ''}`)).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added#0',
      'response.content_part.added#0',
      'response.output_text.delta#0',
      'response.output_text.delta#0',
      'response.output_item.added#1',
      'response.function_call_arguments.delta#1',
      'response.function_call_arguments.delta#1',
      'response.output_text.done#0',
      'response.content_part.done#0',
      'response.output_item.done#0',
      'response.function_call_arguments.done#1',
      'response.output_item.done#1',
      'response.completed',
    ]);
    const completed = events.at(-1)!.response as Record<string, any>;
    expect(completed).toMatchObject({ id: 'resp_abc', status: 'completed', usage: { input_tokens: 10, output_tokens: 4, total_tokens: 14 } });
    expect(completed.output).toEqual([
      expect.objectContaining({ type: 'message', id: 'msg_abc_0', content: [expect.objectContaining({ type: 'output_text', text: 'Let me check.' })] }),
      expect.objectContaining({ type: 'function_call', id: 'fc_abc_0', call_id: 'call_1', name: 'weather', arguments: '{"city":"Oslo"}' }),
    ]);
  });

  it('ends a reply cut at the output limit as response.incomplete', () => {
    const t = new ChatStreamTranslator(shell, ids);
    t.push(chunk({ content: 'Once upon' }));
    t.push(chunk({}, 'length'));
    const last = t.end(usage).at(-1)!;
    expect(last).toMatchObject({ type: 'response.incomplete', response: { status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' } } });
  });

  it('numbers events from zero as server-sent events named by their type', () => {
    const numbering = new ResponseEventNumbering();
    expect(numbering.sse({ type: 'response.created' })).toBe('event: response.created\ndata: {"type":"response.created","sequence_number":0}\n\n');
    expect(numbering.sse({ type: 'error' })).toContain('"sequence_number":1');
  });
});
