/**
 * Auto top-up end to end: a saved card (Checkout with save_card through the Stripe sandbox), the
 * crossing detector of low-balance alerts, autoTopupWorkflow on the real Temporal server charging
 * the card off-session (PaymentIntent, off_session + confirm, idempotency key per crossing).
 */
import { describe, expect, it } from 'vitest';
import { autoTopupWorkflowId } from '../../src/payments/auto-topup-client.js';
import type { Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import { startWebhookReceiver } from './webhook-receiver.js';
import { balanceOf, createDeposit, depositOutcome, startDepositHarness, stripeSandbox, USD } from './deposit-fixtures.js';

let h: Harness;
useHarness(() => startDepositHarness({ pollSeconds: 1 }), (started) => (h = started));

async function accountWithSavedCard(card: 'visa' | 'declined' | 'processing' = 'visa') {
  const account = await h.createAccount();
  const dep = await createDeposit(h, account.key, { tier: 'starter', method: 'card', save_card: true });
  stripeSandbox(h).pay((await h.services.payments.deposits.get(dep.id))!.providerRef!, 'card', card);
  expect((await depositOutcome(h, dep.id)).status).toBe('credited');
  const saved = await h.services.payments.savedCards.get(account.accountId);
  expect(saved).not.toBeNull();
  return { ...account, customer: saved!.customerRef };
}

async function adjust(accountId: string, amountUsd: string) {
  const r = await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, { amount_usd: amountUsd, reason: 'test' });
  expect(r.status, await r.clone().text()).toBe(201);
}

async function topupResult(accountId: string, seq: number) {
  const handle = h.services.temporal.client.workflow.getHandle(autoTopupWorkflowId(accountId, seq));
  while (!(await handle.describe().catch(() => null))) await new Promise((r) => setTimeout(r, 100));
  return handle.result();
}

const intentsOf = (customer: string) => stripeSandbox(h).vault.offSessionIntents().filter((pi) => pi.customer === customer);

describe('PUT /v1/billing/auto-topup', () => {
  it('needs a saved card: 400 no_saved_card, nothing set', async () => {
    const { key } = await h.createAccount();
    const r = await h.call('PUT', '/v1/billing/auto-topup', { key, body: { threshold_usd: '5', tier: 'starter' } });
    expect(r.status).toBe(400);
    expect((await r.json()).error.code).toBe('no_saved_card');
    expect(await (await h.call('GET', '/v1/billing/auto-topup', { key })).json()).toMatchObject({ enabled: false, tier: null });
  });

  it('refuses an unknown tier or a non-positive threshold with 400', async () => {
    const { key } = await accountWithSavedCard();
    for (const body of [{ threshold_usd: '5', tier: 'huge' }, { threshold_usd: '0', tier: 'starter' }, { tier: 'starter' }]) {
      expect((await h.call('PUT', '/v1/billing/auto-topup', { key, body })).status, JSON.stringify(body)).toBe(400);
    }
    expect((await (await h.call('GET', '/v1/billing/auto-topup', { key })).json()).enabled).toBe(false);
  });
});

describe('auto top-up', () => {
  it('charges the saved card exactly once per crossing under concurrent spend, and again after the top-up re-armed it', async () => {
    const { key, accountId, customer } = await accountWithSavedCard();
    const put = await h.call('PUT', '/v1/billing/auto-topup', { key, body: { threshold_usd: '5.00', tier: 'starter' } });
    expect(await put.json()).toMatchObject({ object: 'auto_topup', enabled: true, threshold_usd: '5.00', tier: 'starter', armed: true });

    // $10 credited; eight concurrent $1 debits cross $5 once.
    await Promise.all(Array.from({ length: 8 }, () => adjust(accountId, '-1.00')));
    const first = await topupResult(accountId, 1);
    expect(first).toMatchObject({ outcome: 'credited' });
    expect(await balanceOf(h, accountId)).toBe(12n * USD);
    expect(intentsOf(customer)).toHaveLength(1);
    expect(intentsOf(customer)[0]).toMatchObject({ amount: 1000, currency: 'usd', status: 'succeeded', metadata: { deposit_id: first.depositId } });
    const deposit = await (await h.call('GET', `/v1/billing/deposits/${first.depositId}`, { key })).json();
    expect(deposit).toMatchObject({ status: 'credited', method: 'card', amount_usd: '10.00', credited_usd: '10.00' });
    expect(deposit.receipt_url).toMatch(/\/receipts\/ch_/);
    // The top-up lifted available to $12 >= $5: armed again.
    expect((await (await h.call('GET', '/v1/billing/auto-topup', { key })).json()).armed).toBe(true);

    await adjust(accountId, '-8.00');
    expect(await topupResult(accountId, 2)).toMatchObject({ outcome: 'credited' });
    expect(await balanceOf(h, accountId)).toBe(14n * USD);
    expect(intentsOf(customer)).toHaveLength(2);
    expect((await h.services.db('balance_crossings').where({ account_id: accountId, purpose: 'auto_topup' })).map((r) => Number(r.seq))).toEqual([1, 2]);
  });

  it('a charge that answers processing is read again until it succeeds, then credited once', async () => {
    const { key, accountId, customer } = await accountWithSavedCard('processing');
    expect((await h.call('PUT', '/v1/billing/auto-topup', { key, body: { threshold_usd: '5.00', tier: 'starter' } })).status).toBe(200);
    await adjust(accountId, '-6.00');
    const result = await topupResult(accountId, 1);
    expect(result).toMatchObject({ outcome: 'credited' });
    // The charge call answered processing: the credit came from reading the charge again.
    const history = await h.services.temporal.client.workflow.getHandle(autoTopupWorkflowId(accountId, 1)).fetchHistory();
    const activities = history.events!.map((e) => e.activityTaskScheduledEventAttributes?.activityType?.name).filter(Boolean);
    expect(activities).toContain('awaitAutoTopupCharge');
    expect(await balanceOf(h, accountId)).toBe(14n * USD);
    expect(intentsOf(customer)).toHaveLength(1);
    expect(intentsOf(customer)[0]).toMatchObject({ status: 'succeeded', amount: 1000 });
    const deposit = await (await h.call('GET', `/v1/billing/deposits/${result.depositId}`, { key })).json();
    expect(deposit).toMatchObject({ status: 'credited', credited_usd: '10.00' });
    expect(deposit.receipt_url).toMatch(/\/receipts\/ch_/);
  });

  it('a declined card stops auto top-up with the reason shown, alerts the webhook, and is never tried again', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const { key, accountId, customer } = await accountWithSavedCard('declined');
      await h.call('PUT', '/v1/billing/alerts', { key, body: { threshold_usd: '1.00', webhook_url: receiver.url } });
      await h.call('PUT', '/v1/billing/auto-topup', { key, body: { threshold_usd: '5.00', tier: 'standard' } });

      await adjust(accountId, '-6.00');
      const result = await topupResult(accountId, 1);
      expect(result).toMatchObject({ outcome: 'declined' });
      const shown = await (await h.call('GET', '/v1/billing/auto-topup', { key })).json();
      expect(shown).toMatchObject({ enabled: false, tier: 'standard', threshold_usd: null });
      expect(shown.disabled_reason).toContain('card_declined');
      expect((await (await h.call('GET', `/v1/billing/deposits/${result.depositId}`, { key })).json()).status).toBe('failed');

      const [event] = await receiver.waitFor(1);
      expect(JSON.parse(event!.body.toString())).toMatchObject({ type: 'auto_topup.failed', account_id: accountId, available_usd: '4.00' });
      expect(JSON.parse(event!.body.toString()).reason).toContain('card_declined');

      // Falling further tries nothing: no threshold, no crossing, one charge attempt in all.
      await adjust(accountId, '-3.00');
      expect(await h.services.db('balance_crossings').where({ account_id: accountId, purpose: 'auto_topup' }).count({ n: '*' }).first()).toMatchObject({ n: 1n });
      expect(intentsOf(customer)).toHaveLength(1);
      expect(intentsOf(customer)[0]!.status).toBe('requires_payment_method');
      expect(await balanceOf(h, accountId)).toBe(1n * USD);
    } finally {
      await receiver.close();
    }
  });

  it('forgetting the saved card stops auto top-up', async () => {
    const { key } = await accountWithSavedCard();
    await h.call('PUT', '/v1/billing/auto-topup', { key, body: { threshold_usd: '5.00', tier: 'starter' } });
    await h.call('DELETE', '/v1/billing/payment-method', { key });
    expect(await (await h.call('GET', '/v1/billing/auto-topup', { key })).json()).toMatchObject({ enabled: false, disabled_reason: 'The saved card was removed.' });
  });
});
