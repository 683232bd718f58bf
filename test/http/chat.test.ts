import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { planHold } from '../../src/chat/hold-plan.js';
import { promptTokenBound } from '../../src/chat/prompt-bound.js';
import { formatUsd, parseUsd } from '../../src/ledger/money.js';
import { chatCost } from '../../src/pricing/cost.js';
import type { Harness } from '../support/harness.js';
import { chatHarness, type TestUpstream } from './chat-upstream.js';

const chat = chatHarness({ replyLength: { min: 20, max: 60 } }, { UPSTREAM_API_KEY: 'sk-upstream-test' });
let h: Harness;
let upstream: TestUpstream;
beforeAll(() => ({ h, upstream } = chat));

const gpt52 = () => h.services.catalog.chat('gpt-5.2')!;
const messages = [{ role: 'user' as const, content: 'Explain prepaid credit in one paragraph.' }];
const balanceOf = (accountId: string) => h.services.ledger.balance(accountId);
const requestRow = (id: string) => h.services.db('requests').where({ id }).first();
const holdsOf = (accountId: string) => h.services.db('holds').where({ account_id: accountId });

describe('POST /v1/chat/completions billing', () => {
  it('bills the worked example exactly: gpt-5.2 with 500 prompt and 200 completion tokens costs $0.0011025', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.fixedUsage = { prompt: 500, completion: 200 };
    const client = h.openai(key);

    const { data: completion, response } = await client.chat.completions.create({ model: 'gpt-5.2', messages }).withResponse();
    expect(completion.model).toBe('gpt-5.2');
    expect(completion.usage).toMatchObject({ prompt_tokens: 500, completion_tokens: 200, total_tokens: 700, cost: 0.0011025 });
    expect(response.headers.get('x-request-cost-usd')).toBe('0.0011025');
    expect(response.headers.get('x-request-id')).toMatch(/^req_/);
    expect((await balanceOf(accountId)).balance).toBe(parseUsd('1.00') - 1_102_500n);

    const stream = await client.chat.completions.create({
      model: 'gpt-5.2',
      messages,
      stream: true,
      stream_options: { include_usage: true },
    });
    let usage: any;
    for await (const chunk of stream) if (chunk.usage) usage = chunk.usage;
    expect(usage).toMatchObject({ prompt_tokens: 500, completion_tokens: 200, cost: 0.0011025 });

    const balance = await h.idleBalance(accountId);
    expect(balance).toMatchObject({ balance: parseUsd('1.00') - 2n * 1_102_500n, held: 0n });
    const entries = await h.services.db('ledger_entries').where({ account_id: accountId, kind: 'usage' });
    expect(entries.map((e) => e.amount)).toEqual([-1_102_500n, -1_102_500n]);
  });

  it('writes a finished request\'s row in the same commit as its charge, streamed or not, and each once', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const { response } = await client.chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 20 }).withResponse();
    const stream = await client.chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 20, stream: true, stream_options: { include_usage: true } }).withResponse();
    for await (const _ of stream.data);
    for (const id of [response.headers.get('x-request-id')!, stream.response.headers.get('x-request-id')!]) {
      // The row was there before the answer, in the charge's own transaction.
      const { rows } = await h.services.db.raw(
        `SELECT r.status, r.http_status, r.cost, e.amount, r.xmin::text = e.xmin::text AS same_commit
           FROM requests r JOIN ledger_entries e ON e.request_id = r.id AND e.kind = 'usage' WHERE r.id = ?`,
        [id],
      );
      expect(rows).toEqual([{ status: 'completed', http_status: 200, cost: rows[0].cost, amount: -rows[0].cost, same_commit: true }]);
      expect(rows[0].cost).toBeGreaterThan(0n);
    }
    expect(await h.services.db('requests').where({ account_id: accountId }).count<{ n: bigint }[]>('* as n')).toEqual([{ n: 2n }]);
  });

  it('charges a streamed request exactly what the same request costs without streaming', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const whole = await client.chat.completions.create({ model: 'claude-sonnet-4.5', messages, max_tokens: 50 });
    const afterWhole = (await balanceOf(accountId)).balance;

    const stream = await client.chat.completions.create({
      model: 'claude-sonnet-4.5',
      messages,
      max_tokens: 50,
      stream: true,
      stream_options: { include_usage: true },
    });
    let text = '';
    let usage: any;
    for await (const chunk of stream) {
      text += chunk.choices[0]?.delta.content ?? '';
      if (chunk.usage) usage = chunk.usage;
    }
    expect(text).toBe(whole.choices[0]!.message.content);
    expect(usage).toEqual(whole.usage);
    const spentStreaming = afterWhole - (await balanceOf(accountId)).balance;
    expect(spentStreaming).toBe(parseUsd('1.00') - afterWhole);
    expect(spentStreaming).toBe(chatCost(h.services.catalog.chat('claude-sonnet-4.5')!, { promptTokens: usage.prompt_tokens, completionTokens: usage.completion_tokens }));
  });

  it('charges the prompt of a finished answer whose reply is empty', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.fixedUsage = { prompt: 500, completion: 0 };
    const completion = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages });
    expect(completion.usage).toMatchObject({ prompt_tokens: 500, completion_tokens: 0, cost: 0.0002625 });
    expect((await balanceOf(accountId)).balance).toBe(parseUsd('1.00') - 262_500n);
  });

  it('records a stream without include_usage, and sends it no usage chunk', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const { data: stream, response } = await h.openai(key).chat.completions.create({ model: 'gpt-5-mini', messages, stream: true }).withResponse();
    const chunks = [];
    for await (const chunk of stream) chunks.push(chunk);
    expect(chunks.every((c) => c.usage === undefined && c.choices.length === 1)).toBe(true);

    const row = await requestRow(response.headers.get('x-request-id')!);
    expect(row).toMatchObject({ account_id: accountId, model: 'gpt-5-mini', stream: true, status: 'completed', usage_source: 'upstream' });
    expect(row.completion_tokens).toBeGreaterThan(0);
    expect(row.cost).toBe(parseUsd('1.00') - (await balanceOf(accountId)).balance);
  });

  it('forwards the catalog\u2019s upstream model name and always asks the upstream for usage', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    await h.openai(key).chat.completions.create({ model: 'claude-opus-4.5', messages, max_tokens: 30, stream: true }).then(async (s) => {
      for await (const _ of s);
    });
    expect(upstream.seen[0]).toMatchObject({
      model: 'claude-opus-4-5',
      max_tokens: 30,
      stream: true,
      stream_options: { include_usage: true },
    });
  });

  it('answers 402 insufficient_funds, surfaced by the SDK as an APIError, without calling the upstream', async () => {
    const { accountId, key } = await h.createAccount();
    const error = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.status).toBe(402);
    expect(error.type).toBe('insufficient_funds');
    expect(error.code).toBe('insufficient_funds');
    expect(error.message).toContain('$0.00');
    expect(error.message).toMatch(/deposits/);
    expect(error.headers.get('x-should-retry')).toBe('false');
    expect(upstream.seen).toHaveLength(0);

    const row = await requestRow(error.requestID);
    expect(row).toMatchObject({ account_id: accountId, status: 'failed', http_status: 402, error_code: 'insufficient_funds' });
    expect(row.cost).toBe(0n);
  });

  it('works again right after a top-up', async () => {
    const { accountId, key } = await h.createAccount();
    const client = h.openai(key);
    await expect(client.chat.completions.create({ model: 'gpt-5-nano', messages })).rejects.toMatchObject({ status: 402 });
    const topUp = await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, { amount_usd: '0.50', reason: 'test top-up' });
    expect(topUp.status).toBe(201);
    const completion = await client.chat.completions.create({ model: 'gpt-5-nano', messages });
    expect(completion.usage!.completion_tokens).toBeGreaterThan(0);
  });

  it('without max_tokens, limits the output to what the balance affords and says so in a header', async () => {
    const available = 200_000n; // $0.0002
    const { accountId, key } = await h.createAccount({ balanceUsd: formatUsd(available) });
    const body = { model: 'gpt-5.2', messages };
    const { response } = await h.openai(key).chat.completions.create(body).withResponse();

    const plan = planHold({ model: gpt52(), promptTokenBound: promptTokenBound(body), requestedMaxTokens: undefined, choices: 1, available });
    expect(plan.affordable).toBe(true);
    const sent = upstream.seen[0]!;
    expect(sent.max_completion_tokens).toBe(plan.affordable && plan.maxTokens);
    expect(response.headers.get('x-max-tokens-cap')).toBe(String(sent.max_completion_tokens));
    const after = await h.idleBalance(accountId);
    expect(after.available).toBeGreaterThanOrEqual(0n);
    expect(after.held).toBe(0n);
  });

  it('refuses a max_tokens the balance cannot cover with 402, saying how many it affords, and sends nothing upstream', async () => {
    const available = 200_000n;
    const { accountId, key } = await h.createAccount({ balanceUsd: formatUsd(available) });
    const body = { model: 'gpt-5.2', messages, max_completion_tokens: 4000 };
    const response = await h.call('POST', '/v1/chat/completions', { key, body });
    expect(response.status).toBe(402);
    expect(response.headers.get('x-should-retry')).toBe('false');
    const plan = planHold({ model: gpt52(), promptTokenBound: promptTokenBound(body), requestedMaxTokens: undefined, choices: 1, available });
    const { error } = (await response.json()) as { error: { message: string; code: string } };
    expect(error.code).toBe('insufficient_funds');
    expect(error.message).toContain(`This request requires more credits, or fewer max_tokens. You requested up to 4000 tokens, but can only afford ${plan.affordable && plan.maxTokens}.`);
    expect(upstream.seen).toHaveLength(0);
    expect(await balanceOf(accountId)).toMatchObject({ balance: available, held: 0n });
  });

  it('never overspends a small balance under concurrent requests', async () => {
    const initial = parseUsd('0.003');
    const { accountId, key } = await h.createAccount({ balanceUsd: formatUsd(initial) });
    upstream.controls.delayMs = 300;
    const client = h.openai(key);
    const outcomes = await Promise.all(
      Array.from({ length: 16 }, async (_, i) => {
        try {
          if (i % 2 === 0) {
            await client.chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 300 });
          } else {
            const stream = await client.chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 300, stream: true });
            for await (const _ of stream);
          }
          return 'ok';
        } catch (error) {
          return (error as { status?: number }).status;
        }
      }),
    );
    expect(outcomes.filter((o) => o !== 'ok' && o !== 402)).toEqual([]);
    expect(outcomes).toContain(402);

    const final = await h.idleBalance(accountId);
    expect(final.held).toBe(0n);
    expect(final.balance).toBeGreaterThanOrEqual(0n);
    const rows = await h.services.db('requests').where({ account_id: accountId });
    expect(rows).toHaveLength(16);
    const charged = rows.reduce((sum, r) => sum + r.cost, 0n);
    expect(charged).toBe(initial - final.balance);
    // Every hold that was placed fit the available balance of its moment; some had to be lowered.
    // A caller's own max_tokens is never cut: a request is sent as asked or refused.
    expect(upstream.seen.every((b) => b.max_tokens === 300)).toBe(true);
  });
});

describe('POST /v1/chat/completions upstream failures', () => {
  it('passes an upstream error through with its status and body, and charges nothing', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.model = 'sim-error-503';
    const error = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.InternalServerError);
    expect(error.status).toBe(503);
    expect(error.error).toMatchObject({ type: 'server_error', code: 'simulated_error' });

    upstream.controls.model = 'sim-error-429';
    const streamError = await h
      .openai(key)
      .chat.completions.create({ model: 'gpt-5.2', messages, stream: true })
      .catch((e) => e);
    expect(streamError).toBeInstanceOf(OpenAI.RateLimitError);

    expect(await h.idleBalance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
    expect(await h.chargesOf(error.requestID)).toEqual([]);
    expect(await h.chargesOf(streamError.requestID)).toEqual([]);
    expect(await requestRow(error.requestID)).toMatchObject({ status: 'failed', http_status: 503, cost: 0n });
  });

  it('answers a provider\'s bare 500 as 502, never as our own internal error, and charges nothing', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.model = 'sim-error-500';
    const error = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages }).catch((e) => e);
    expect(error.status).toBe(502);
    expect(error.error.code).not.toBe('internal_error');
    expect(await h.idleBalance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
  });

  it('reports an upstream that cannot be reached as 502 without charging', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.model = 'sim-disconnect-after-0';
    const error = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages }).catch((e) => e);
    expect(error.status).toBe(502);
    expect(error.error).toMatchObject({ type: 'upstream_error', code: 'upstream_unavailable' });
    expect(await h.idleBalance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
  });

  it('charges what an upstream produced before it failed mid-stream, and tells the client', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.model = 'sim-disconnect-after-5';
    const stream = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages, stream: true });
    let text = '';
    const failure = await (async () => {
      for await (const chunk of stream) text += chunk.choices[0]?.delta.content ?? '';
    })().catch((e) => e);
    expect(failure).toBeInstanceOf(OpenAI.APIError);
    expect(failure.error).toMatchObject({ code: 'upstream_unavailable' });

    const row = await h.services.db('requests').where({ account_id: accountId }).first();
    expect(row).toMatchObject({ status: 'failed', usage_source: 'estimated', completion_tokens: 5 });
    expect(text.length).toBeGreaterThan(0);
    expect(row.cost).toBe(chatCost(gpt52(), { promptTokens: row.prompt_tokens, completionTokens: 5 }));
    expect((await balanceOf(accountId)).balance).toBe(parseUsd('1.00') - row.cost);
  });
});

describe('POST /v1/chat/completions, a client that disconnects mid-stream', () => {
  // The upstream is read on after the caller left, for its usage, until this bound (1 s here).
  const slowChat = chatHarness({ tokenDelayMs: 10, replyLength: { min: 2000, max: 2000 } }, { CHAT_DRAIN_TIMEOUT: '1' });
  let slow: TestUpstream;
  let hs: Harness;
  beforeAll(() => ({ h: hs, upstream: slow } = slowChat));

  it('is charged for what was generated, never more than its worst case, and the upstream is stopped at the drain bound', async () => {
    const { accountId, key } = await hs.createAccount({ balanceUsd: '1.00' });
    const controller = new AbortController();
    const finished = slow.nextFinish();
    const body = { model: 'gpt-5.2', messages, stream: true };
    const worst = planHold({ model: gpt52(), promptTokenBound: promptTokenBound(body), requestedMaxTokens: undefined, choices: 1, available: parseUsd('1.00') });
    const response = await fetch(`${hs.baseUrl}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      signal: controller.signal,
    });
    const requestId = response.headers.get('x-request-id')!;
    const reader = response.body!.getReader();
    let received = '';
    while ((received.match(/"content":"[^"]+"/g) ?? []).length < 10) {
      received += new TextDecoder().decode((await reader.read()).value);
    }
    controller.abort();

    const upstreamCall = await finished;
    expect(upstreamCall.outcome).toBe('client_closed');
    expect(upstreamCall.completionTokens).toBeLessThan(2000);

    let row;
    for (let i = 0; i < 200 && !row; i++) {
      row = await hs.services.db('requests').where({ id: requestId }).first();
      if (!row) await new Promise((resolve) => setTimeout(resolve, 25));
    }
    expect(row).toMatchObject({ status: 'client_closed', usage_source: 'estimated' });
    expect(row.completion_tokens).toBeGreaterThanOrEqual(10);
    expect(row.completion_tokens).toBeLessThanOrEqual(upstreamCall.completionTokens);
    expect(worst.affordable).toBe(true);
    expect(row.cost).toBeGreaterThan(0n);
    expect(row.cost).toBeLessThanOrEqual(worst.affordable ? worst.amount : 0n);
    expect(row.cost).toBe(chatCost(gpt52(), { promptTokens: row.prompt_tokens, completionTokens: row.completion_tokens }));
    expect(await hs.chargesOf(requestId)).toEqual([-row.cost]);
    expect(await hs.idleBalance(accountId)).toMatchObject({ balance: parseUsd('1.00') - row.cost, held: 0n });
  });
});

describe('POST /v1/chat/completions, bad requests change nothing', () => {
  it.each([
    [{ model: 'no-such-model', messages }, 404, 'model_not_found'],
    [{ model: 'veo-3.1', messages }, 404, 'model_not_found'],
    [{ model: 'gpt-5.2', messages: [] }, 400, 'invalid_value'],
    [{ model: 'gpt-5.2', messages, max_tokens: 0 }, 400, 'invalid_value'],
    [{ model: 'gpt-5.2', messages, max_completion_tokens: 1_000_000 }, 400, 'invalid_value'],
    [{ model: 'gpt-5.2', messages, stream_options: { include_usage: true } }, 400, 'invalid_value'],
  ])('%j answers %i %s', async (body, status, code) => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const response = await h.call('POST', '/v1/chat/completions', { key, body });
    expect(response.status).toBe(status);
    expect((await response.json()).error.code).toBe(code);
    expect(await balanceOf(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
    expect(await holdsOf(accountId)).toEqual([]);
    expect(upstream.seen).toHaveLength(0);
    expect(await requestRow(response.headers.get('x-request-id')!)).toMatchObject({ http_status: status, status: 'failed', cost: 0n });
  });

  it('answers malformed JSON with 400', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const response = await h.call('POST', '/v1/chat/completions', { key, body: '{"model":' });
    expect(response.status).toBe(400);
    expect((await response.json()).error.type).toBe('invalid_request_error');
  });

  it('answers 401 without a valid key', async () => {
    const response = await h.call('POST', '/v1/chat/completions', { key: 'sk-cheapa-nope', body: { model: 'gpt-5.2', messages } });
    expect(response.status).toBe(401);
    expect(upstream.seen).toHaveLength(0);
  });
});
