import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import OpenAI from 'openai';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseUsd } from '../../../src/ledger/money.js';
import { chatCost } from '../../../src/pricing/cost.js';
import { startHarness, type Harness } from '../../support/harness.js';
import { startAnthropicServer, startOpenAiServer, type ProtocolServer } from './protocol-servers.js';

// The gateway with a PROVIDERS_FILE routing models to three local providers (two OpenAI-compatible,
// one Anthropic), driven through the official openai SDK.

let h: Harness;
let a: ProtocolServer;
let b: ProtocolServer;
let c: ProtocolServer;
const KEY_A = 'sk-local-a-0123456789';
const KEY_B = 'sk-inline-b-0123456789';
const KEY_C = 'sk-ant-local-c-0123456789';

beforeAll(async () => {
  [a, b, c] = await Promise.all([startOpenAiServer(), startOpenAiServer(), startAnthropicServer()]);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-providers-'));
  const file = path.join(dir, 'providers.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      providers: [
        { name: 'first', api: 'openai', base_url: a.baseUrl, api_key_env: 'TEST_FIRST_KEY', timeout_ms: 500 },
        { name: 'backup', api: 'openai', base_url: b.baseUrl, api_key: KEY_B },
        { name: 'claude', api: 'anthropic', base_url: c.baseUrl, api_key: KEY_C },
      ],
      models: {
        'gpt-5.2': [
          { provider: 'first', model: 'gpt-5.2-first' },
          { provider: 'backup', model: 'gpt-5.2-backup' },
        ],
        'claude-opus-4.5': [{ provider: 'claude', model: 'claude-opus-4-5' }],
        'claude-sonnet-4.5': [
          { provider: 'first', model: 'sonnet-on-first' },
          { provider: 'claude', model: 'claude-sonnet-4-5' },
        ],
      },
    }),
  );
  h = await startHarness({ worker: false, env: { PROVIDERS_FILE: file, TEST_FIRST_KEY: KEY_A, CORS_ORIGINS: 'https://app.example.com' } });
});
afterAll(async () => {
  await h?.close();
  await Promise.all([a, b, c].map((s) => s?.close()));
});
afterEach(async () => {
  for (const s of [a, b, c]) s.reset();
  await h.expectBooksBalanced();
});

const messages = [{ role: 'user' as const, content: 'Say hello.' }];
const holdsOf = (accountId: string) => h.services.db('holds').where({ account_id: accountId });
const usageOf = (accountId: string) => h.services.db('ledger_entries').where({ account_id: accountId, kind: 'usage' }).orderBy('id');
const spent = async (accountId: string) => parseUsd('1.00') - (await h.services.ledger.balance(accountId)).balance;

describe('routes from PROVIDERS_FILE', () => {
  it('sends each model to its own provider under the upstream id, with that provider’s credentials', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const gpt = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages });
    const claude = await h.openai(key).chat.completions.create({ model: 'claude-opus-4.5', messages });

    expect(gpt.model).toBe('gpt-5.2');
    expect(claude.model).toBe('claude-opus-4.5');
    expect(a.seen.map((s) => s.body.model)).toEqual(['gpt-5.2-first']);
    expect(a.seen[0]!.headers.authorization).toBe(`Bearer ${KEY_A}`);
    expect(c.seen.map((s) => s.body.model)).toEqual(['claude-opus-4-5']);
    expect(c.seen[0]!.headers).toMatchObject({ 'x-api-key': KEY_C, 'anthropic-version': '2023-06-01' });
    expect(c.seen[0]!.headers.authorization).toBeUndefined();
    expect(b.seen).toHaveLength(0);
  });

  it('answers 503 model_unavailable for a catalog model that has no route, and holds nothing', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const error = await h.openai(key).chat.completions.create({ model: 'gemini-3-pro', messages }).catch((e) => e);
    expect(error.status).toBe(503);
    expect(error.error).toMatchObject({ code: 'model_unavailable', param: 'model' });
    expect(await holdsOf(accountId)).toHaveLength(0);
    expect((await h.services.ledger.balance(accountId)).held).toBe(0n);
  });
});

describe('fallback', () => {
  it.each([
    ['a 5xx', { kind: 'status', status: 500 }],
    ['a 429', { kind: 'status', status: 429, retryAfter: '7' }],
    ['a dropped connection', { kind: 'drop' }],
    ['silence until the timeout', { kind: 'silent' }],
  ] as const)('moves to the next route on %s and bills once, from the answering route, at the public price', async (_kind, behaviour) => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    a.behaviour = behaviour;
    b.usage = { input: 41, output: 17, cacheRead: 0, cacheWrite: 0 };
    for (const stream of [false, true]) {
      const before = await spent(accountId);
      let text = '';
      if (stream) {
        const chunks = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages, stream: true });
        for await (const chunk of chunks) text += chunk.choices[0]?.delta.content ?? '';
      } else {
        text = (await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages })).choices[0]!.message.content!;
      }
      expect(text).toBe('Hello from upstream');
      expect((await spent(accountId)) - before).toBe(chatCost(h.services.catalog.chat('gpt-5.2')!, { promptTokens: 41, completionTokens: 17 }));
    }
    expect(a.seen).toHaveLength(2);
    expect(b.seen.map((s) => s.body.model)).toEqual(['gpt-5.2-backup', 'gpt-5.2-backup']);
    const cost = chatCost(h.services.catalog.chat('gpt-5.2')!, { promptTokens: 41, completionTokens: 17 });
    expect((await usageOf(accountId)).map((e) => e.amount)).toEqual([-cost, -cost]);
  });

  it('falls from an OpenAI-compatible route to an Anthropic one', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    a.behaviour = { kind: 'status', status: 503 };
    const answer = await h.openai(key).chat.completions.create({ model: 'claude-sonnet-4.5', messages });
    expect(answer.choices[0]!.message.content).toBe('Hello from upstream');
    expect(c.seen.map((s) => s.body.model)).toEqual(['claude-sonnet-4-5']);
  });

  it('when every route fails, passes on the last retry-after and names no provider, account or key', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    a.behaviour = { kind: 'status', status: 500 };
    b.behaviour = { kind: 'status', status: 429, retryAfter: '13', message: `backup rate limit for key ${KEY_B} on provider-x` };
    const response = await h.call('POST', '/v1/chat/completions', { key, body: { model: 'gpt-5.2', messages } });
    expect(response.status).toBe(429);
    expect(response.headers.get('retry-after')).toBe('13');
    const text = await response.text();
    for (const secret of ['backup', 'first', 'provider-x', KEY_B, KEY_A, 'acct_secret', '127.0.0.1']) expect(text).not.toContain(secret);
    expect(await spent(accountId)).toBe(0n);
    expect(await usageOf(accountId)).toEqual([]);
    expect((await h.idleBalance(accountId)).held).toBe(0n);
  });

  it('does not move once output has started: a stream that dies is billed for what it produced, and the backup is not called', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    a.behaviour = { kind: 'die_mid_stream' };
    const chunks = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages, stream: true });
    let text = '';
    const failure = await (async () => {
      for await (const chunk of chunks) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e) => e);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(text).toBe('Hello');
    expect(b.seen).toHaveLength(0);
    expect(await spent(accountId)).toBeGreaterThan(0n);
  });

  it('does not move on a 4xx about the request itself', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    a.behaviour = { kind: 'status', status: 400, message: 'messages too long' };
    const error = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages }).catch((e) => e);
    expect(error.status).toBe(400);
    expect(b.seen).toHaveLength(0);
  });
});

describe('Anthropic Messages upstream', () => {
  const tools = [{ type: 'function' as const, function: { name: 'weather', description: 'Weather now', parameters: { type: 'object', properties: { city: { type: 'string' } } } } }];
  const conversation = [
    { role: 'system' as const, content: 'Be brief.' },
    { role: 'user' as const, content: 'Weather in Oslo?' },
    { role: 'assistant' as const, content: null, tool_calls: [{ id: 'toolu_0', type: 'function' as const, function: { name: 'weather', arguments: '{"city":"Oslo"}' } }] },
    { role: 'tool' as const, tool_call_id: 'toolu_0', content: '3°C' },
    { role: 'user' as const, content: 'And Rome?' },
  ];

  it('translates system prompt, tools and tool results there, and tool calls back, plain and streamed', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    c.toolCall = { id: 'toolu_1', name: 'weather', input: { city: 'Rome' } };
    const plain = await h.openai(key).chat.completions.create({ model: 'claude-opus-4.5', messages: conversation, tools, max_tokens: 200 });
    expect(plain.choices[0]).toMatchObject({
      finish_reason: 'tool_calls',
      message: { tool_calls: [{ id: 'toolu_1', type: 'function', function: { name: 'weather', arguments: '{"city":"Rome"}' } }] },
    });

    const stream = await h.openai(key).chat.completions.create({ model: 'claude-opus-4.5', messages: conversation, tools, stream: true, stream_options: { include_usage: true } });
    let args = '';
    let finish: string | null = null;
    let usage: OpenAI.CompletionUsage | null | undefined;
    for await (const chunk of stream) {
      args += chunk.choices[0]?.delta.tool_calls?.[0]?.function?.arguments ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
      usage = chunk.usage ?? usage;
    }
    expect(args).toBe('{"city":"Rome"}');
    expect(finish).toBe('tool_calls');
    expect(usage).toMatchObject({ prompt_tokens: 30, completion_tokens: 12 });

    const sent = c.seen[0]!.body;
    expect(sent).toMatchObject({ model: 'claude-opus-4-5', system: 'Be brief.', max_tokens: 200 });
    expect(sent.tools).toEqual([{ name: 'weather', description: 'Weather now', input_schema: tools[0]!.function.parameters }]);
    expect(sent.messages).toEqual([
      { role: 'user', content: [{ type: 'text', text: 'Weather in Oslo?' }] },
      { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_0', name: 'weather', input: { city: 'Oslo' } }] },
      { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_0', content: '3°C' }, { type: 'text', text: 'And Rome?' }] },
    ]);
    expect(c.seen[1]!.body.stream).toBe(true);
    const claude = h.services.catalog.chat('claude-opus-4.5')!;
    expect(await spent(accountId)).toBe(2n * chatCost(claude, { promptTokens: 30, completionTokens: 12 }));
  });

  it('streams text with its stop reason', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const stream = await h.openai(key).chat.completions.create({ model: 'claude-opus-4.5', messages, stream: true });
    let text = '';
    let finish: string | null = null;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      finish = chunk.choices[0]?.finish_reason ?? finish;
    }
    expect(text).toBe('Hello from upstream');
    expect(finish).toBe('stop');
  });
});

describe('POST /v1/messages on provider routes (Anthropic SDK)', () => {
  const client = (key: string) => new Anthropic({ apiKey: key, baseURL: h.baseUrl, maxRetries: 0 });
  const tools = [{ name: 'weather', description: 'Weather now', input_schema: { type: 'object' as const, properties: { city: { type: 'string' } } } }];
  const conversation: Anthropic.MessageParam[] = [
    { role: 'user', content: 'Weather in Oslo?' },
    { role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_0', name: 'weather', input: { city: 'Oslo' } }] },
    { role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_0', content: '3°C' }, { type: 'text', text: 'And Rome?' }] },
  ];

  it('reaches an Anthropic provider with the caller’s own system, tools and tool results, and returns its tool use and cache counts, plain and streamed', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    c.toolCall = { id: 'toolu_1', name: 'weather', input: { city: 'Rome' } };
    c.usage = { input: 100, output: 30, cacheRead: 600, cacheWrite: 300 };
    const body = { model: 'claude-opus-4-5-20251101', max_tokens: 200, system: 'Be brief.', tools, messages: conversation };

    const plain = await client(key).messages.create(body);
    expect(plain).toMatchObject({ model: 'claude-opus-4.5', stop_reason: 'tool_use', content: [{ type: 'tool_use', id: 'toolu_1', name: 'weather', input: { city: 'Rome' } }] });
    expect(plain.usage).toMatchObject({ input_tokens: 100, output_tokens: 30, cache_read_input_tokens: 600, cache_creation_input_tokens: 300 });

    const streamed = await client(key).messages.stream(body).finalMessage();
    expect(streamed.content).toEqual(plain.content);
    expect(streamed.stop_reason).toBe('tool_use');
    expect(streamed.usage).toMatchObject({ input_tokens: 100, output_tokens: 30, cache_read_input_tokens: 600, cache_creation_input_tokens: 300 });

    // Messages reach an Anthropic provider natively: the caller's own body, with the route's model id.
    for (const seen of c.seen) {
      expect(seen.body).toMatchObject({ model: 'claude-opus-4-5', system: 'Be brief.', max_tokens: 200 });
      expect(seen.body.tools).toEqual(tools);
      expect(seen.body.messages).toEqual(conversation);
    }
    expect(c.seen.map((x) => x.body.stream ?? false)).toEqual([false, true]);
    const cost = chatCost(h.services.catalog.chat('claude-opus-4.5')!, { promptTokens: 1000, cachedTokens: 600, cacheWriteTokens: 300, completionTokens: 30 });
    expect(await spent(accountId)).toBe(2n * cost);
    expect(Math.round((plain.usage as unknown as { cost: number }).cost * 1e9)).toBe(Number(cost));
  });

  it('falls back between OpenAI-compatible routes and bills once, with the OpenAI cached tokens as Anthropic cache reads', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    a.behaviour = { kind: 'status', status: 503 };
    b.usage = { input: 41, output: 17, cacheRead: 9, cacheWrite: 0 };
    const answer = await client(key).messages.create({ model: 'openai/gpt-5.2', max_tokens: 100, messages: [{ role: 'user', content: 'Say hello.' }] });
    expect(answer.content).toEqual([{ type: 'text', text: 'Hello from upstream' }]);
    expect(answer.usage).toMatchObject({ input_tokens: 41, cache_read_input_tokens: 9, output_tokens: 17 });
    expect(a.seen).toHaveLength(1);
    expect(b.seen[0]!.body).toMatchObject({ model: 'gpt-5.2-backup', max_completion_tokens: 100, messages: [{ role: 'user', content: 'Say hello.' }] });
    expect(await spent(accountId)).toBe(chatCost(h.services.catalog.chat('gpt-5.2')!, { promptTokens: 50, cachedTokens: 9, completionTokens: 17 }));
  });

  it('answers a provider that fails on every route in Anthropic’s error shape, naming no provider, with its retry-after', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    a.behaviour = { kind: 'status', status: 503 };
    b.behaviour = { kind: 'status', status: 429, retryAfter: '11' };
    const res = await h.call('POST', '/v1/messages', { headers: { 'x-api-key': key }, body: { model: 'gpt-5.2', max_tokens: 10, messages: [{ role: 'user', content: 'hi' }] } });
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toBe('11');
    const text = await res.text();
    expect(JSON.parse(text)).toMatchObject({ type: 'error', error: { type: 'rate_limit_error' } });
    expect(text).not.toMatch(/provider-x|acct_secret|backup|first/);
    expect(await spent(accountId)).toBe(0n);
  });
});

describe('prices that match the upstream bill', () => {
  it('bills cached prompt tokens at the catalog’s cached rates, from OpenAI’s cached_tokens and Anthropic’s cache read/write', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    a.usage = { input: 200, output: 20, cacheRead: 800, cacheWrite: 0 };
    const gpt = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages });
    const gptCost = chatCost(h.services.catalog.chat('gpt-5.2')!, { promptTokens: 1000, cachedTokens: 800, completionTokens: 20 });
    expect(gptCost).toBeLessThan(chatCost(h.services.catalog.chat('gpt-5.2')!, { promptTokens: 1000, completionTokens: 20 }));
    expect(gpt.usage).toMatchObject({ prompt_tokens: 1000, prompt_tokens_details: { cached_tokens: 800 } });
    expect(await spent(accountId)).toBe(gptCost);

    c.usage = { input: 100, output: 30, cacheRead: 600, cacheWrite: 300 };
    const claude = await h.openai(key).chat.completions.create({ model: 'claude-opus-4.5', messages });
    expect(claude.usage).toMatchObject({ prompt_tokens: 1000, completion_tokens: 30, prompt_tokens_details: { cached_tokens: 600, cache_write_tokens: 300 } });
    const claudeCost = chatCost(h.services.catalog.chat('claude-opus-4.5')!, { promptTokens: 1000, cachedTokens: 600, cacheWriteTokens: 300, completionTokens: 30 });
    expect(await spent(accountId)).toBe(gptCost + claudeCost);
    expect(Math.round((claude.usage as unknown as { cost: number }).cost * 1e9)).toBe(Number(claudeCost));

    // The usage log keeps the split beside the exact charge of each request.
    const page = (await (await h.call('GET', '/v1/billing/usage', { key })).json()) as { data: Record<string, any>[] };
    expect(page.data.map((r) => [r.model, r.prompt_tokens, r.prompt_tokens_details, parseUsd(r.cost_usd)])).toEqual([
      ['claude-opus-4.5', 1000, { cached_tokens: 600, cache_write_tokens: 300 }, claudeCost],
      ['gpt-5.2', 1000, { cached_tokens: 800, cache_write_tokens: 0 }, gptCost],
    ]);
  });
});

describe('what a client sees of the routes', () => {
  it('lists only routable chat models, with prices, cached prices, context length and modality', async () => {
    const { key } = await h.createAccount();
    const list = (await (await h.call('GET', '/v1/models', { key })).json()) as { data: Record<string, any>[] };
    const ids = list.data.map((m) => m.id);
    expect(ids).toEqual(expect.arrayContaining(['gpt-5.2', 'claude-opus-4.5', 'claude-sonnet-4.5', 'veo-3.1']));
    expect(ids).not.toContain('gemini-3-pro');
    expect(list.data.find((m) => m.id === 'claude-opus-4.5')).toMatchObject({
      modality: 'text->text',
      context_window: 200000,
      pricing: { input_usd_per_million_tokens: '1.50', cached_input_usd_per_million_tokens: '0.15', cache_write_usd_per_million_tokens: '1.875' },
    });
    expect(list.data.find((m) => m.id === 'veo-3.1')).toMatchObject({ modality: 'text+image->video' });
  });

  it('serves an OpenRouter-style alias as the catalog model', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const answer = await h.openai(key).chat.completions.create({ model: 'anthropic/claude-opus-4.5', messages });
    expect(answer.model).toBe('claude-opus-4.5');
    expect(c.seen.map((s) => s.body.model)).toEqual(['claude-opus-4-5']);
  });

  it('tells a caller who asks the chat endpoint for an image model which endpoint serves it', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const error = await h.openai(key).chat.completions.create({ model: 'nano-banana-2', messages }).catch((e) => e);
    expect(error.status).toBe(404);
    expect(error.message).toContain('POST /v1/images/generations');
  });

  it('answers a browser preflight from a configured origin, before any key, and no other origin', async () => {
    const preflight = (origin: string) =>
      fetch(`${h.baseUrl}/v1/chat/completions`, {
        method: 'OPTIONS',
        headers: { origin, 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
      });
    const allowed = await preflight('https://app.example.com');
    expect(allowed.status).toBe(204);
    expect(allowed.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(allowed.headers.get('access-control-allow-headers')).toBe('authorization, content-type');
    const other = await preflight('https://evil.example.com');
    expect(other.headers.get('access-control-allow-origin')).toBeNull();

    const { key } = await h.createAccount();
    const models = await h.call('GET', '/v1/models', { key, headers: { origin: 'https://app.example.com' } });
    expect(models.headers.get('access-control-allow-origin')).toBe('https://app.example.com');
    expect(models.headers.get('access-control-expose-headers')).toContain('x-request-cost-usd');
  });
});
