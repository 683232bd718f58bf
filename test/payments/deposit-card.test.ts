import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import {
  balanceOf,
  createDeposit,
  depositEntries,
  depositOutcome,
  getDeposit,
  startDepositHarness,
  stripeSandbox,
  USD,
  webhooksFor,
} from './deposit-fixtures.js';

let h: Harness;
useHarness(() => startDepositHarness({ pollSeconds: 1 }), (started) => (h = started), { reset: (s) => void (stripeSandbox(s).webhooks.mode = 'auto') });

const sessionOf = async (depositId: string) => (await h.services.payments.deposits.get(depositId))!.providerRef!;

/** A Stripe event for the deposit's session, signed the way Stripe signs (optionally with the wrong secret). */
function signedEvent(type: string, session: Record<string, unknown>, secret: string = h.services.sandboxes.connections.card!.webhookSecret) {
  const payload = JSON.stringify({ id: `evt_test_${Math.random().toString(36).slice(2)}`, object: 'event', type, data: { object: session } });
  return { payload, header: Stripe.webhooks.generateTestHeaderString({ payload, secret }) };
}

const postStripe = (body: string, headers: Record<string, string>) =>
  fetch(`${h.baseUrl}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body });

describe('card deposits through Stripe Checkout (embedded Stripe-protocol sandbox)', () => {
  it('returns a checkout URL at once and credits the tier when the payer pays on the hosted page', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'standard', method: 'card' });
    expect(dep).toMatchObject({ status: 'pending', method: 'card', amount_usd: '25.00', credited_usd: null });
    expect(dep.checkout_url).toMatch(new RegExp(`^${h.baseUrl}/sandbox/stripe/pay/cs_test_`));

    const page = await fetch(dep.checkout_url!, { method: 'POST', body: new URLSearchParams({ action: 'card' }), redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(await depositOutcome(h, dep.id)).toEqual({ status: 'credited', creditedNano: (25n * USD).toString() });
    expect(await balanceOf(h, accountId)).toBe(25n * USD);
    const after = await getDeposit(h, key, dep.id);
    expect(after).toMatchObject({ status: 'credited', credited_usd: '25.00', checkout_url: null });
    expect(after.status_history.map((e) => e.status)).toEqual(['creating', 'pending', 'credited']);
    expect(after.status_history.at(-1)).toMatchObject({ source: 'webhook', provider_status: 'checkout.session.completed' });
  });

  it('credits a deposit once when the webhook arrives five times at once', async () => {
    const { accountId, key } = await h.createAccount();
    const sandbox = stripeSandbox(h);
    sandbox.webhooks.mode = 'hold';
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'card' });
    const session = await sessionOf(dep.id);
    sandbox.pay(session, 'card');
    const [completed] = webhooksFor(sandbox.webhooks.list(), session);
    const attempts = await Promise.all(Array.from({ length: 5 }, () => sandbox.webhooks.deliver(completed!.id)));
    expect(attempts.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);

    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    expect(await depositEntries(h, accountId)).toEqual([{ amount: 10n * USD, deposit_id: dep.id }]);
    const history = (await getDeposit(h, key, dep.id)).status_history;
    expect(history.filter((e) => e.outcome === 'paid')).toHaveLength(1);
  });

  it('credits from a poll of the session when every webhook is lost', async () => {
    const { accountId, key } = await h.createAccount();
    const sandbox = stripeSandbox(h);
    sandbox.webhooks.mode = 'hold';
    const dep = await createDeposit(h, key, { tier: 'developer', method: 'card' });
    sandbox.pay(await sessionOf(dep.id), 'card');

    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    expect(await balanceOf(h, accountId)).toBe(50n * USD);
    expect((await getDeposit(h, key, dep.id)).status_history.at(-1)).toMatchObject({ status: 'credited', source: 'poll' });
  });

  it('credits once when a delayed payment succeeds and its events arrive in reverse order', async () => {
    const { accountId, key } = await h.createAccount();
    const sandbox = stripeSandbox(h);
    sandbox.webhooks.mode = 'hold';
    const dep = await createDeposit(h, key, { tier: 'team', method: 'card' });
    const session = await sessionOf(dep.id);
    sandbox.pay(session, 'delayed');
    sandbox.settle(session, true);
    const [completedUnpaid, succeeded] = webhooksFor(sandbox.webhooks.list(), session);
    expect((await sandbox.webhooks.deliver(succeeded!.id)).status).toBe(200);
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    expect((await sandbox.webhooks.deliver(completedUnpaid!.id)).status).toBe(200);

    expect(await depositEntries(h, accountId)).toEqual([{ amount: 100n * USD, deposit_id: dep.id }]);
    const after = await getDeposit(h, key, dep.id);
    expect(after.status).toBe('credited');
    expect(after.status_history.at(-1)).toMatchObject({ status: 'credited', provider_status: 'checkout.session.completed (unpaid)' });
  });

  it('ends a bounced delayed payment as failed, without credit', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'card' });
    const page = await fetch(dep.checkout_url!, { method: 'POST', body: new URLSearchParams({ action: 'delayed_fail' }), redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(await depositOutcome(h, dep.id)).toEqual({ status: 'failed' });
    expect(await balanceOf(h, accountId)).toBe(0n);
    expect((await getDeposit(h, key, dep.id)).status).toBe('failed');
  });

  it('refuses forged, tampered, stale and unsigned webhooks with 400 and changes nothing', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'growth', method: 'card' });
    const session = { id: await sessionOf(dep.id), object: 'checkout.session', mode: 'payment', status: 'complete', payment_status: 'paid', amount_total: 25000, currency: 'usd', metadata: { deposit_id: dep.id } };
    const forged = signedEvent('checkout.session.completed', session, 'whsec_attacker');
    const genuine = signedEvent('checkout.session.completed', session);
    const stalePayload = genuine.payload;
    const stale = Stripe.webhooks.generateTestHeaderString({ payload: stalePayload, secret: h.services.sandboxes.connections.card!.webhookSecret, timestamp: Math.floor(Date.now() / 1000) - 3600 });

    for (const [body, headers] of [
      [forged.payload, { 'stripe-signature': forged.header }],
      [genuine.payload.replace('25000', '2500000'), { 'stripe-signature': genuine.header }],
      [stalePayload, { 'stripe-signature': stale }],
      [genuine.payload, {}],
    ] as const) {
      const res = await postStripe(body, headers);
      expect(res.status).toBe(400);
      expect((await res.json()).error).toMatchObject({ code: 'invalid_signature', type: 'invalid_request_error' });
    }
    const after = await getDeposit(h, key, dep.id);
    expect(after.status).toBe('pending');
    expect(after.status_history.map((e) => e.event_id)).not.toContain(JSON.parse(genuine.payload).id);
    expect(await balanceOf(h, accountId)).toBe(0n);
  });

  it('acknowledges a late duplicate after the credit and changes nothing', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'card' });
    const session = await sessionOf(dep.id);
    stripeSandbox(h).pay(session, 'card');
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    const before = await getDeposit(h, key, dep.id);

    const [completed] = webhooksFor(stripeSandbox(h).webhooks.list(), session);
    expect((await stripeSandbox(h).webhooks.deliver(completed!.id)).status).toBe(200);
    const after = await getDeposit(h, key, dep.id);
    expect(after.status_history).toEqual(before.status_history);
    expect(await depositEntries(h, accountId)).toHaveLength(1);
  });

  it('credits a deposit confirmed while the worker is down, once the worker is back', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'card' });
    const session = await sessionOf(dep.id);
    await h.stopWorker();
    try {
      stripeSandbox(h).pay(session, 'card');
      const [completed] = webhooksFor(stripeSandbox(h).webhooks.list(), session);
      // The webhook is acknowledged without a worker: the signal is durable in Temporal.
      expect((await stripeSandbox(h).webhooks.deliver(completed!.id)).status).toBe(200);
      expect((await getDeposit(h, key, dep.id)).status).toBe('pending');
      expect(await balanceOf(h, accountId)).toBe(0n);
    } finally {
      await h.startWorker();
    }
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    expect(await balanceOf(h, accountId)).toBe(10n * USD);
  });
});

describe('card deposits that run out of time', () => {
  let short: Harness;
  beforeAll(async () => {
    short = await startDepositHarness({ ttlSeconds: 3, pollSeconds: 1 });
  });
  afterEach(async () => short.expectBooksBalanced());
  afterAll(async () => short?.close());

  it('expires an unpaid deposit with its checkout session', async () => {
    const { accountId, key } = await short.createAccount();
    const dep = await createDeposit(short, key, { tier: 'starter', method: 'card' });
    expect(await depositOutcome(short, dep.id)).toEqual({ status: 'expired' });
    const ref = (await short.services.payments.deposits.get(dep.id))!.providerRef!;
    expect(stripeSandbox(short).session(ref)!.status).toBe('expired');
    expect(await balanceOf(short, accountId)).toBe(0n);
    expect((await getDeposit(short, key, dep.id)).status).toBe('expired');
  });

  it('puts a payment reported after the deposit expired in review instead of losing or auto-crediting it', async () => {
    const { accountId, key } = await short.createAccount();
    const dep = await createDeposit(short, key, { tier: 'starter', method: 'card' });
    expect((await depositOutcome(short, dep.id)).status).toBe('expired');
    const ref = (await short.services.payments.deposits.get(dep.id))!.providerRef!;
    const late = signedEvent('checkout.session.completed', {
      id: ref,
      object: 'checkout.session',
      mode: 'payment',
      status: 'complete',
      payment_status: 'paid',
      amount_total: 1000,
      currency: 'usd',
      metadata: { deposit_id: dep.id },
    }, short.services.sandboxes.connections.card!.webhookSecret);
    const res = await fetch(`${short.baseUrl}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': late.header },
      body: late.payload,
    });
    expect(res.status).toBe(200);
    const after = await getDeposit(short, key, dep.id);
    expect(after.status).toBe('needs_review');
    expect(after.status_history.at(-1)).toMatchObject({ outcome: 'paid', amount_usd: '10.00' });
    expect(await balanceOf(short, accountId)).toBe(0n);
  });
});
