import { beforeAll, describe, expect, it } from 'vitest';
import { formatUsd, parseUsd } from '../../src/ledger/money.js';
import type { Harness } from '../support/harness.js';
import { chatHarness, type TestUpstream } from './chat-upstream.js';

const chat = chatHarness();
let h: Harness;
let upstream: TestUpstream;
beforeAll(() => ({ h, upstream } = chat));

const messages = [{ role: 'user' as const, content: 'Count to three.' }];

async function json(path: string, key: string) {
  const response = await h.call('GET', path, { key });
  expect(response.status).toBe(200);
  return response.json();
}

describe('GET /v1/billing/usage', () => {
  it('lists every request of the account with tokens, cost, status and latencies, newest first, page by page', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const other = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    await client.chat.completions.create({ model: 'gpt-5.2', messages });
    await client.chat.completions.create({ model: 'gpt-5-mini', messages, stream: true }).then(async (s) => {
      for await (const _ of s);
    });
    upstream.controls.model = 'sim-error-500';
    await client.chat.completions.create({ model: 'gpt-5-mini', messages }).catch(() => undefined);
    upstream.reset();
    await h.openai(other.key).chat.completions.create({ model: 'gpt-5.2', messages });

    const all = await json('/v1/billing/usage', key);
    expect(all).toMatchObject({ object: 'list', has_more: false });
    expect(all.data.map((r: any) => [r.model, r.status, r.stream])).toEqual([
      ['gpt-5-mini', 'failed', false],
      ['gpt-5-mini', 'completed', true],
      ['gpt-5.2', 'completed', false],
    ]);
    const [failed, streamed] = all.data;
    expect(failed).toMatchObject({ object: 'billing.request', http_status: 500, cost_usd: '0.00', prompt_tokens: 0, completion_tokens: 0 });
    expect(streamed).toMatchObject({ endpoint: '/v1/chat/completions', http_status: 200, usage_source: 'upstream', error_code: null });
    expect(streamed.total_tokens).toBe(streamed.prompt_tokens + streamed.completion_tokens);
    expect(typeof streamed.upstream_latency_ms).toBe('number');
    expect(typeof streamed.overhead_ms).toBe('number');
    expect(parseUsd(streamed.cost_usd)).toBeGreaterThan(0n);

    const first = await json('/v1/billing/usage?limit=2', key);
    expect(first.data.map((r: any) => r.id)).toEqual(all.data.slice(0, 2).map((r: any) => r.id));
    expect(first).toMatchObject({ has_more: true, last_id: all.data[1].id, first_id: all.data[0].id });
    const second = await json(`/v1/billing/usage?limit=2&after=${first.last_id}`, key);
    expect(second.data.map((r: any) => r.id)).toEqual([all.data[2].id]);
    expect(second.has_more).toBe(false);
  });

  it('filters by model and by time', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    await client.chat.completions.create({ model: 'gpt-5.2', messages });
    await client.chat.completions.create({ model: 'gpt-5-nano', messages });

    const nano = await json('/v1/billing/usage?model=gpt-5-nano', key);
    expect(nano.data.map((r: any) => r.model)).toEqual(['gpt-5-nano']);

    const now = Math.floor(Date.now() / 1000);
    expect((await json(`/v1/billing/usage?start_time=${now + 3600}`, key)).data).toEqual([]);
    expect((await json(`/v1/billing/usage?start_time=${now - 3600}&end_time=${now + 3600}`, key)).data).toHaveLength(2);
    expect((await json(`/v1/billing/usage?end_time=${now - 3600}`, key)).data).toEqual([]);
  });

  it('refuses bad parameters with 400', async () => {
    const { key } = await h.createAccount();
    for (const query of ['limit=0', 'limit=101', 'start_time=soon', 'after=req_unknown', 'start_time=10&end_time=5']) {
      const response = await h.call('GET', `/v1/billing/usage?${query}`, { key });
      expect(response.status, query).toBe(400);
      expect((await response.json()).error.type).toBe('invalid_request_error');
    }
  });
});

describe('GET /v1/billing/usage/models', () => {
  it('sums requests, tokens and cost per model, and they add up to what the balance lost', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const a = await client.chat.completions.create({ model: 'gpt-5.2', messages });
    const b = await client.chat.completions.create({ model: 'gpt-5.2', messages: [{ role: 'user', content: 'Something else.' }] });
    const c = await client.chat.completions.create({ model: 'claude-haiku-4.5', messages });
    upstream.controls.model = 'sim-error-503';
    await client.chat.completions.create({ model: 'claude-haiku-4.5', messages }).catch(() => undefined);

    const report = await json('/v1/billing/usage/models', key);
    const byModel = Object.fromEntries(report.data.map((m: any) => [m.model, m]));
    expect(byModel['gpt-5.2']).toMatchObject({
      object: 'billing.model_usage',
      requests: 2,
      failed_requests: 0,
      prompt_tokens: a.usage!.prompt_tokens + b.usage!.prompt_tokens,
      completion_tokens: a.usage!.completion_tokens + b.usage!.completion_tokens,
    });
    expect(byModel['claude-haiku-4.5']).toMatchObject({ requests: 2, failed_requests: 1, completion_tokens: c.usage!.completion_tokens });

    const balance = await h.services.ledger.balance(accountId);
    expect(report.total.cost_usd).toBe(formatUsd(parseUsd('1.00') - balance.balance));
    expect(parseUsd(byModel['gpt-5.2'].cost_usd) + parseUsd(byModel['claude-haiku-4.5'].cost_usd)).toBe(parseUsd(report.total.cost_usd));
    expect(report.total.requests).toBe(4);

    const future = Math.floor(Date.now() / 1000) + 3600;
    expect((await json(`/v1/billing/usage/models?start_time=${future}`, key)).data).toEqual([]);
  });
});

describe('GET /v1/models', () => {
  it('lists the catalog with exact prices, readable by the official SDK', async () => {
    const { key } = await h.createAccount();
    const client = h.openai(key);
    const models = [];
    for await (const model of client.models.list()) models.push(model);
    expect(models.map((m) => m.id)).toEqual(h.services.catalog.models.map((m) => m.id));
    expect(models.find((m) => m.id === 'gpt-5.2')).toMatchObject({
      object: 'model',
      owned_by: 'openai',
      kind: 'chat',
      pricing: { input_usd_per_million_tokens: '0.525', output_usd_per_million_tokens: '4.20' },
      max_output_tokens: 128000,
    });
    expect(models.find((m) => m.id === 'veo-3.1')).toMatchObject({ kind: 'video', pricing: { usd_per_generation: '0.21' } });

    expect(await client.models.retrieve('claude-opus-4.5')).toMatchObject({ id: 'claude-opus-4.5', kind: 'chat' });
    await expect(client.models.retrieve('gpt-1')).rejects.toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it('needs an API key', async () => {
    expect((await h.call('GET', '/v1/models')).status).toBe(401);
  });
});
