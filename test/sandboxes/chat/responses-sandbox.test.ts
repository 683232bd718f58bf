import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listenChatSandbox, type ListeningChatSandbox } from '../../../src/sandboxes/chat/chat-sandbox.js';

// The simulator's two faces answer the same request with the same reply and the same token counts,
// so a route's protocol never changes what a customer is charged for it.

let sim: ListeningChatSandbox;
let client: OpenAI;
beforeAll(async () => {
  sim = await listenChatSandbox();
  client = new OpenAI({ baseURL: sim.baseUrl, apiKey: 'unused', maxRetries: 0 });
});
afterAll(() => sim.close());

const tool = { type: 'function' as const, name: 'lookup', parameters: { type: 'object', properties: { term: { type: 'string' }, limit: { type: 'integer' } } }, strict: false };

describe('the simulator behind POST /responses', () => {
  it('answers as its chat face does: the same text and the same usage', async () => {
    const response = await client.responses.create({ model: 'sim', instructions: 'Be brief.', input: 'Say something.', max_output_tokens: 7 });
    const chat = await client.chat.completions.create({ model: 'sim', messages: [{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say something.' }], max_completion_tokens: 7 });
    expect(response.output_text).toBe(chat.choices[0]!.message.content);
    expect(response.usage).toMatchObject({ input_tokens: chat.usage!.prompt_tokens, output_tokens: chat.usage!.completion_tokens });
    expect(response.status).toBe(chat.choices[0]!.finish_reason === 'length' ? 'incomplete' : 'completed');
  });

  it('calls the tool that tool_choice demands, on both faces, with every parameter set', async () => {
    const response = await client.responses.create({ model: 'sim', input: 'Find it.', tools: [tool], tool_choice: 'required' });
    expect(response.output).toEqual([expect.objectContaining({ type: 'function_call', name: 'lookup', arguments: '{"term":"lorem","limit":"lorem"}' })]);
    const chat = await client.chat.completions.create({
      model: 'sim',
      messages: [{ role: 'user', content: 'Find it.' }],
      tools: [{ type: 'function', function: { name: 'lookup', parameters: tool.parameters } }],
      tool_choice: { type: 'function', function: { name: 'lookup' } },
    });
    expect(chat.choices[0]).toMatchObject({ finish_reason: 'tool_calls', message: { tool_calls: [{ function: { name: 'lookup', arguments: '{"term":"lorem","limit":"lorem"}' } }] } });
    expect(chat.usage!.completion_tokens).toBe(response.usage!.output_tokens);
  });

  it('streams the documented events, ending in response.completed with usage', async () => {
    const stream = await client.responses.create({ model: 'sim', input: 'Say something.', stream: true });
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(events[0]!.type).toBe('response.created');
    expect(events.at(-1)!.type).toBe('response.completed');
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    const deltas = events.filter((e) => e.type === 'response.output_text.delta');
    expect(completed.response.usage!.output_tokens).toBe(deltas.length);
  });

  it('refuses a malformed body with an OpenAI error', async () => {
    const error = await client.responses.create({ model: 'sim', input: 42 } as never).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
  });
});
