/**
 * Support requests with statuses both sides see, and ops' checkout for an approved custom amount
 * (the same deposit workflow as a tier, paid through the Stripe sandbox).
 */
import { describe, expect, it } from 'vitest';
import { moveSupportRequest } from '../../src/support/support-status.js';
import { depositOutcome, startDepositHarness, stripeSandbox, USD } from '../payments/deposit-fixtures.js';
import type { Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';

describe('moveSupportRequest', () => {
  it('lets ops answer (with a reply) and close, and the customer close or reopen', () => {
    expect(moveSupportRequest('open', 'ops', 'answered', true)).toEqual({ ok: true, status: 'answered' });
    expect(moveSupportRequest('open', 'ops', 'answered', false).ok).toBe(false);
    expect(moveSupportRequest('answered', 'ops', 'closed', true)).toEqual({ ok: true, status: 'closed' });
    expect(moveSupportRequest('answered', 'customer', 'closed', true)).toEqual({ ok: true, status: 'closed' });
    expect(moveSupportRequest('closed', 'customer', 'open', true)).toEqual({ ok: true, status: 'open' });
    expect(moveSupportRequest('open', 'customer', 'answered', false).ok).toBe(false);
  });
});

let h: Harness;
useHarness(startDepositHarness, (started) => (h = started));

const ask = async (key: string, body: Record<string, unknown>) => {
  const res = await h.call('POST', '/v1/billing/support', { key, body });
  expect(res.status).toBe(201);
  return res.json();
};

describe('support request statuses', () => {
  it('shows ops reply and status to the customer; the customer closes and reopens; a status the customer may not set is a 400', async () => {
    const { key } = await h.createAccount();
    const other = await h.createAccount();
    const req = await ask(key, { kind: 'other', message: 'How do invoices work?' });

    const answered = await h.admin('PATCH', `/admin/support/${req.id}`, { reply: 'Each deposit has a receipt.' });
    expect(answered.status).toBe(200);
    const seen = await (await h.call('GET', `/v1/billing/support/${req.id}`, { key })).json();
    expect(seen).toMatchObject({ status: 'answered', reply: 'Each deposit has a receipt.', closed_at: null });
    expect(seen.answered_at).toEqual(expect.any(Number));
    expect((await h.call('GET', `/v1/billing/support/${req.id}`, { key: other.key })).status).toBe(404);
    expect((await h.call('PATCH', `/v1/billing/support/${req.id}`, { key: other.key, body: { status: 'closed' } })).status).toBe(404);

    const closed = await (await h.call('PATCH', `/v1/billing/support/${req.id}`, { key, body: { status: 'closed' } })).json();
    expect(closed).toMatchObject({ status: 'closed', reply: 'Each deposit has a receipt.' });
    const reopened = await (await h.call('PATCH', `/v1/billing/support/${req.id}`, { key, body: { status: 'open' } })).json();
    expect(reopened).toMatchObject({ status: 'open', closed_at: null });

    const refused = await h.call('PATCH', `/v1/billing/support/${req.id}`, { key, body: { status: 'answered' } });
    expect(refused.status).toBe(400);
    const noReply = await h.admin('PATCH', `/admin/support/${req.id}`, { status: 'answered' });
    expect(noReply.status).toBe(200); // the earlier reply is kept
    expect((await h.admin('PATCH', `/admin/support/${req.id}`, {})).status).toBe(400);

    const list = await (await h.call('GET', '/v1/billing/support', { key })).json();
    expect(list.data.map((r: { id: string }) => r.id)).toEqual([req.id]);
    const queue = await (await h.admin('GET', '/admin/support?status=answered')).json();
    expect(queue.data.some((r: { id: string }) => r.id === req.id)).toBe(true);
  });

  it('refuses to mark a request answered without any reply (409) and changes nothing', async () => {
    const { key } = await h.createAccount();
    const req = await ask(key, { kind: 'other', message: 'Nobody answered yet.' });
    const conflict = await h.admin('PATCH', `/admin/support/${req.id}`, { status: 'answered' });
    expect(conflict.status).toBe(409);
    expect((await conflict.json()).error.code).toBe('support_status_conflict');
    expect(await (await h.call('GET', `/v1/billing/support/${req.id}`, { key })).json()).toMatchObject({ status: 'open', reply: null, answered_at: null });
  });
});

describe('POST /admin/accounts/{id}/deposits (custom amounts)', () => {
  it('turns a custom_amount request into one checkout, however often and concurrently ops repeat it; the customer pays it', async () => {
    const { accountId, key } = await h.createAccount();
    const req = await ask(key, { kind: 'custom_amount', message: 'Could I top up $1,234.56?', amount_usd: '1234.56' });
    const body = { amount_usd: '1234.56', method: 'card', support_request_id: req.id };
    const answers = await Promise.all(Array.from({ length: 4 }, () => h.admin('POST', `/admin/accounts/${accountId}/deposits`, body)));
    expect(answers.map((r) => r.status).sort()).toEqual([200, 200, 200, 201]);
    const deposits = await Promise.all(answers.map((r) => r.json()));
    expect(new Set(deposits.map((d) => d.id)).size).toBe(1);
    const dep = deposits[0];
    expect(dep).toMatchObject({ status: 'pending', tier: 'custom', amount_usd: '1234.56', support_request_id: req.id });

    const mine = await (await h.call('GET', '/v1/billing/deposits', { key })).json();
    expect(mine.data[0]).toMatchObject({ id: dep.id, checkout_url: expect.stringContaining('/sandbox/stripe/pay/') });
    const request = await (await h.call('GET', `/v1/billing/support/${req.id}`, { key })).json();
    expect(request).toMatchObject({ status: 'answered', deposit_id: dep.id });
    expect(request.reply).toContain(dep.id);

    stripeSandbox(h).pay((await h.services.payments.deposits.get(dep.id))!.providerRef!, 'card');
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    expect((await h.services.ledger.balance(accountId)).balance).toBe(123_456n * (USD / 100n));
  });

  it('refuses amounts out of range, another kind of request, another account\'s request and a conflicting repeat, creating nothing', async () => {
    const { accountId, key } = await h.createAccount();
    const other = await h.createAccount();
    const custom = await ask(key, { kind: 'custom_amount', message: 'A bigger top-up please', amount_usd: '750.00' });
    const plain = await ask(key, { kind: 'other', message: 'Just a question' });
    const post = (id: string, b: Record<string, unknown>) => h.admin('POST', `/admin/accounts/${id}/deposits`, b);

    for (const amount of ['1.00', '20000.00']) {
      const r = await post(accountId, { amount_usd: amount, method: 'card', support_request_id: custom.id });
      expect(r.status).toBe(400);
      expect((await r.json()).error.param).toBe('amount_usd');
    }
    expect((await post(accountId, { amount_usd: '750.00', method: 'card', support_request_id: plain.id })).status).toBe(400);
    expect((await post(other.accountId, { amount_usd: '750.00', method: 'card', support_request_id: custom.id })).status).toBe(400);
    expect((await post('acct_missing', { amount_usd: '750.00', method: 'card', support_request_id: custom.id })).status).toBe(404);
    expect(await h.services.db('deposits').whereIn('account_id', [accountId, other.accountId])).toHaveLength(0);

    expect((await post(accountId, { amount_usd: '750.00', method: 'card', support_request_id: custom.id })).status).toBe(201);
    const conflict = await post(accountId, { amount_usd: '700.00', method: 'card', support_request_id: custom.id });
    expect(conflict.status).toBe(409);
    expect(await h.services.db('deposits').where({ account_id: accountId })).toHaveLength(1);
  });
});
