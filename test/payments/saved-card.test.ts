/**
 * Receipts and saved cards through the Stripe-protocol sandbox: Checkout sessions carry the
 * account's email (or its Stripe customer) and invoice_creation; save_card asks for
 * setup_future_usage=off_session; once credited, the deposit shows the receipt and the card is kept.
 */
import { describe, expect, it } from 'vitest';
import { toApiError } from '../../src/http/errors.js';
import { CardNotDetached, removeSavedCard } from '../../src/payments/card-removal.js';
import { StripeGateway } from '../../src/payments/stripe-gateway.js';
import type { Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import { createDeposit, depositOutcome, getDeposit, startDepositHarness, stripeSandbox } from './deposit-fixtures.js';

let h: Harness;
useHarness(() => startDepositHarness({ pollSeconds: 1 }), (started) => (h = started));

const sessionOf = async (depositId: string) => (await h.services.payments.deposits.get(depositId))!.providerRef!;

async function paidCardDeposit(key: string, body: Record<string, unknown>, card: 'visa' | 'declined' = 'visa') {
  const dep = await createDeposit(h, key, { tier: 'starter', method: 'card', ...body });
  const session = await sessionOf(dep.id);
  stripeSandbox(h).pay(session, 'card', card);
  expect((await depositOutcome(h, dep.id)).status).toBe('credited');
  return { dep, session };
}

describe('receipts', () => {
  it('a card deposit\u2019s session carries the account email and invoice_creation; the credited deposit shows its receipt', async () => {
    const { key } = await h.createAccount();
    const { dep, session } = await paidCardDeposit(key, {});
    const s = stripeSandbox(h).session(session)!;
    expect(s.customer_email).toBe('test@example.com');
    expect(s.customer).toBeNull();
    expect(s.invoice).toMatch(/^in_/);
    const shown = await getDeposit(h, key, dep.id);
    expect(shown).toMatchObject({ status: 'credited', save_card: false });
    expect((shown as any).receipt_url).toMatch(new RegExp(`/sandbox/stripe/receipts/ch_`));
    const receipt = await fetch((shown as any).receipt_url);
    expect(receipt.status).toBe(200);
    expect(await receipt.text()).toContain('10.00 USD paid');
    // Nothing saved without save_card.
    expect(await (await h.call('GET', '/v1/billing/payment-method', { key })).json()).toMatchObject({ saved: false, brand: null });
  });
});

describe('saved card', () => {
  it('save_card keeps the card (brand, last 4) with a Stripe customer; the next checkout uses that customer; DELETE forgets it', async () => {
    const { key, accountId } = await h.createAccount();
    const { dep, session } = await paidCardDeposit(key, { save_card: true });
    const s = stripeSandbox(h).session(session)!;
    expect(s.customer).toMatch(/^cus_/);
    expect(stripeSandbox(h).vault.customer(s.customer!)?.email).toBe('test@example.com');
    expect((await getDeposit(h, key, dep.id)) as any).toMatchObject({ save_card: true });

    const pm = await (await h.call('GET', '/v1/billing/payment-method', { key })).json();
    expect(pm).toMatchObject({ object: 'payment_method', saved: true, type: 'card', brand: 'visa', last4: '4242', deposit_id: dep.id });
    const saved = await h.services.payments.savedCards.get(accountId);
    expect(saved).toMatchObject({ customerRef: s.customer });
    expect(stripeSandbox(h).vault.paymentMethod(saved!.paymentMethodRef)?.customer).toBe(s.customer);

    // The next checkout of this account names the customer instead of an email.
    const next = await createDeposit(h, key, { tier: 'starter', method: 'card' });
    expect(stripeSandbox(h).session(await sessionOf(next.id))).toMatchObject({ customer: s.customer });
    stripeSandbox(h).expire(await sessionOf(next.id));
    expect((await depositOutcome(h, next.id)).status).toBe('expired');

    expect(await (await h.call('DELETE', '/v1/billing/payment-method', { key })).json()).toEqual({ object: 'payment_method', deleted: true });
    expect((await (await h.call('GET', '/v1/billing/payment-method', { key })).json()).saved).toBe(false);
    // Removed at Stripe too: the card is no longer on the customer, so nothing can charge it.
    expect(stripeSandbox(h).vault.paymentMethod(saved!.paymentMethodRef)?.customer).toBeNull();
    expect(await (await h.call('DELETE', '/v1/billing/payment-method', { key })).json()).toEqual({ object: 'payment_method', deleted: false });
  });

  it('a card saved again replaces the saved one, which is detached at Stripe', async () => {
    const { key, accountId } = await h.createAccount();
    await paidCardDeposit(key, { save_card: true });
    const first = (await h.services.payments.savedCards.get(accountId))!;
    const { dep } = await paidCardDeposit(key, { save_card: true });
    const second = (await h.services.payments.savedCards.get(accountId))!;
    expect(second).toMatchObject({ depositId: dep.id, customerRef: first.customerRef });
    expect(second.paymentMethodRef).not.toBe(first.paymentMethodRef);
    expect(stripeSandbox(h).vault.paymentMethod(first.paymentMethodRef)?.customer).toBeNull();
    expect(stripeSandbox(h).vault.paymentMethod(second.paymentMethodRef)?.customer).toBe(second.customerRef);
  });

  it('a card Stripe cannot detach stays saved, with auto top-up on, and the removal answers 502', async () => {
    const { key, accountId } = await h.createAccount();
    await paidCardDeposit(key, { save_card: true });
    expect((await h.call('PUT', '/v1/billing/auto-topup', { key, body: { threshold_usd: '5.00', tier: 'starter' } })).status).toBe(200);
    const saved = (await h.services.payments.savedCards.get(accountId))!;
    const unreachable = new StripeGateway({ secretKey: 'sk_test_unreachable', webhookSecret: 'whsec_unused', apiBase: 'http://127.0.0.1:9', timeoutMs: 2_000 });
    const deps = { db: h.services.db, cards: h.services.payments.savedCards, gateway: unreachable, logger: h.services.logger };

    const failure = await removeSavedCard(deps, accountId).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(CardNotDetached);
    expect(toApiError(failure)).toMatchObject({ status: 502, type: 'api_error', code: 'payment_provider_unavailable' });
    expect(await h.services.payments.savedCards.get(accountId)).toEqual(saved);
    expect(stripeSandbox(h).vault.paymentMethod(saved.paymentMethodRef)?.customer).toBe(saved.customerRef);
    expect((await (await h.call('GET', '/v1/billing/auto-topup', { key })).json()).enabled).toBe(true);

    // Once Stripe answers, the same removal goes through and auto top-up stops with the card.
    expect(await removeSavedCard({ ...deps, gateway: h.services.payments.gateways.card }, accountId)).toEqual(saved);
    expect((await (await h.call('GET', '/v1/billing/auto-topup', { key })).json()).enabled).toBe(false);
  });

  it('refuses save_card on a crypto deposit with 400, creating nothing', async () => {
    const { key, accountId } = await h.createAccount();
    const r = await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'crypto', save_card: true } });
    expect(r.status).toBe(400);
    expect((await r.json()).error.param).toBe('save_card');
    expect(await h.services.db('deposits').where({ account_id: accountId }).count({ n: '*' }).first()).toMatchObject({ n: 0n });
  });
});
