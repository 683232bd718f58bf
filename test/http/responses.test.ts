import fs from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import express from 'express';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens } from '../../src/chat/tokens.js';
import { parseUsd } from '../../src/ledger/money.js';
import { chatCost } from '../../src/pricing/cost.js';
import { createChatSandbox, type ChatSandboxOptions, type SandboxCall } from '../../src/sandboxes/chat/chat-sandbox.js';
import { startHarness, type Harness } from '../support/harness.js';

// POST /v1/responses through the official openai SDK. gpt-5.2 is routed to a provider that speaks
// chat completions only (the request is translated), gpt-5-mini to one marked "responses": true
// (passed through natively); both are the simulator, which records what it was sent.

interface Recording {
  baseUrl: string;
  seen: { path: string; body: Record<string, any> }[];
  close(): Promise<void>;
}

async function recordingSimulator(options: ChatSandboxOptions = {}): Promise<Recording> {
  const seen: Recording['seen'] = [];
  const app = express();
  app.use(express.json({ limit: '10mb' }));
  app.use((req, _res, next) => {
    seen.push({ path: req.path, body: req.body });
    next();
  });
  app.use('/v1', createChatSandbox(options));
  const server: Server = app.listen(0, '127.0.0.1');
  await new Promise((resolve) => server.once('listening', resolve));
  return {
    baseUrl: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1`,
    seen,
    close: () => new Promise((resolve) => { server.closeAllConnections(); server.close(() => resolve()); }),
  };
}

let h: Harness;
let chatOnly: Recording;
let native: Recording;
let slow: Recording;
const slowFinished: SandboxCall[] = [];
beforeAll(async () => {
  [chatOnly, native, slow] = await Promise.all([
    recordingSimulator(),
    recordingSimulator(),
    recordingSimulator({ tokenDelayMs: 5, replyLength: { min: 400, max: 400 }, onFinish: (call) => slowFinished.push(call) }),
  ]);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-responses-')), 'providers.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      providers: [
        { name: 'chat-only', api: 'openai', base_url: chatOnly.baseUrl },
        { name: 'native', api: 'openai', base_url: native.baseUrl, responses: true },
        { name: 'slow', api: 'openai', base_url: slow.baseUrl },
      ],
      models: {
        'gpt-5.2': [{ provider: 'chat-only', model: 'upstream-gpt-5.2' }],
        'gpt-5-mini': [{ provider: 'native', model: 'upstream-gpt-5-mini' }],
        // The simulator's failure modes, by upstream model name.
        'gpt-5-nano': [{ provider: 'chat-only', model: 'sim-stream-error-after-3' }],
        'gpt-5': [{ provider: 'chat-only', model: 'sim-error-500' }],
        'gpt-5.1': [{ provider: 'slow', model: 'upstream-gpt-5.1' }],
      },
    }),
  );
  h = await startHarness({ worker: false, env: { PROVIDERS_FILE: file } });
});
afterAll(async () => {
  await h?.close();
  await chatOnly?.close();
  await native?.close();
  await slow?.close();
});
afterEach(async () => {
  chatOnly.seen.length = 0;
  native.seen.length = 0;
  slow.seen.length = 0;
  await h.expectBooksBalanced();
});

const weatherTool = {
  type: 'function' as const,
  name: 'get_weather',
  description: 'The weather in a city',
  parameters: { type: 'object', properties: { city: { type: 'string' } }, required: ['city'], additionalProperties: false },
  strict: true,
};

/** The request row, the hold and the ledger all say `charged`, and it is the exact price of the usage. */
async function expectBilled(accountId: string, requestId: string, model: string, usage: OpenAI.Responses.ResponseUsage & { cost?: number }, charged: bigint) {
  const price = chatCost(h.services.catalog.chat(model)!, { promptTokens: usage.input_tokens, completionTokens: usage.output_tokens });
  expect(charged).toBe(price);
  expect(usage.cost).toBe(Number(price) / 1e9);
  expect(usage.total_tokens).toBe(usage.input_tokens + usage.output_tokens);
  const row = await h.services.db('requests').where({ id: requestId }).first();
  expect(row).toMatchObject({ endpoint: '/v1/responses', model, status: 'completed', prompt_tokens: usage.input_tokens, completion_tokens: usage.output_tokens });
  expect(BigInt(row.cost)).toBe(charged);
  expect(await h.chargesOf(requestId)).toEqual([-charged]);
  expect((await h.idleBalance(accountId)).held).toBe(0n);
}

describe('POST /v1/responses translated to chat completions', () => {
  it('answers a string input with instructions as a Response, and charges the exact price of its usage', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const { data, response } = await h
      .openai(key)
      .responses.create({ model: 'gpt-5.2', input: 'Say hello.', instructions: 'Be brief.', metadata: { ticket: 't-1' } })
      .withResponse();

    expect(data.id).toMatch(/^resp_/);
    expect(data).toMatchObject({ object: 'response', status: 'completed', model: 'gpt-5.2', store: false, metadata: { ticket: 't-1' }, error: null });
    expect(data.output).toHaveLength(1);
    expect(data.output[0]).toMatchObject({ type: 'message', role: 'assistant', status: 'completed', content: [{ type: 'output_text' }] });
    expect(data.output_text.length).toBeGreaterThan(0);
    // The instructions went first, as a system message; the simulator counts what it was sent.
    const sent = chatOnly.seen.find((s) => s.path === '/v1/chat/completions')!.body;
    expect(sent.model).toBe('upstream-gpt-5.2');
    expect(sent.messages).toEqual([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: 'Say hello.' }]);
    expect(sent.metadata).toBeUndefined();
    expect(data.usage!.input_tokens).toBe(countPromptTokens(sent.messages));
    expect(data.usage!.input_tokens_details.cached_tokens).toBe(0);
    expect(data.usage!.output_tokens_details.reasoning_tokens).toBe(0);
    const charged = parseUsd(response.headers.get('x-request-cost-usd')!);
    await expectBilled(accountId, response.headers.get('x-request-id')!, 'gpt-5.2', data.usage!, charged);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(parseUsd('1.00') - charged);
  });

  it('round-trips a function call: the call comes back as a function_call item, its output goes back keyed by call_id', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const first = await client.responses.create({ model: 'gpt-5.2', input: 'Weather in Oslo?', tools: [weatherTool], tool_choice: 'required' });
    expect(first.status).toBe('completed');
    expect(first.output).toHaveLength(1);
    const call = first.output[0] as OpenAI.Responses.ResponseFunctionToolCall;
    expect(call).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: '{"city":"lorem"}' });
    expect(call.id).toMatch(/^fc_/);
    expect(call.call_id).toMatch(/^call_/);
    const sentTools = chatOnly.seen.at(-1)!.body;
    expect(sentTools.tools).toEqual([{ type: 'function', function: { name: 'get_weather', description: 'The weather in a city', parameters: weatherTool.parameters, strict: true } }]);
    expect(sentTools.tool_choice).toBe('required');

    const { data: second, response } = await client.responses
      .create({
        model: 'gpt-5.2',
        input: [
          { role: 'user', content: 'Weather in Oslo?' },
          { type: 'function_call', call_id: call.call_id, name: call.name, arguments: call.arguments },
          { type: 'function_call_output', call_id: call.call_id, output: '{"celsius":12}' },
        ],
        tools: [weatherTool],
      })
      .withResponse();
    expect(second.status).toBe('completed');
    expect(second.output[0]).toMatchObject({ type: 'message' });
    const sent = chatOnly.seen.at(-1)!.body;
    expect(sent.messages).toEqual([
      { role: 'user', content: 'Weather in Oslo?' },
      { role: 'assistant', content: null, tool_calls: [{ id: call.call_id, type: 'function', function: { name: 'get_weather', arguments: '{"city":"lorem"}' } }] },
      { role: 'tool', tool_call_id: call.call_id, content: '{"celsius":12}' },
    ]);
    await expectBilled(accountId, response.headers.get('x-request-id')!, 'gpt-5.2', second.usage!, parseUsd(response.headers.get('x-request-cost-usd')!));
  });

  it('passes text.format json_schema as response_format, reasoning.effort as reasoning_effort, and images as image_url parts', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const schema = { type: 'object', properties: { answer: { type: 'string' } }, required: ['answer'], additionalProperties: false };
    const data = await h.openai(key).responses.create({
      model: 'gpt-5.2',
      input: [{ role: 'user', content: [{ type: 'input_text', text: 'Describe' }, { type: 'input_image', image_url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' }] }],
      text: { format: { type: 'json_schema', name: 'answer', schema, strict: true } },
      reasoning: { effort: 'low' },
      temperature: 0.2,
    });
    expect(data.text?.format).toMatchObject({ type: 'json_schema', name: 'answer' });
    const sent = chatOnly.seen.at(-1)!.body;
    expect(sent.response_format).toEqual({ type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } });
    expect(sent.reasoning_effort).toBe('low');
    expect(sent.temperature).toBe(0.2);
    expect(sent.messages[0].content).toEqual([
      { type: 'text', text: 'Describe' },
      { type: 'image_url', image_url: { url: 'data:image/png;base64,iVBORw0KGgo=', detail: 'low' } },
    ]);
  });

  it('holds the upstream to max_output_tokens and reports a cut answer as incomplete', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const { data, response } = await h.openai(key).responses.create({ model: 'gpt-5.2', input: 'Tell me a long story.', max_output_tokens: 3 }).withResponse();
    expect(chatOnly.seen.at(-1)!.body.max_completion_tokens).toBe(3);
    expect(data).toMatchObject({ status: 'incomplete', incomplete_details: { reason: 'max_output_tokens' }, max_output_tokens: 3 });
    expect(data.usage!.output_tokens).toBe(3);
    await expectBilled(accountId, response.headers.get('x-request-id')!, 'gpt-5.2', data.usage!, parseUsd(response.headers.get('x-request-cost-usd')!));
  });

  it('streams the documented events in order, numbered, ending in response.completed with the usage charged', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const { data: stream, response } = await h.openai(key).responses.create({ model: 'gpt-5.2', input: 'Say hello.', stream: true }).withResponse();
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);

    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    const types = events.map((e) => e.type);
    const deltas = types.filter((t) => t === 'response.output_text.delta').length;
    expect(deltas).toBeGreaterThan(1);
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.content_part.added',
      ...Array<string>(deltas).fill('response.output_text.delta'),
      'response.output_text.done',
      'response.content_part.done',
      'response.output_item.done',
      'response.completed',
    ]);
    const text = events.flatMap((e) => (e.type === 'response.output_text.delta' ? [e.delta] : [])).join('');
    expect(events.find((e) => e.type === 'response.output_text.done')).toMatchObject({ text });
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response.output_text ?? (completed.response.output[0] as any).content[0].text).toBe(text);
    const usage = completed.response.usage as OpenAI.Responses.ResponseUsage & { cost: number };
    const requestId = response.headers.get('x-request-id')!;
    const row = await h.services.db('requests').where({ id: requestId }).first();
    expect(row.stream).toBe(true);
    await expectBilled(accountId, requestId, 'gpt-5.2', usage, BigInt(row.cost));
  });

  it('streams a function call as output_item.added, function_call_arguments.delta/done and output_item.done', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const stream = h.openai(key).responses.stream({ model: 'gpt-5.2', input: 'Weather in Oslo?', tools: [weatherTool], tool_choice: { type: 'function', name: 'get_weather' } });
    const types: string[] = [];
    for await (const event of stream) types.push(event.type);
    const final = await stream.finalResponse();
    expect(types).toEqual([
      'response.created',
      'response.in_progress',
      'response.output_item.added',
      'response.function_call_arguments.delta',
      'response.function_call_arguments.done',
      'response.output_item.done',
      'response.completed',
    ]);
    expect(final.output[0]).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: '{"city":"lorem"}' });
    const requestId = (await h.services.db('requests').where({ account_id: accountId }).first()).id;
    await expectBilled(accountId, requestId, 'gpt-5.2', final.usage!, BigInt((await h.services.db('requests').where({ id: requestId }).first()).cost));
  });
});

describe('POST /v1/responses passed natively to a provider marked "responses": true', () => {
  it('sends the Response body to the provider (our output limit, store false, its model id) and answers with our id and model', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const { data, response } = await h
      .openai(key)
      .responses.create({ model: 'gpt-5-mini', input: 'Weather in Oslo?', instructions: 'Be brief.', tools: [weatherTool], tool_choice: 'required', max_output_tokens: 500 })
      .withResponse();
    expect(native.seen.map((s) => s.path)).toEqual(['/v1/responses']);
    expect(chatOnly.seen).toEqual([]);
    expect(native.seen[0]!.body).toMatchObject({ model: 'upstream-gpt-5-mini', input: 'Weather in Oslo?', instructions: 'Be brief.', tools: [weatherTool], max_output_tokens: 500, store: false, stream: false });
    expect(data.id).toBe(`resp_${response.headers.get('x-request-id')!.replace(/^req_/, '')}`);
    expect(data).toMatchObject({ model: 'gpt-5-mini', status: 'completed' });
    expect(data.output[0]).toMatchObject({ type: 'function_call', name: 'get_weather', arguments: '{"city":"lorem"}' });
    await expectBilled(accountId, response.headers.get('x-request-id')!, 'gpt-5-mini', data.usage!, parseUsd(response.headers.get('x-request-cost-usd')!));
  });

  it('relays the provider\u2019s event stream, renumbered, with usage and cost on response.completed', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const { data: stream, response } = await h.openai(key).responses.create({ model: 'gpt-5-mini', input: 'Say hello.', stream: true }).withResponse();
    const events: OpenAI.Responses.ResponseStreamEvent[] = [];
    for await (const event of stream) events.push(event);
    expect(native.seen[0]).toMatchObject({ path: '/v1/responses', body: { stream: true, store: false } });
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events[0]!.type).toBe('response.created');
    expect(events.at(-1)!.type).toBe('response.completed');
    expect(events.some((e) => e.type === 'response.output_text.delta')).toBe(true);
    const completed = events.at(-1) as OpenAI.Responses.ResponseCompletedEvent;
    expect(completed.response).toMatchObject({ model: 'gpt-5-mini', id: `resp_${response.headers.get('x-request-id')!.replace(/^req_/, '')}` });
    const requestId = response.headers.get('x-request-id')!;
    await expectBilled(accountId, requestId, 'gpt-5-mini', completed.response.usage!, BigInt((await h.services.db('requests').where({ id: requestId }).first()).cost));
  });
});

describe('POST /v1/responses when the upstream fails', () => {
  it('before any output: an OpenAI error, nothing charged', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const error = await h.openai(key).responses.create({ model: 'gpt-5', input: 'Hi' }, { maxRetries: 0 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error).toMatchObject({ status: 502 });
    expect(await h.idleBalance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
    const requestId = (error as InstanceType<typeof OpenAI.APIError>).requestID!;
    expect(await h.chargesOf(requestId)).toEqual([]);
    expect(await h.services.db('requests').where({ id: requestId }).first()).toMatchObject({ status: 'failed', cost: 0n });
  });

  it('mid-stream: the stream ends with error and response.failed, and what was produced is charged once', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const response = await h.call('POST', '/v1/responses', { key, body: { model: 'gpt-5-nano', input: 'Tell me a story.', stream: true } });
    expect(response.status).toBe(200);
    const events = (await response.text())
      .split('\n\n')
      .filter((block) => block.trim() !== '')
      .map((block) => JSON.parse(block.split('\n').find((line) => line.startsWith('data: '))!.slice(6)));
    expect(events.map((e) => e.sequence_number)).toEqual(events.map((_, i) => i));
    expect(events.filter((e) => e.type === 'response.output_text.delta')).toHaveLength(3);
    expect(events.slice(-2).map((e) => e.type)).toEqual(['error', 'response.failed']);
    const failed = events.at(-1).response;
    expect(failed).toMatchObject({ status: 'failed', error: { code: expect.any(String) } });
    expect(failed.output[0].content[0].text).toBe(events.filter((e) => e.type === 'response.output_text.delta').map((e) => e.delta).join(''));

    const requestId = response.headers.get('x-request-id')!;
    const row = await h.services.db('requests').where({ id: requestId }).first();
    expect(row).toMatchObject({ status: 'failed', completion_tokens: 3, usage_source: 'estimated' });
    expect(failed.usage).toMatchObject({ output_tokens: 3, cost: Number(BigInt(row.cost)) / 1e9 });
    expect(await h.chargesOf(requestId)).toEqual([-BigInt(row.cost)]);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(parseUsd('1.00') - BigInt(row.cost));
  });
});

describe('POST /v1/responses when the caller leaves mid-stream', () => {
  it('reads the upstream to its end and charges what it billed, once, recording the request as client_closed', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const abort = new AbortController();
    const response = await fetch(`${h.baseUrl}/v1/responses`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5.1', input: 'Tell me a long story.', stream: true }),
      signal: abort.signal,
    });
    const requestId = response.headers.get('x-request-id')!;
    const reader = response.body!.getReader();
    let received = '';
    while ((received.match(/response\.output_text\.delta/g) ?? []).length < 3) received += new TextDecoder().decode((await reader.read()).value);
    abort.abort();

    let row: Record<string, any> | undefined;
    while (!(row = await h.services.db('requests').where({ id: requestId }).first())) await new Promise((resolve) => setTimeout(resolve, 50));
    expect(slowFinished.at(-1)).toMatchObject({ completionTokens: 400, outcome: 'completed' });
    expect(row).toMatchObject({ status: 'client_closed', completion_tokens: 400, usage_source: 'upstream' });
    expect(await h.chargesOf(requestId)).toEqual([-BigInt(row.cost)]);
    expect(BigInt(row.cost)).toBe(chatCost(h.services.catalog.chat('gpt-5.1')!, { promptTokens: row.prompt_tokens, completionTokens: 400 }));
    expect(await h.idleBalance(accountId)).toMatchObject({ balance: parseUsd('1.00') - BigInt(row.cost), held: 0n });
  });
});

describe('POST /v1/responses refusals change nothing', () => {
  async function expectUntouched(accountId: string, balance = '1.00') {
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd(balance), held: 0n });
    expect(await h.services.db('holds').where({ account_id: accountId })).toEqual([]);
    expect(chatOnly.seen).toEqual([]);
    expect(native.seen).toEqual([]);
    expect(slow.seen).toEqual([]);
  }

  it.each([
    ['previous_response_id', { previous_response_id: 'resp_123' }, /previous_response_id is not supported/],
    ['store', { store: true }, /store: true is not supported/],
    ['input', { input: 42 }, /input/],
    ['tools.0.type', { tools: [{ type: 'web_search' }] }, /./],
    ['temperatur', { temperatur: 1 }, /temperatur/],
  ])('400 for %s', async (param, extra, message) => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const error = await h
      .openai(key)
      .responses.create({ model: 'gpt-5.2', input: 'Hi', ...(extra as object) } as never)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.BadRequestError);
    const api = error as InstanceType<typeof OpenAI.BadRequestError>;
    expect(api.message).toMatch(message);
    expect(api.error).toMatchObject({ type: 'invalid_request_error' });
    if (param !== 'tools.0.type') expect(api.param).toBe(param === 'temperatur' ? null : param);
    await expectUntouched(accountId);
  });

  it('402 when not even the input is affordable, and when max_output_tokens is not', async () => {
    const poor = await h.createAccount({ balanceUsd: '0.000001' });
    const refused = await h.openai(poor.key).responses.create({ model: 'gpt-5.2', input: 'Hi' }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    expect(refused).toMatchObject({ status: 402, code: 'insufficient_funds' });

    await expectUntouched(poor.accountId, '0.000001');
    const { accountId, key } = await h.createAccount({ balanceUsd: '0.01' });
    const capped = await h.openai(key).responses.create({ model: 'gpt-5.2', input: 'Hi', max_output_tokens: 100_000 }).catch((e: unknown) => e);
    expect(capped).toMatchObject({ status: 402, code: 'insufficient_funds', param: 'max_output_tokens' });
    expect((capped as Error).message).toMatch(/fewer max_output_tokens/);
    await expectUntouched(accountId, '0.01');
  });

  it('store: false is accepted (and absent store means false)', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const data = await h.openai(key).responses.create({ model: 'gpt-5.2', input: 'Hi', store: false });
    expect(data).toMatchObject({ status: 'completed', store: false });
  });
});
