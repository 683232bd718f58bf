import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Stripe from 'stripe';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { listen, type ListeningSandbox } from '../../../src/sandboxes/payments/listen.js';
import { createStripeSandbox, type StripeSandbox } from '../../../src/sandboxes/payments/stripe-sandbox.js';
import { StripeGateway } from '../../../src/payments/stripe-gateway.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../payments/webhook-receiver.js';

const SECRET_KEY = 'sk_test_sandbox_pages';
const WEBHOOK_SECRET = 'whsec_sandbox_pages';
const USD = 1_000_000_000n;

let receiver: WebhookReceiver;
const opened: Array<{ sandbox: StripeSandbox; server: ListeningSandbox }> = [];
let seq = 0;

async function start(extra: Partial<Parameters<typeof createStripeSandbox>[0]> = {}) {
  const sandbox = createStripeSandbox({
    secretKey: SECRET_KEY,
    webhookSecret: WEBHOOK_SECRET,
    webhookUrl: receiver.url,
    retryDelaysMs: [],
    ...extra,
  });
  const server = await listen(sandbox.router);
  opened.push({ sandbox, server });
  const gateway = new StripeGateway({ secretKey: SECRET_KEY, webhookSecret: WEBHOOK_SECRET, apiBase: server.url });
  return { sandbox, server, gateway };
}

async function stop(s: { sandbox: StripeSandbox; server: ListeningSandbox }) {
  opened.splice(opened.indexOf(s), 1);
  await s.sandbox.close();
  await s.server.close();
}

const checkoutFor = (gateway: StripeGateway, expiresInSeconds = 3600) => {
  const depositId = `dep_page_${seq++}`;
  return gateway
    .createCheckout({
      depositId,
      amountNano: 10n * USD,
      description: 'Cheapa credit: Starter $10',
      successUrl: 'http://127.0.0.1:9/ok?session={CHECKOUT_SESSION_ID}',
      cancelUrl: 'http://127.0.0.1:9/cancelled',
      expiresAt: Math.floor(Date.now() / 1000) + expiresInSeconds,
    })
    .then((checkout) => ({ depositId, checkout }));
};

const verified = (hook: { body: Buffer; headers: Record<string, unknown> }) =>
  Stripe.webhooks.constructEvent(hook.body, String(hook.headers['stripe-signature']), WEBHOOK_SECRET);

const press = (url: string, action: string) =>
  fetch(url, { method: 'POST', body: new URLSearchParams({ action }), redirect: 'manual' });

beforeAll(async () => {
  receiver = await startWebhookReceiver();
});
afterEach(async () => {
  receiver.respondWith(200);
  for (const s of [...opened]) await stop(s);
});
afterAll(async () => {
  await receiver.close();
});

describe('Stripe sandbox: hosted checkout page', () => {
  it('shows the amount and lets a person pay; the payer returns to success_url and a signed event goes out', async () => {
    const { gateway } = await start();
    const { checkout } = await checkoutFor(gateway);
    const page = await (await fetch(checkout.url!)).text();
    expect(page).toContain('10.00 USD');
    expect(page).toContain('Pay by card');

    const from = receiver.received.length;
    const res = await press(checkout.url!, 'card');
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe(`http://127.0.0.1:9/ok?session=${checkout.providerRef}`);
    const event = verified((await receiver.waitFor(from + 1))[from]!);
    expect(event.type).toBe('checkout.session.completed');
    expect(event.data.object).toMatchObject({ id: checkout.providerRef, payment_status: 'paid', status: 'complete' });
  });

  it('lets a person fail a payment: completed unpaid, then async_payment_failed', async () => {
    const { gateway } = await start();
    const { checkout } = await checkoutFor(gateway);
    const from = receiver.received.length;
    expect((await press(checkout.url!, 'delayed_fail')).headers.get('location')).toBe('http://127.0.0.1:9/cancelled');
    const types = (await receiver.waitFor(from + 2)).slice(from).map((h) => verified(h).type);
    expect(types.sort()).toEqual(['checkout.session.async_payment_failed', 'checkout.session.completed']);
  });

  it('expires an open session once its expires_at passes and sends checkout.session.expired', async () => {
    const { gateway, sandbox } = await start({ minExpirySeconds: 1, sweepIntervalMs: 20 });
    const { checkout } = await checkoutFor(gateway, 1);
    const from = receiver.received.length;
    const event = verified((await receiver.waitFor(from + 1))[from]!);
    expect(event.type).toBe('checkout.session.expired');
    expect(sandbox.session(checkout.providerRef)).toMatchObject({ status: 'expired', url: null });
  });

  it('refuses an expiry shorter than Stripe allows', async () => {
    const { gateway } = await start();
    await expect(checkoutFor(gateway, 60)).rejects.toMatchObject({ httpStatus: 400, retryable: false });
  });
});

describe('Stripe sandbox: webhook delivery', () => {
  it('withholds deliveries in hold mode and delivers a chosen event as often as asked', async () => {
    const { gateway, sandbox, server } = await start();
    sandbox.webhooks.mode = 'hold';
    const { checkout } = await checkoutFor(gateway);
    const from = receiver.received.length;
    await fetch(`${server.url}/_sandbox/checkout/sessions/${checkout.providerRef}/pay`, { method: 'POST' });
    const [held] = sandbox.webhooks.list();
    expect(held).toMatchObject({ delivered: false, attempts: [] });

    for (let i = 0; i < 2; i++) {
      const res = await fetch(`${server.url}/_sandbox/webhooks/${held!.id}/deliver`, { method: 'POST' });
      expect(await res.json()).toMatchObject({ status: 200 });
    }
    const [a, b] = (await receiver.waitFor(from + 2)).slice(from);
    expect(verified(a!).id).toBe(verified(b!).id);
  });

  it('retries a delivery the endpoint refused', async () => {
    const { gateway, sandbox } = await start({ retryDelaysMs: [20, 20] });
    const { checkout } = await checkoutFor(gateway);
    receiver.respondWith(500);
    const from = receiver.received.length;
    sandbox.pay(checkout.providerRef, 'card');
    await receiver.waitFor(from + 1);
    receiver.respondWith(200);
    await receiver.waitFor(from + 2);
    await sandbox.close();
    const [hook] = sandbox.webhooks.list();
    expect(hook!.attempts.map((a) => a.status)).toEqual([500, 200]);
    expect(hook!.delivered).toBe(true);
  });
});

describe('Stripe sandbox: persistence', () => {
  it('keeps sessions and idempotency records across a restart', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'stripe-sandbox-'));
    try {
      const statePath = join(dir, 'stripe.json');
      const first = await start({ statePath });
      const { depositId, checkout } = await checkoutFor(first.gateway);
      await stop(first);

      const second = await start({ statePath });
      const again = await second.gateway.createCheckout({
        depositId,
        amountNano: 10n * USD,
        description: 'Cheapa credit: Starter $10',
        successUrl: 'http://127.0.0.1:9/ok?session={CHECKOUT_SESSION_ID}',
        cancelUrl: 'http://127.0.0.1:9/cancelled',
        expiresAt: checkout.expiresAt,
      });
      expect(again.providerRef).toBe(checkout.providerRef);
      second.sandbox.pay(checkout.providerRef, 'card');
      expect((await second.gateway.retrieveCheckout({ depositId, providerRef: checkout.providerRef })).state.kind).toBe('paid');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
