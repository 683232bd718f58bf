import { beforeAll, describe, expect, it } from 'vitest';
import { RequestLog } from '../../src/chat/request-log.js';
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
    expect(failed).toMatchObject({ object: 'billing.request', http_status: 502, cost_usd: '0.00', prompt_tokens: 0, completion_tokens: 0 });
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

/** RFC 4180 reader for the tests: quoted fields may hold commas, doubled quotes and line breaks. */
function parseCsv(text: string): string[][] {
  const rows: string[][] = [];
  let row: string[] = [];
  let field = '';
  let quoted = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (quoted) {
      if (c === '"' && text[i + 1] === '"') (field += '"'), i++;
      else if (c === '"') quoted = false;
      else field += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') row.push(field), (field = '');
    else if (c === '\r' && text[i + 1] === '\n') row.push(field), rows.push(row), (row = []), (field = ''), i++;
    else field += c;
  }
  expect(field).toBe('');
  return rows;
}

describe('GET /v1/billing/usage over time', () => {
  it('sums the period per UTC day, hour, model and key, each adding up to what the balance lost', async () => {
    const { accountId, key, keyId } = await h.createAccount({ balanceUsd: '1.00' });
    const created = await h.call('POST', '/v1/keys', { key, body: { name: 'second' } });
    const second = await created.json();
    await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages });
    await h.openai(second.key).chat.completions.create({ model: 'gpt-5-mini', messages });
    await h.openai(second.key).chat.completions.create({ model: 'gpt-5-mini', messages });
    const lost = parseUsd('1.00') - (await h.services.ledger.balance(accountId)).balance;

    for (const by of ['day', 'hour', 'model', 'key']) {
      const report = await json(`/v1/billing/usage?group_by=${by}`, key);
      expect(report).toMatchObject({ object: 'list', group_by: by, start_time: null, end_time: null });
      expect(report.data.reduce((t: bigint, b: any) => t + parseUsd(b.cost_usd), 0n), by).toBe(lost);
      expect(report.data.reduce((t: number, b: any) => t + b.requests, 0)).toBe(3);
      for (const b of report.data) expect(b.object).toBe('billing.usage_bucket');
      if (by === 'hour') {
        expect(report.data[0].start_time % 3600).toBe(0);
        expect(report.data[0].end_time - report.data[0].start_time).toBe(3600);
      }
    }
    const byKey = await json('/v1/billing/usage?group_by=key', key);
    expect(Object.fromEntries(byKey.data.map((b: any) => [b.api_key_id, b.requests]))).toEqual({ [keyId]: 1, [second.id]: 2 });
    const byModel = await json('/v1/billing/usage?group_by=model&model=gpt-5-mini', key);
    expect(byModel.data.map((b: any) => [b.model, b.requests])).toEqual([['gpt-5-mini', 2]]);

    const later = new Date(Date.now() + 3_600_000).toISOString();
    expect((await json(`/v1/billing/usage?group_by=day&from=${later}`, key)).data).toEqual([]);
    const iso = await json(`/v1/billing/usage?group_by=day&from=2020-01-01&to=${later}`, key);
    expect(iso.data.reduce((t: number, b: any) => t + b.requests, 0)).toBe(3);
    expect(iso.start_time).toBe(Date.UTC(2020, 0, 1) / 1000);
  });

  it('exports every request of the period as RFC 4180 CSV with a header row and exact costs', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    await client.chat.completions.create({ model: 'gpt-5.2', messages });
    await client.chat.completions.create({ model: 'gpt-5-nano', messages });
    // A refused request keeps the model name the caller sent, commas and quotes included.
    await client.chat.completions.create({ model: 'odd, "quoted"\nmodel', messages }).catch(() => undefined);

    const response = await h.call('GET', '/v1/billing/usage?format=csv', { key });
    expect(response.status).toBe(200);
    expect(response.headers.get('content-type')).toMatch(/^text\/csv/);
    const text = await response.text();
    const [header, ...rows] = parseCsv(text);
    expect(header).toEqual(['id', 'created_at', 'api_key_id', 'endpoint', 'model', 'status', 'http_status', 'stream', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_usd']);
    expect(rows.map((r) => r[4])).toEqual(['gpt-5.2', 'gpt-5-nano', 'odd, "quoted"\nmodel']);
    expect(rows[2]![5]).toBe('failed');
    const listed = await json('/v1/billing/usage', key);
    expect(rows.map((r) => r[0])).toEqual(listed.data.map((r: any) => r.id).reverse());
    const total = rows.reduce((t, r) => t + parseUsd(r[11]!), 0n);
    expect(total).toBe(parseUsd('1.00') - (await h.services.ledger.balance(accountId)).balance);

    const grouped = parseCsv(await (await h.call('GET', '/v1/billing/usage?format=csv&group_by=model', { key })).text());
    expect(grouped[0]).toEqual(['start_time', 'end_time', 'model', 'api_key_id', 'requests', 'failed_requests', 'prompt_tokens', 'completion_tokens', 'total_tokens', 'cost_usd']);
    expect(grouped).toHaveLength(4);
  });

  it('reads every row once, oldest first, across batch boundaries even when rows share a timestamp', async () => {
    const { accountId } = await h.createAccount();
    const at = new Date('2026-01-02T03:04:05.123456Z');
    await h.services.db('requests').insert(
      Array.from({ length: 7 }, (_, i) => ({ id: `req_batch_${i}`, account_id: accountId, endpoint: '/v1/chat/completions', status: 'completed', cost: 1, created_at: i < 5 ? at : new Date('2026-01-03T00:00:00Z') })),
    );
    const seen: string[] = [];
    for await (const batch of new RequestLog(h.services.db).rows(accountId, {}, 2)) seen.push(...batch.map((r) => r.id));
    expect(seen).toEqual(Array.from({ length: 7 }, (_, i) => `req_batch_${i}`));
  });

  it('refuses bad period, grouping and format parameters with 400', async () => {
    const { key } = await h.createAccount();
    for (const query of ['group_by=week', 'format=xml', 'from=yesterday', 'from=2026-02-30T00:00:00Z', 'group_by=day&after=req_x', 'from=10&start_time=10', 'from=2026-01-02&to=2026-01-01']) {
      const response = await h.call('GET', `/v1/billing/usage?${query}`, { key });
      expect(response.status, query).toBe(400);
      expect((await response.json()).error.type).toBe('invalid_request_error');
    }
  });
});
