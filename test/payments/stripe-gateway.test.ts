import express from 'express';
import Stripe from 'stripe';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { InvalidWebhookSignature, PaymentProviderError } from '../../src/payments/payment-gateway.js';
import { createStripeSandbox, type StripeSandbox } from '../../src/sandboxes/payments/stripe-sandbox.js';
import { listen, type ListeningSandbox } from '../../src/sandboxes/payments/listen.js';
import { StripeGateway } from '../../src/payments/stripe-gateway.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

const SECRET_KEY = 'sk_test_sandbox_key_0123456789';
const WEBHOOK_SECRET = 'whsec_test_sandbox_secret';
const USD = 1_000_000_000n;

let receiver: WebhookReceiver;
let sandbox: StripeSandbox;
let server: ListeningSandbox;
let gateway: StripeGateway;
let seq = 0;

const inOneHour = () => Math.floor(Date.now() / 1000) + 3600;
const request = (depositId: string, amountNano = 10n * USD) => ({
  depositId,
  amountNano,
  description: 'Cheapa credit: Starter',
  successUrl: 'http://127.0.0.1:8080/billing?deposit=ok&session={CHECKOUT_SESSION_ID}',
  cancelUrl: 'http://127.0.0.1:8080/billing?deposit=cancelled',
  expiresAt: inOneHour(),
});

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  sandbox = createStripeSandbox({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET, webhookUrl: receiver.url, retryDelaysMs: [] });
  server = await listen(sandbox.router);
  gateway = new StripeGateway({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET, apiBase: server.url });
});

afterAll(async () => {
  await sandbox.close();
  await server.close();
  await receiver.close();
});

let depositId: string;
beforeEach(() => {
  depositId = `dep_stripe_${Date.now()}_${seq++}`;
});

describe('StripeGateway against a Stripe-protocol server', () => {
  it('opens a Checkout Session in whole cents with the deposit id in metadata and as reference', async () => {
    const checkout = await gateway.createCheckout(request(depositId, 25n * USD));
    const session = sandbox.session(checkout.providerRef)!;
    expect(session).toMatchObject({
      mode: 'payment',
      amount_total: 2500,
      currency: 'usd',
      client_reference_id: depositId,
      metadata: { deposit_id: depositId },
      status: 'open',
    });
    expect(checkout.url).toBe(`${server.url}/pay/${checkout.providerRef}`);
    expect(checkout.amountNano).toBe(25n * USD);
    expect(checkout.state).toMatchObject({ kind: 'pending', depositId, provider: 'stripe' });
  });

  it('returns the same session when the create is retried for the same deposit', async () => {
    const first = await gateway.createCheckout(request(depositId));
    const second = await gateway.createCheckout(request(depositId));
    expect(second.providerRef).toBe(first.providerRef);
    expect(sandbox.sessions().filter((s) => s.metadata.deposit_id === depositId)).toHaveLength(1);
  });

  it('refuses, as not retryable, a second create for the deposit with other parameters', async () => {
    await gateway.createCheckout(request(depositId, 10n * USD));
    const err = await gateway.createCheckout(request(depositId, 50n * USD)).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PaymentProviderError);
    expect(err).toMatchObject({ retryable: false, httpStatus: 400 });
  });

  it('refuses a sub-cent amount before calling Stripe', async () => {
    await expect(gateway.createCheckout(request(depositId, 10n * USD + 1n))).rejects.toThrow(/whole number of cents/);
  });

  it('reads a card-paid session as paid for its amount in nano-dollars', async () => {
    const checkout = await gateway.createCheckout(request(depositId, 50n * USD));
    sandbox.pay(checkout.providerRef, 'card');
    const now = await gateway.retrieveCheckout({ depositId, providerRef: checkout.providerRef });
    expect(now.state).toMatchObject({ kind: 'paid', amountNano: 50n * USD });
    expect(now.url).toBeNull();
  });

  it('reads a delayed payment as processing until it settles, and reads a bounced one as failed', async () => {
    const ok = await gateway.createCheckout(request(depositId));
    sandbox.pay(ok.providerRef, 'delayed');
    expect((await gateway.retrieveCheckout({ depositId, providerRef: ok.providerRef })).state.kind).toBe('processing');
    sandbox.settle(ok.providerRef, true);
    expect((await gateway.retrieveCheckout({ depositId, providerRef: ok.providerRef })).state).toMatchObject({
      kind: 'paid',
      amountNano: 10n * USD,
    });

    const otherId = `${depositId}_b`;
    const bad = await gateway.createCheckout(request(otherId));
    sandbox.pay(bad.providerRef, 'delayed');
    sandbox.settle(bad.providerRef, false);
    expect((await gateway.retrieveCheckout({ depositId: otherId, providerRef: bad.providerRef })).state.kind).toBe('failed');
  });

  it('closes an open session as expired, and reports a session paid just before closing as paid', async () => {
    const open = await gateway.createCheckout(request(depositId));
    const closed = await gateway.closeCheckout({ depositId, providerRef: open.providerRef });
    expect(closed.state.kind).toBe('expired');
    expect(sandbox.session(open.providerRef)!.status).toBe('expired');

    const otherId = `${depositId}_b`;
    const paid = await gateway.createCheckout(request(otherId));
    sandbox.pay(paid.providerRef, 'card');
    const after = await gateway.closeCheckout({ depositId: otherId, providerRef: paid.providerRef });
    expect(after.state).toMatchObject({ kind: 'paid', amountNano: 10n * USD });
  });

  it('refuses to report a session for a deposit it does not belong to', async () => {
    const checkout = await gateway.createCheckout(request(depositId));
    await expect(gateway.retrieveCheckout({ depositId: 'dep_other', providerRef: checkout.providerRef })).rejects.toMatchObject({
      retryable: false,
    });
  });

  it('reports a wrong API key as a non-retryable provider error', async () => {
    const wrong = new StripeGateway({ secretKey: 'sk_test_wrong', webhookSecret: WEBHOOK_SECRET, apiBase: server.url });
    await expect(wrong.createCheckout(request(depositId))).rejects.toMatchObject({
      name: 'PaymentProviderError',
      retryable: false,
      httpStatus: 401,
    });
  });

  it('honours a path prefix in STRIPE_API_BASE (the sandbox mounted inside the service)', async () => {
    const app = express();
    app.use('/sandbox/stripe', sandbox.router);
    const mounted = app.listen(0, '127.0.0.1');
    await new Promise<void>((resolve) => mounted.once('listening', resolve));
    try {
      const { port } = mounted.address() as { port: number };
      const viaPrefix = new StripeGateway({
        secretKey: SECRET_KEY,
        webhookSecret: WEBHOOK_SECRET,
        apiBase: `http://127.0.0.1:${port}/sandbox/stripe/`,
      });
      const checkout = await viaPrefix.createCheckout(request(depositId));
      expect(checkout.url).toBe(`http://127.0.0.1:${port}/sandbox/stripe/pay/${checkout.providerRef}`);
    } finally {
      mounted.closeAllConnections();
      await new Promise((resolve) => mounted.close(resolve));
    }
  });
});

describe('Stripe webhooks', () => {
  const signed = (payload: string, opts: { secret?: string; timestamp?: number } = {}) =>
    Stripe.webhooks.generateTestHeaderString({ payload, secret: opts.secret ?? WEBHOOK_SECRET, timestamp: opts.timestamp });

  const event = (type: string, session: Record<string, unknown>, id = `evt_${seq++}`) =>
    JSON.stringify({ id, object: 'event', type, created: 1, data: { object: { object: 'checkout.session', mode: 'payment', ...session } } });

  const session = (over: Record<string, unknown> = {}) => ({
    id: 'cs_test_1',
    amount_total: 1000,
    currency: 'usd',
    payment_status: 'paid',
    status: 'complete',
    metadata: { deposit_id: 'dep_1' },
    client_reference_id: 'dep_1',
    ...over,
  });

  it('verifies and maps the event the sandbox delivers when a session is paid', async () => {
    const checkout = await gateway.createCheckout(request(depositId, 100n * USD));
    const before = receiver.received.length;
    sandbox.pay(checkout.providerRef, 'card');
    const got = (await receiver.waitFor(before + 1))[before]!;
    const parsed = gateway.parseWebhook(got.body, { signature: String(got.headers['stripe-signature']) });
    expect(parsed).toMatchObject({
      provider: 'stripe',
      depositId,
      kind: 'paid',
      amountNano: 100n * USD,
      providerRef: checkout.providerRef,
      providerStatus: 'checkout.session.completed',
    });
    expect(parsed!.eventId).toMatch(/^evt_/);
  });

  it('accepts an event signed by stripe-node with the endpoint secret', () => {
    const payload = event('checkout.session.completed', session(), 'evt_good');
    expect(gateway.parseWebhook(payload, { signature: signed(payload) })).toMatchObject({
      kind: 'paid',
      amountNano: 10n * USD,
      depositId: 'dep_1',
      eventId: 'evt_good',
    });
  });

  it('rejects a forged signature, a tampered body, a stale timestamp and a missing header', () => {
    const payload = event('checkout.session.completed', session());
    const stale = Math.floor(Date.now() / 1000) - 301;
    const cases = [
      () => gateway.parseWebhook(payload, { signature: signed(payload, { secret: 'whsec_attacker' }) }),
      () => gateway.parseWebhook(payload.replace('1000', '100000'), { signature: signed(payload) }),
      () => gateway.parseWebhook(payload, { signature: signed(payload, { timestamp: stale }) }),
      () => gateway.parseWebhook(payload, {}),
      () => gateway.parseWebhook(payload, { signature: 'garbage' }),
    ];
    for (const attempt of cases) expect(attempt).toThrow(InvalidWebhookSignature);
  });

  it('maps each Checkout event to one outcome, and ignores what concerns no deposit', () => {
    const parse = (type: string, over: Record<string, unknown> = {}) => {
      const payload = event(type, session(over));
      return gateway.parseWebhook(payload, { signature: signed(payload) });
    };
    expect(parse('checkout.session.completed', { payment_status: 'unpaid' })?.kind).toBe('processing');
    expect(parse('checkout.session.async_payment_succeeded')).toMatchObject({ kind: 'paid', amountNano: 10n * USD });
    expect(parse('checkout.session.async_payment_failed', { payment_status: 'unpaid' })?.kind).toBe('failed');
    expect(parse('checkout.session.expired', { status: 'expired', payment_status: 'unpaid' })?.kind).toBe('expired');
    expect(parse('checkout.session.completed', { currency: 'eur' })?.kind).toBe('review');
    expect(parse('customer.created')).toBeNull();
    expect(parse('checkout.session.completed', { metadata: {}, client_reference_id: null })).toBeNull();
  });
});

describe('StripeGateway.detachCard', () => {
  async function savedCard() {
    const checkout = await gateway.createCheckout({ ...request(depositId), customerEmail: 'card@example.com', saveCard: true });
    sandbox.pay(checkout.providerRef, 'card');
    const details = await gateway.paymentDetails({ providerRef: checkout.providerRef });
    return details.savedCard!;
  }

  it('detaches a saved card from its customer, after which an off-session charge of it is refused', async () => {
    const card = await savedCard();
    expect(sandbox.vault.paymentMethod(card.paymentMethodRef)?.customer).toBe(card.customerRef);
    await gateway.detachCard({ paymentMethodRef: card.paymentMethodRef });
    expect(sandbox.vault.paymentMethod(card.paymentMethodRef)?.customer).toBeNull();
    await expect(
      gateway.chargeSavedCard({ depositId, amountNano: 10n * USD, description: 'top-up', idempotencyKey: `charge-${depositId}`, ...card }),
    ).rejects.toBeInstanceOf(PaymentProviderError);
  });

  it('counts a card already detached, or unknown to Stripe, as detached (Stripe answers those 400 and 404)', async () => {
    const card = await savedCard();
    await gateway.detachCard({ paymentMethodRef: card.paymentMethodRef });
    const again = await fetch(`${server.url}/v1/payment_methods/${card.paymentMethodRef}/detach`, { method: 'POST', headers: { authorization: `Bearer ${SECRET_KEY}` } });
    expect(again.status).toBe(400);
    await expect(gateway.detachCard({ paymentMethodRef: card.paymentMethodRef })).resolves.toBeUndefined();
    await expect(gateway.detachCard({ paymentMethodRef: 'pm_never_issued' })).resolves.toBeUndefined();
  });

  it('fails with a retryable provider error when Stripe cannot be reached', async () => {
    const unreachable = new StripeGateway({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET, apiBase: 'http://127.0.0.1:9', timeoutMs: 2_000 });
    const failure = await unreachable.detachCard({ paymentMethodRef: 'pm_any' }).catch((err: unknown) => err);
    expect(failure).toBeInstanceOf(PaymentProviderError);
    expect((failure as PaymentProviderError).retryable).toBe(true);
  });
});
