import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DepositNotConfirmed, openDepositCheckout } from '../../src/payments/deposit-client.js';
import { checkoutFor } from '../../src/payments/deposit-starter.js';
import { chooseTier } from '../../src/payments/tiers.js';
import type { Harness } from '../support/harness.js';
import { createDeposit, depositEntries, depositOutcome, getDeposit, startDepositHarness, stripeSandbox } from './deposit-fixtures.js';

let h: Harness;
beforeAll(async () => {
  h = await startDepositHarness();
});
afterEach(async () => h.expectBooksBalanced());
afterAll(async () => h?.close());

const depositCount = async (accountId: string) =>
  Number((await h.services.db('deposits').where({ account_id: accountId }).count<{ n: string }[]>({ n: '*' }))[0]!.n);

describe('POST /v1/billing/deposits', () => {
  it('gives up waiting for the checkout at the deadline it is given (a POST counts it from its own start)', async () => {
    const { accountId } = await h.createAccount();
    const tier = chooseTier('starter', undefined);
    if (!tier.ok) throw new Error('starter is a tier');
    const { deposit } = await h.services.payments.deposits.create({
      accountId, ...checkoutFor(h.services.payments, 'card'), tier: tier.tier, amount: tier.amountNano, saveCard: false,
    });
    // A deadline already spent (the row took that long to write): no wait at all, a 503 for the client.
    await expect(openDepositCheckout(h.services, deposit, Date.now() - 1)).rejects.toBeInstanceOf(DepositNotConfirmed);
  });

  it('accepts a tier amount as amount_usd and names its tier', async () => {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { amount_usd: '250', method: 'card' });
    expect(dep).toMatchObject({ tier: 'growth', amount_usd: '250.00', status: 'pending' });
  });

  it.each([
    [{ amount_usd: '30.00', method: 'card' }, 'amount_usd', 'amount_not_offered'],
    [{ amount_usd: 10.5, method: 'crypto' }, 'amount_usd', 'amount_not_offered'],
    [{ tier: 'team', amount_usd: '50', method: 'card' }, 'amount_usd', 'amount_not_offered'],
    [{ method: 'card' }, 'tier', 'amount_not_offered'],
    [{ tier: 'platinum', method: 'card' }, 'tier', 'invalid_value'],
    [{ tier: 'starter', method: 'paypal' }, 'method', 'invalid_value'],
    [{ tier: 'starter', method: 'card', coin: 'BTC' }, 'coin', 'invalid_request'],
    [{ tier: 'starter', method: 'crypto', coin: 'BTC', network: 'tron' }, 'network', 'invalid_request'],
    [{ tier: 'starter', method: 'crypto', coin: 'DOGE' }, 'coin', 'invalid_value'],
    [{ tier: 'starter', method: 'card', extra: 1 }, null, 'unknown_parameter'],
    [{ amount_usd: 'ten', method: 'card' }, 'amount_usd', 'invalid_value'],
  ])('refuses %j with a 400 on %s and creates nothing', async (body, param, code) => {
    const { accountId, key } = await h.createAccount();
    const res = await h.call('POST', '/v1/billing/deposits', { key, body });
    expect(res.status).toBe(400);
    const { error } = await res.json();
    expect(error).toMatchObject({ type: 'invalid_request_error', code });
    if (param) expect(error.param).toBe(param);
    if (code === 'amount_not_offered') expect(error.message).toContain('POST /v1/billing/support');
    expect(await depositCount(accountId)).toBe(0);
  });

  it('needs an API key', async () => {
    const res = await h.call('POST', '/v1/billing/deposits', { body: { tier: 'starter', method: 'card' } });
    expect(res.status).toBe(401);
  });

  it('returns the same deposit for a repeated Idempotency-Key, even when the repeats race', async () => {
    const { accountId, key } = await h.createAccount();
    const headers = { 'idempotency-key': 'topup-2026-11-25-a' };
    const responses = await Promise.all(
      Array.from({ length: 5 }, () => h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' }, headers })),
    );
    const bodies = await Promise.all(responses.map((r) => r.json()));
    expect(responses.map((r) => r.status).sort()).toEqual([200, 200, 200, 200, 201]);
    expect(new Set(bodies.map((b) => b.id)).size).toBe(1);
    expect(new Set(bodies.map((b) => b.checkout_url)).size).toBe(1);
    expect(await depositCount(accountId)).toBe(1);
    expect(stripeSandbox(h).sessions().filter((s) => s.metadata.deposit_id === bodies[0].id)).toHaveLength(1);

    const replay = await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' }, headers });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');

    const other = await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'team', method: 'card' }, headers });
    expect(other.status).toBe(409);
    expect((await other.json()).error.code).toBe('idempotency_conflict');
  });

  it('gives a credited deposit back unchanged on a replay of its Idempotency-Key', async () => {
    const { accountId, key } = await h.createAccount();
    const headers = { 'idempotency-key': 'once' };
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'card' }, headers);
    stripeSandbox(h).pay((await h.services.payments.deposits.get(dep.id))!.providerRef!, 'card');
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    const replay = await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' }, headers });
    expect(replay.status).toBe(200);
    expect(await replay.json()).toMatchObject({ id: dep.id, status: 'credited', checkout_url: null });
    expect(await depositEntries(h, accountId)).toHaveLength(1);
  });
});

describe('GET /v1/billing/deposits', () => {
  it('lists the account’s own deposits newest first, page by page, and hides other accounts’', async () => {
    const { key } = await h.createAccount();
    const ids: string[] = [];
    for (const tier of ['starter', 'standard', 'developer']) ids.push((await createDeposit(h, key, { tier, method: 'card' })).id);

    const first = await (await h.call('GET', '/v1/billing/deposits?limit=2', { key })).json();
    expect(first).toMatchObject({ object: 'list', has_more: true });
    expect(first.data.map((d: { id: string }) => d.id)).toEqual([ids[2], ids[1]]);
    const second = await (await h.call('GET', `/v1/billing/deposits?limit=2&after=${first.last_id}`, { key })).json();
    expect(second.data.map((d: { id: string }) => d.id)).toEqual([ids[0]]);
    expect(second.has_more).toBe(false);

    const stranger = await h.createAccount();
    expect((await h.call('GET', `/v1/billing/deposits/${ids[0]}`, { key: stranger.key })).status).toBe(404);
    expect((await (await h.call('GET', '/v1/billing/deposits', { key: stranger.key })).json()).data).toEqual([]);
    expect((await getDeposit(h, key, ids[0]!)).status_history[0]).toMatchObject({ status: 'creating', source: 'api' });
  });
});

describe('POST /v1/billing/support', () => {
  it('records a custom-amount request for ops', async () => {
    const { accountId, key } = await h.createAccount();
    const res = await h.call('POST', '/v1/billing/support', {
      key,
      body: { kind: 'custom_amount', amount_usd: '2000', message: 'We need a $2,000 top-up for a batch job.' },
    });
    expect(res.status).toBe(201);
    const created = await res.json();
    expect(created).toMatchObject({ object: 'support_request', kind: 'custom_amount', status: 'open', amount_usd: '2000.00', account_id: accountId });

    const queue = await (await h.admin('GET', '/admin/support?status=open')).json();
    expect(queue.data.map((r: { id: string }) => r.id)).toContain(created.id);
    expect((await h.call('GET', '/admin/support', { key })).status).toBe(403);
  });

  it('records a disputed deduction with the account’s own request ids, and refuses ids it does not know', async () => {
    const { accountId, key } = await h.createAccount();
    await h.services.db('requests').insert([
      { id: 'req_disputed_1', account_id: accountId, endpoint: '/v1/chat/completions', status: 'completed', cost: 1_102_500 },
      { id: 'req_disputed_2', account_id: accountId, endpoint: '/v1/chat/completions', status: 'completed', cost: 1_102_500 },
    ]);
    const ok = await h.call('POST', '/v1/billing/support', {
      key,
      body: { kind: 'disputed_deduction', request_ids: ['req_disputed_1', 'req_disputed_2'], message: 'Charged twice around 10:02 UTC.' },
    });
    expect(ok.status).toBe(201);
    expect((await ok.json()).request_ids).toEqual(['req_disputed_1', 'req_disputed_2']);

    const unknown = await h.call('POST', '/v1/billing/support', {
      key,
      body: { kind: 'disputed_deduction', request_ids: ['req_disputed_1', 'req_someone_else'], message: 'Please check these.' },
    });
    expect(unknown.status).toBe(400);
    expect((await unknown.json()).error).toMatchObject({ param: 'request_ids' });
    const missing = await h.call('POST', '/v1/billing/support', { key, body: { kind: 'disputed_deduction', message: 'Something is off.' } });
    expect(missing.status).toBe(400);
    const rows = await h.services.db('support_requests').where({ account_id: accountId });
    expect(rows).toHaveLength(1);
  });
});
