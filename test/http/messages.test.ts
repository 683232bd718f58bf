import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countPromptTokens } from '../../src/chat/tokens.js';
import { parseUsd } from '../../src/ledger/money.js';
import { promptOf } from '../../src/messages/messages-request.js';
import { chatCost } from '../../src/pricing/cost.js';
import { startHarness, type Harness } from '../support/harness.js';

// POST /v1/messages through the official Anthropic SDK, served by the embedded simulator (an
// OpenAI-compatible upstream): the request is translated to chat completions and the answer back.

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ worker: false });
});
afterAll(async () => h?.close());
afterEach(async () => h.expectBooksBalanced());

const anthropic = (key: string, auth: 'x-api-key' | 'bearer' = 'x-api-key') =>
  new Anthropic({ ...(auth === 'x-api-key' ? { apiKey: key } : { apiKey: null, authToken: key }), baseURL: h.baseUrl, maxRetries: 0 });
const spent = async (accountId: string, from = '1.00') => parseUsd(from) - (await h.services.ledger.balance(accountId)).balance;
const model = () => h.services.catalog.chat('claude-sonnet-4.5')!;
const request = {
  model: 'claude-sonnet-4-5',
  max_tokens: 64,
  system: [{ type: 'text' as const, text: 'You are terse.' }],
  messages: [{ role: 'user' as const, content: 'Say hello.' }],
};
const rowsOf = (accountId: string) => h.services.db('requests').where({ account_id: accountId }).orderBy('created_at');

describe('POST /v1/messages', () => {
  it('answers an Anthropic message for Anthropic’s own model id, with x-api-key or Bearer, and charges exactly its usage', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const { data: message, response } = await anthropic(key).messages.create(request).withResponse();
    expect(message).toMatchObject({ type: 'message', role: 'assistant', model: 'claude-sonnet-4.5', stop_reason: 'end_turn', stop_sequence: null });
    expect(message.id).toMatch(/^msg_/);
    expect(message.content).toHaveLength(1);
    expect(message.content[0]!.type).toBe('text');
    const { input_tokens, output_tokens } = message.usage;
    expect(input_tokens).toBeGreaterThan(0);
    expect(output_tokens).toBeGreaterThan(0);
    const cost = chatCost(model(), { promptTokens: input_tokens, completionTokens: output_tokens });
    expect(await spent(accountId)).toBe(cost);
    expect(parseUsd(response.headers.get('x-request-cost-usd')!)).toBe(cost);

    const viaBearer = await anthropic(key, 'bearer').messages.create(request);
    expect(viaBearer.content).toEqual(message.content);
    expect(await spent(accountId)).toBe(2n * cost);
    const rows = await rowsOf(accountId);
    expect(rows.map((r) => [r.endpoint, r.status, r.http_status, BigInt(r.cost)])).toEqual([
      ['/v1/messages', 'completed', 200, cost],
      ['/v1/messages', 'completed', 200, cost],
    ]);
  });

  it('takes a conversation far beyond 256 KB, as Claude Code sends them, and bills its prompt', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const turn = 'The quick brown fox jumps over the lazy dog. '.repeat(7_000);
    const long = { ...request, messages: [{ role: 'user' as const, content: turn }, { role: 'assistant' as const, content: 'Noted.' }, { role: 'user' as const, content: 'Say hello.' }] };
    expect(Buffer.byteLength(JSON.stringify(long))).toBeGreaterThan(300 * 1024);
    const message = await anthropic(key).messages.create(long);
    expect(message.usage.input_tokens).toBeGreaterThan(60_000);
    expect(await spent(accountId)).toBe(chatCost(model(), { promptTokens: message.usage.input_tokens, completionTokens: message.usage.output_tokens }));
  });

  it('streams Anthropic’s event sequence and charges what the same message costs without streaming', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const plain = await anthropic(key).messages.create(request);
    const before = await spent(accountId);

    const stream = anthropic(key).messages.stream(request);
    const events: string[] = [];
    stream.on('streamEvent', (event) => events.push(event.type));
    const final = await stream.finalMessage();

    expect(final.content).toEqual(plain.content);
    expect(final.usage).toMatchObject({ input_tokens: plain.usage.input_tokens, output_tokens: plain.usage.output_tokens });
    expect(final.stop_reason).toBe('end_turn');
    const deltas = events.filter((e) => e === 'content_block_delta').length;
    expect(deltas).toBeGreaterThan(0);
    expect(events).toEqual([
      'message_start',
      'content_block_start',
      ...Array(deltas).fill('content_block_delta'),
      'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect((await spent(accountId)) - before).toBe(before);
  });

  it('translates tools and tool results to the chat upstream and answers', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const answer = await anthropic(key).messages.create({
      model: 'claude-haiku-4.5',
      max_tokens: 32,
      tools: [{ name: 'get_weather', description: 'Weather', input_schema: { type: 'object', properties: { city: { type: 'string' } } } }],
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      messages: [
        { role: 'user', content: 'Weather in Oslo?' },
        { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { city: 'Oslo' } }] },
        { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: [{ type: 'text', text: '12°C' }] }, { type: 'text', text: 'Thanks' }] },
      ],
      stop_sequences: ['\n\n'],
      // Sampling fields older clients (and Claude Code) still send; this SDK's types dropped them.
      ...({ temperature: 0.2, top_p: 0.9, top_k: 5 } as object),
      metadata: { user_id: 'user-1' },
    });
    expect(answer.content[0]!.type).toBe('text');
  });

  it('counts the prompt tokens with the estimate tokenizer, free of charge', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const body = { model: request.model, system: request.system, messages: request.messages };
    const counted = await anthropic(key).messages.countTokens(body);
    const prompt = promptOf(body);
    expect(counted.input_tokens).toBe(countPromptTokens(prompt.messages, prompt.tools));
    expect(await spent(accountId)).toBe(0n);
    expect(await h.services.db('holds').where({ account_id: accountId })).toHaveLength(0);
  });
});

describe('POST /v1/messages errors, in Anthropic’s shape', () => {
  it('answers 402 billing_error when the balance cannot cover max_tokens, sends nothing and holds nothing', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '0.01' });
    const error = await anthropic(key).messages.create({ ...request, max_tokens: 8_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(Anthropic.APIError);
    const e = error as InstanceType<typeof Anthropic.APIError>;
    expect(e.status).toBe(402);
    expect(e.error).toMatchObject({ type: 'error', error: { type: 'billing_error' } });
    expect((e.error as { error: { message: string } }).error.message).toMatch(/You requested up to 8000 tokens, but can only afford \d+/);
    expect(e.headers?.get('x-should-retry')).toBe('false');
    expect(await spent(accountId, '0.01')).toBe(0n);
    expect(await h.services.db('holds').where({ account_id: accountId })).toHaveLength(0);
  });

  it.each([
    ['no key', undefined, {}, 401, 'authentication_error', Anthropic.AuthenticationError],
    ['missing max_tokens', 'key', { max_tokens: undefined }, 400, 'invalid_request_error', Anthropic.BadRequestError],
    ['a system role in messages', 'key', { messages: [{ role: 'system', content: 'x' }] }, 400, 'invalid_request_error', Anthropic.BadRequestError],
    ['a document block', 'key', { messages: [{ role: 'user', content: [{ type: 'document', source: { type: 'text', data: 'x', media_type: 'text/plain' } }] }] }, 400, 'invalid_request_error', Anthropic.BadRequestError],
    ['a server tool', 'key', { tools: [{ type: 'web_search_20250305', name: 'web_search' }] }, 400, 'invalid_request_error', Anthropic.BadRequestError],
    ['an unknown model', 'key', { model: 'claude-9' }, 404, 'not_found_error', Anthropic.NotFoundError],
  ] as const)('refuses %s, in Anthropic’s error shape, and changes nothing', async (_what, withKey, change, status, type, kind) => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const res = await h.call('POST', '/v1/messages', {
      key: withKey ? key : undefined,
      body: { ...request, ...change },
      headers: { 'anthropic-version': '2023-06-01' },
    });
    expect(res.status).toBe(status);
    const body = await res.json();
    expect(body).toMatchObject({ type: 'error', error: { type, message: expect.any(String) } });
    expect(JSON.stringify(body)).not.toContain(key);
    const viaSdk = await anthropic(withKey ? key : 'sk-none').messages.create({ ...request, ...change } as never).catch((e: unknown) => e);
    expect(viaSdk).toBeInstanceOf(kind);
    expect(await spent(accountId)).toBe(0n);
  });

  it('keeps the OpenAI shape and Bearer-only auth on the other endpoints', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const res = await h.call('POST', '/v1/chat/completions', { headers: { 'x-api-key': key }, body: { model: 'gpt-5.2', messages: [] } });
    expect(res.status).toBe(401);
    expect(await res.json()).toMatchObject({ error: { type: 'invalid_request_error', code: 'invalid_api_key' } });
  });
});
