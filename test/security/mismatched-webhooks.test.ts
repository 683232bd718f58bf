import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cryptomusSign, phpJson } from '../../src/payments/cryptomus-protocol.js';
import type { Deposit } from '../../src/payments/deposit-repository.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * Correctly signed webhooks about the wrong checkout, replayed from issue 10 §4: the signature
 * proves the provider sent an event, not that the event concerns the deposit it names. Each must
 * change nothing and be acknowledged (2xx), so the provider does not redeliver it for days.
 */

const STRIPE_WEBHOOK_SECRET = 'whsec_test_mismatched_webhooks';
const CRYPTOMUS_KEY = 'test-cryptomus-key-mismatched';

let h: Harness;
beforeAll(async () => {
  // Our own provider credentials: no sandbox, no worker; deposits are put in place through the repository.
  h = await startHarness({
    worker: false,
    env: {
      STRIPE_SECRET_KEY: 'sk_test_mismatched',
      STRIPE_WEBHOOK_SECRET,
      STRIPE_API_BASE: 'http://127.0.0.1:9',
      CRYPTOMUS_MERCHANT_ID: 'test-merchant',
      CRYPTOMUS_API_KEY: CRYPTOMUS_KEY,
      CRYPTOMUS_BASE_URL: 'http://127.0.0.1:9',
    },
  });
});
afterAll(async () => h?.close());

async function depositWithCheckout(method: 'card' | 'crypto', providerRef: string | null): Promise<Deposit> {
  const { accountId } = await h.createAccount();
  const repo = h.services.payments.deposits;
  const { deposit } = await repo.create({
    accountId,
    method,
    provider: method === 'card' ? 'stripe' : 'cryptomus',
    tier: 'enterprise',
    amount: 500_000_000_000n,
    expiresAt: new Date(Date.now() + 3_600_000),
  });
  if (providerRef === null) return deposit;
  return repo.checkoutOpened(deposit.id, { providerRef, checkoutUrl: 'https://pay.example/x', expiresAt: new Date(Date.now() + 3_600_000) });
}

function stripePaid(depositId: string, sessionId: string) {
  const session = { id: sessionId, object: 'checkout.session', mode: 'payment', status: 'complete', payment_status: 'paid', amount_total: 50000, currency: 'usd', client_reference_id: depositId, metadata: { deposit_id: depositId } };
  const payload = JSON.stringify({ id: `evt_${Math.random().toString(36).slice(2)}`, object: 'event', type: 'checkout.session.completed', data: { object: session } });
  return fetch(`${h.baseUrl}/webhooks/stripe`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: STRIPE_WEBHOOK_SECRET }) },
    body: payload,
  });
}

function cryptomusPaid(depositId: string, uuid: string) {
  const payload = { type: 'payment', uuid, order_id: depositId, amount: '500.00', payment_amount_usd: '500.00', currency: 'USD', status: 'paid', is_final: true };
  return fetch(`${h.baseUrl}/webhooks/cryptomus`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: phpJson({ ...payload, sign: cryptomusSign(phpJson(payload), CRYPTOMUS_KEY) }),
  });
}

/** What a webhook could change about a deposit: its status, credit, history and the account's balance. */
async function snapshot(dep: Deposit) {
  const d = (await h.services.payments.deposits.get(dep.id))!;
  return {
    status: d.status,
    credited: d.creditedAmount,
    history: (await h.services.payments.deposits.history(dep.id)).map((e) => e.eventId),
    balance: (await h.services.ledger.balance(dep.accountId)).balance,
  };
}

describe('attack 7: signed webhooks for another checkout', () => {
  it('a Stripe payment for another session naming an open deposit is acknowledged and changes nothing', async () => {
    const dep = await depositWithCheckout('card', 'cs_test_ours');
    const before = await snapshot(dep);
    const res = await stripePaid(dep.id, 'cs_test_someone_elses');
    expect(res.status).toBe(200);
    expect(await snapshot(dep)).toEqual(before);
    await h.expectBooksBalanced();
  });

  it('a Cryptomus payment for another invoice naming an open deposit is acknowledged and changes nothing', async () => {
    const dep = await depositWithCheckout('crypto', '11111111-1111-4111-8111-111111111111');
    const before = await snapshot(dep);
    const res = await cryptomusPaid(dep.id, '22222222-2222-4222-8222-222222222222');
    expect(res.status).toBe(200);
    expect(await snapshot(dep)).toEqual(before);
    await h.expectBooksBalanced();
  });

  it('a payment for another session cannot push an expired deposit into review; one for its own session does', async () => {
    const dep = await depositWithCheckout('card', 'cs_test_expired_ours');
    await h.services.payments.deposits.recordEvent(dep.id, { eventId: 'expired', source: 'workflow', outcome: 'expired' }, 'expired');
    const expired = await snapshot(dep);
    expect(expired.status).toBe('expired');

    expect((await stripePaid(dep.id, 'cs_test_not_ours')).status).toBe(200);
    expect(await snapshot(dep)).toEqual(expired);

    expect((await stripePaid(dep.id, 'cs_test_expired_ours')).status).toBe(200);
    expect((await h.services.payments.deposits.get(dep.id))!.status).toBe('needs_review');
    await h.expectBooksBalanced();
  });

  it('an event for a deposit whose checkout is not recorded yet is answered 503 so the provider retries', async () => {
    const dep = await depositWithCheckout('crypto', null);
    const before = await snapshot(dep);
    const res = await cryptomusPaid(dep.id, '33333333-3333-4333-8333-333333333333');
    expect(res.status).toBe(503);
    expect(res.headers.get('retry-after')).toBe('5');
    expect(await snapshot(dep)).toEqual(before);
  });
});
