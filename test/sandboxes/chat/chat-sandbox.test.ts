import OpenAI from 'openai';
import { encode } from 'gpt-tokenizer';
import express from 'express';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  createChatSandbox,
  listenChatSandbox,
  type ListeningChatSandbox,
} from '../../../src/sandboxes/chat/chat-sandbox.js';

let sim: ListeningChatSandbox;
let client: OpenAI;

beforeAll(async () => {
  sim = await listenChatSandbox({ models: ['sim-a', 'sim-b'] });
  client = new OpenAI({ baseURL: sim.baseUrl, apiKey: 'unused', maxRetries: 0 });
});
afterAll(() => sim.close());

const messages = [{ role: 'user' as const, content: 'Say something deterministic.' }];

async function post(body: string): Promise<{ status: number; json: any }> {
  const response = await fetch(`${sim.baseUrl}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body,
  });
  return { status: response.status, json: await response.json() };
}

describe('simulated upstream, as the official openai SDK sees it', () => {
  it('answers a chat completion with usage that matches the tokenizer', async () => {
    const completion = await client.chat.completions.create({ model: 'anything', messages, max_tokens: 9 });
    expect(completion.object).toBe('chat.completion');
    expect(completion.model).toBe('anything');
    const text = completion.choices[0]!.message.content!;
    expect(completion.usage).toMatchObject({
      prompt_tokens: 3 + 3 + encode('user').length + encode(messages[0]!.content).length,
      completion_tokens: encode(text).length,
    });
    expect(completion.usage!.completion_tokens).toBeLessThanOrEqual(9);
    expect(completion.usage!.total_tokens).toBe(completion.usage!.prompt_tokens + completion.usage!.completion_tokens);
  });

  it('streams the same text, with usage in a final chunk without choices when asked', async () => {
    const whole = await client.chat.completions.create({ model: 'm', messages });
    const stream = await client.chat.completions.create({
      model: 'm',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    const text = chunks.map((c) => c.choices[0]?.delta.content ?? '').join('');
    expect(text).toBe(whole.choices[0]!.message.content);
    const last = chunks.at(-1)!;
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual(whole.usage);
    expect(chunks.slice(0, -1).every((c) => c.usage === null)).toBe(true);
    expect(chunks.at(-2)!.choices[0]!.finish_reason).toBe(whole.choices[0]!.finish_reason);
  });

  it('sends no usage in a stream unless asked', async () => {
    const stream = await client.chat.completions.create({ model: 'm', messages, stream: true });
    for await (const chunk of stream) expect(chunk.usage).toBeUndefined();
  });

  it('honours max_completion_tokens exactly', async () => {
    const completion = await client.chat.completions.create({
      model: 'm',
      messages,
      max_completion_tokens: 3,
    });
    expect(completion.usage!.completion_tokens).toBe(3);
    expect(completion.choices[0]!.finish_reason).toBe('length');
  });

  it('answers n choices and bills their tokens together', async () => {
    const completion = await client.chat.completions.create({ model: 'm', messages, n: 3, max_tokens: 5 });
    expect(completion.choices.map((c) => c.index)).toEqual([0, 1, 2]);
    const total = completion.choices.reduce((sum, c) => sum + encode(c.message.content!).length, 0);
    expect(completion.usage!.completion_tokens).toBe(total);
  });

  it('lists its models', async () => {
    const models = [];
    for await (const model of client.models.list()) models.push(model.id);
    expect(models).toEqual(['sim-a', 'sim-b']);
  });

  it('fails on request as documented: sim-error-<status> becomes the SDK error of that status', async () => {
    const failure = await client.chat.completions.create({ model: 'sim-error-429', messages }).catch((e) => e);
    expect(failure).toBeInstanceOf(OpenAI.RateLimitError);
    expect(failure.status).toBe(429);
    expect(failure.error).toMatchObject({ type: 'invalid_request_error', code: 'simulated_error' });
  });
});

describe('simulated upstream, bad input', () => {
  it.each([
    ['{"messages":[{"role":"user","content":"x"}]}', 'model', "Missing required parameter: 'model'."],
    ['{"model":"m","messages":[]}', 'messages', undefined],
    ['{"model":"m","messages":[{"role":"robot","content":"x"}]}', 'messages[0].role', undefined],
    ['{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":0}', 'max_tokens', undefined],
    ['{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":"9"}', 'max_tokens', undefined],
    [
      '{"model":"m","messages":[{"role":"user","content":"x"}],"stream_options":{"include_usage":true}}',
      'stream_options',
      "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
    ],
  ])('answers 400 with an OpenAI error naming the parameter: %s', async (body, param, message) => {
    const { status, json } = await post(body);
    expect(status).toBe(400);
    expect(json.error).toMatchObject({ type: 'invalid_request_error', param });
    if (message) expect(json.error.message).toBe(message);
  });

  it('answers 400 in OpenAI shape to a body that is not JSON', async () => {
    const { status, json } = await post('{"model":');
    expect(status).toBe(400);
    expect(json.error.type).toBe('invalid_request_error');
  });

  it('refuses a wrong key when it is given one', async () => {
    const guarded = await listenChatSandbox({ apiKey: 'sk-right' });
    try {
      const wrong = new OpenAI({ baseURL: guarded.baseUrl, apiKey: 'sk-wrong', maxRetries: 0 });
      await expect(wrong.chat.completions.create({ model: 'm', messages })).rejects.toBeInstanceOf(
        OpenAI.AuthenticationError,
      );
      const right = new OpenAI({ baseURL: guarded.baseUrl, apiKey: 'sk-right', maxRetries: 0 });
      await expect(right.chat.completions.create({ model: 'm', messages })).resolves.toMatchObject({
        object: 'chat.completion',
      });
    } finally {
      await guarded.close();
    }
  });
});

describe('simulated upstream as a mounted router', () => {
  it('serves under whatever prefix the app mounts it', async () => {
    const app = express();
    app.use('/sandbox/openai/v1', createChatSandbox());
    const server = app.listen(0, '127.0.0.1');
    await new Promise((resolve) => server.once('listening', resolve));
    try {
      const { port } = server.address() as AddressInfo;
      const mounted = new OpenAI({ baseURL: `http://127.0.0.1:${port}/sandbox/openai/v1`, apiKey: 'x', maxRetries: 0 });
      const direct = await client.chat.completions.create({ model: 'm', messages });
      const viaMount = await mounted.chat.completions.create({ model: 'm', messages });
      expect(viaMount.choices[0]!.message.content).toBe(direct.choices[0]!.message.content);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
