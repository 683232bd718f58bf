import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Anthropic from '@anthropic-ai/sdk';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { parseUsd } from '../../src/ledger/money.js';
import { chatCost } from '../../src/pricing/cost.js';
import { startAnthropicServer, startOpenAiServer, type ProtocolServer } from '../providers/chat/protocol-servers.js';
import { startHarness, type Harness } from '../support/harness.js';

// POST /v1/messages passed through natively to a provider with `api: "anthropic"` (a local server
// speaking Anthropic's documented protocol), through the official Anthropic SDK: the provider sees
// the caller's own body, the caller sees the provider's own answer with our id, model and billed
// usage. A route to an OpenAI-compatible provider still gets the translation.

let h: Harness;
let claude: ProtocolServer;
let openai: ProtocolServer;
const CLAUDE_KEY = 'sk-ant-native-0123456789';

beforeAll(async () => {
  [claude, openai] = await Promise.all([startAnthropicServer(), startOpenAiServer()]);
  const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-messages-native-')), 'providers.json');
  fs.writeFileSync(
    file,
    JSON.stringify({
      providers: [
        { name: 'claude', api: 'anthropic', base_url: claude.baseUrl, api_key: CLAUDE_KEY },
        { name: 'compat', api: 'openai', base_url: openai.baseUrl },
      ],
      models: {
        'claude-opus-4.5': [{ provider: 'claude', model: 'claude-opus-4-5-upstream' }],
        'claude-sonnet-4.5': [
          { provider: 'claude', model: 'claude-sonnet-4-5-upstream' },
          { provider: 'compat', model: 'sonnet-on-compat' },
        ],
        'claude-haiku-4.5': [{ provider: 'compat', model: 'haiku-on-compat' }],
      },
    }),
  );
  h = await startHarness({ worker: false, env: { PROVIDERS_FILE: file } });
});
afterAll(async () => {
  await h?.close();
  await Promise.all([claude, openai].map((s) => s?.close()));
});
afterEach(async () => {
  claude.reset();
  openai.reset();
  await h.expectBooksBalanced();
});

const client = (key: string, headers: Record<string, string> = {}) => new Anthropic({ apiKey: key, baseURL: h.baseUrl, maxRetries: 0, defaultHeaders: headers });
const spent = async (accountId: string) => parseUsd('1.00') - (await h.services.ledger.balance(accountId)).balance;
const rowsOf = (accountId: string) => h.services.db('requests').where({ account_id: accountId }).orderBy('created_at');
const costOf = (usage: unknown) => BigInt(Math.round((usage as { cost: number }).cost * 1e9));

/** Fields the translation to chat completions loses or refuses: only a native route honours them. */
const richBody = {
  model: 'claude-opus-4.5',
  max_tokens: 2048,
  system: [{ type: 'text' as const, text: 'You read contracts.', cache_control: { type: 'ephemeral' as const } }],
  messages: [
    {
      role: 'user' as const,
      content: [
        { type: 'document' as const, source: { type: 'text' as const, media_type: 'text/plain' as const, data: 'Clause 1: pay on time.' }, citations: { enabled: true } },
        { type: 'text' as const, text: 'Summarise.', cache_control: { type: 'ephemeral' as const } },
      ],
    },
  ],
  thinking: { type: 'enabled' as const, budget_tokens: 1024 },
  top_k: 5,
  metadata: { user_id: 'customer-7' },
  tools: [{ name: 'lookup', description: 'Find a clause', input_schema: { type: 'object' as const, properties: { n: { type: 'integer' } } } }],
  tool_choice: { type: 'auto' as const, disable_parallel_tool_use: true },
};

describe('POST /v1/messages on an Anthropic route', () => {
  it('sends the caller’s exact body and Anthropic headers, relays the message with our id and model, and bills cache reads and writes at the cache rates', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    claude.usage = { input: 100, output: 30, cacheRead: 600, cacheWrite: 300 };
    claude.thinking = 'The clause is short.';
    const { data: message, response } = await client(key, { 'anthropic-version': '2023-06-01', 'anthropic-beta': 'context-1m-2025-08-07' }).messages.create(richBody).withResponse();

    expect(claude.seen).toHaveLength(1);
    const seen = claude.seen[0]!;
    expect(seen.body).toEqual({ ...richBody, model: 'claude-opus-4-5-upstream' });
    expect(seen.headers).toMatchObject({ 'x-api-key': CLAUDE_KEY, 'anthropic-version': '2023-06-01', 'anthropic-beta': 'context-1m-2025-08-07' });
    expect(JSON.stringify(seen.headers)).not.toContain(key);

    expect(message.id).toMatch(/^msg_/);
    expect(message.id).not.toBe('msg_local');
    expect(message.model).toBe('claude-opus-4.5');
    expect(message.content).toEqual([
      { type: 'thinking', thinking: 'The clause is short.', signature: 'sig-local' },
      { type: 'text', text: 'Hello from upstream' },
    ]);
    expect(message.usage).toMatchObject({ input_tokens: 100, output_tokens: 30, cache_read_input_tokens: 600, cache_creation_input_tokens: 300 });
    const cost = chatCost(h.services.catalog.chat('claude-opus-4.5')!, { promptTokens: 1000, cachedTokens: 600, cacheWriteTokens: 300, completionTokens: 30 });
    expect(cost).toBeLessThan(chatCost(h.services.catalog.chat('claude-opus-4.5')!, { promptTokens: 1000, completionTokens: 30 }));
    expect(costOf(message.usage)).toBe(cost);
    expect(parseUsd(response.headers.get('x-request-cost-usd')!)).toBe(cost);
    expect(await spent(accountId)).toBe(cost);
    expect((await rowsOf(accountId)).map((r) => [r.endpoint, r.status, r.prompt_tokens, r.completion_tokens, BigInt(r.cost)])).toEqual([
      ['/v1/messages', 'completed', 1000, 30, cost],
    ]);
  });

  it('streams the provider’s own events (thinking and signature deltas included) with our id and model, and the billed usage on message_delta', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    claude.usage = { input: 100, output: 30, cacheRead: 600, cacheWrite: 0 };
    claude.thinking = 'Short clause.';
    const stream = client(key).messages.stream(richBody);
    const types: string[] = [];
    const deltas: string[] = [];
    let billed: unknown;
    for await (const event of stream) {
      types.push(event.type);
      if (event.type === 'content_block_delta') deltas.push(event.delta.type);
      if (event.type === 'message_delta') billed = event.usage;
    }
    const message = await stream.finalMessage();

    expect(claude.seen[0]!.body).toEqual({ ...richBody, model: 'claude-opus-4-5-upstream', stream: true });
    expect(types).toEqual([
      'message_start',
      'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop',
      'content_block_start', 'content_block_delta', 'content_block_delta', 'content_block_stop',
      'message_delta',
      'message_stop',
    ]);
    expect(deltas).toEqual(['thinking_delta', 'signature_delta', 'text_delta', 'text_delta']);
    expect(message.id).toMatch(/^msg_/);
    expect(message.id).not.toBe('msg_local');
    expect(message.model).toBe('claude-opus-4.5');
    expect(message.content).toEqual([
      { type: 'thinking', thinking: 'Short clause.', signature: 'sig-local' },
      { type: 'text', text: 'Hello from upstream' },
    ]);
    const cost = chatCost(h.services.catalog.chat('claude-opus-4.5')!, { promptTokens: 700, cachedTokens: 600, completionTokens: 30 });
    expect(message.usage).toMatchObject({ input_tokens: 100, output_tokens: 30, cache_read_input_tokens: 600, cache_creation_input_tokens: 0 });
    expect(billed).toMatchObject({ input_tokens: 100, output_tokens: 30, cache_read_input_tokens: 600 });
    expect(costOf(billed)).toBe(cost);
    expect(await spent(accountId)).toBe(cost);
  });

  it('relays tool use, plain and streamed, and bills each once', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    claude.toolCall = { id: 'toolu_9', name: 'lookup', input: { n: 1 } };
    const body = { ...richBody, thinking: undefined, messages: [{ role: 'user' as const, content: 'Find clause 1.' }] };
    const plain = await client(key).messages.create(body);
    const streamed = await client(key).messages.stream(body).finalMessage();
    for (const message of [plain, streamed]) {
      expect(message.stop_reason).toBe('tool_use');
      expect(message.content).toEqual([{ type: 'tool_use', id: 'toolu_9', name: 'lookup', input: { n: 1 } }]);
    }
    expect(claude.seen.map((s) => s.body.tool_choice)).toEqual([richBody.tool_choice, richBody.tool_choice]);
    const cost = chatCost(h.services.catalog.chat('claude-opus-4.5')!, { promptTokens: 30, completionTokens: 12 });
    expect(await spent(accountId)).toBe(2n * cost);
  });

  it('falls back to an OpenAI-compatible route when the Anthropic one fails, still answering in Anthropic’s shape, billed once', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    claude.behaviour = { kind: 'status', status: 529, message: 'Overloaded' };
    openai.usage = { input: 41, output: 17, cacheRead: 0, cacheWrite: 0 };
    const body = { model: 'claude-sonnet-4.5', max_tokens: 64, messages: [{ role: 'user' as const, content: 'Say hello.' }] };

    const plain = await client(key).messages.create(body);
    expect(plain).toMatchObject({ type: 'message', model: 'claude-sonnet-4.5', content: [{ type: 'text', text: 'Hello from upstream' }], stop_reason: 'end_turn' });
    expect(plain.usage).toMatchObject({ input_tokens: 41, output_tokens: 17 });
    const streamed = await client(key).messages.stream(body).finalMessage();
    expect(streamed.content).toEqual(plain.content);

    expect(claude.seen.map((s) => s.body.model)).toEqual(['claude-sonnet-4-5-upstream', 'claude-sonnet-4-5-upstream']);
    expect(openai.seen.map((s) => s.body)).toEqual([
      expect.objectContaining({ model: 'sonnet-on-compat', messages: [{ role: 'user', content: 'Say hello.' }], max_completion_tokens: 64 }),
      expect.objectContaining({ model: 'sonnet-on-compat', stream: true }),
    ]);
    const cost = chatCost(h.services.catalog.chat('claude-sonnet-4.5')!, { promptTokens: 41, completionTokens: 17 });
    expect(await spent(accountId)).toBe(2n * cost);
    expect((await h.services.db('ledger_entries').where({ account_id: accountId, kind: 'usage' })).map((e) => e.amount)).toEqual([-cost, -cost]);
  });

  it('a field only Anthropic takes (a document block) is refused 400 where no route speaks Anthropic, with nothing held or sent', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const body = { ...richBody, model: 'claude-haiku-4.5', thinking: undefined };
    const refused = await client(key).messages.create(body).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect((refused as InstanceType<typeof Anthropic.BadRequestError>).message).toMatch(/document/);
    expect(openai.seen).toEqual([]);
    expect(await h.services.db('holds').where({ account_id: accountId })).toEqual([]);
    expect(await spent(accountId)).toBe(0n);
  });

  it('the same document goes through when the answering route is Anthropic’s; if it falls back to a translating route, 400 and nothing charged', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const body = { ...richBody, model: 'claude-sonnet-4.5', thinking: undefined };
    const served = await client(key).messages.create(body);
    expect(served.content).toEqual([{ type: 'text', text: 'Hello from upstream' }]);
    const charged = await spent(accountId);
    expect(charged).toBe(chatCost(h.services.catalog.chat('claude-sonnet-4.5')!, { promptTokens: 30, completionTokens: 12 }));

    claude.behaviour = { kind: 'status', status: 503 };
    const refused = await client(key).messages.create(body).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Anthropic.BadRequestError);
    expect(openai.seen).toEqual([]);
    expect(await spent(accountId)).toBe(charged);
  });

  it('holds a request with a document for the model’s whole context window (its tokens cannot be told from its bytes): 402 when that is unaffordable, nothing sent', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '0.10' });
    const refused = await client(key).messages.create({ ...richBody, thinking: undefined, max_tokens: 16 }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(Anthropic.APIError);
    expect((refused as InstanceType<typeof Anthropic.APIError>).status).toBe(402);
    expect(claude.seen).toEqual([]);
    expect(parseUsd('0.10') - (await h.services.ledger.balance(accountId)).balance).toBe(0n);
    // Without the document, the same balance serves it.
    const { messages: _doc, ...rest } = richBody;
    const served = await client(key).messages.create({ ...rest, thinking: undefined, max_tokens: 16, messages: [{ role: 'user', content: 'Summarise.' }] });
    expect(served.content).toEqual([{ type: 'text', text: 'Hello from upstream' }]);
  });
});
