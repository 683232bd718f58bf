import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { CryptomusGateway } from '../../../src/payments/cryptomus-gateway.js';
import { cryptomusSign, phpJson } from '../../../src/payments/cryptomus-protocol.js';
import { createCryptomusSandbox, type CryptomusSandbox } from '../../../src/sandboxes/payments/cryptomus-sandbox.js';
import { listen, type ListeningSandbox } from '../../../src/sandboxes/payments/listen.js';
import { startWebhookReceiver, type WebhookReceiver } from '../../payments/webhook-receiver.js';

const MERCHANT = 'merchant-sandbox';
const API_KEY = 'payment-key';
const USD = 1_000_000_000n;

let receiver: WebhookReceiver;
const opened: Array<{ sandbox: CryptomusSandbox; server: ListeningSandbox }> = [];
let seq = 0;

async function start(extra: Partial<Parameters<typeof createCryptomusSandbox>[0]> = {}) {
  const sandbox = createCryptomusSandbox({ merchantId: MERCHANT, apiKey: API_KEY, retryDelaysMs: [], ...extra });
  const server = await listen(sandbox.router);
  opened.push({ sandbox, server });
  const gateway = new CryptomusGateway({
    merchantId: MERCHANT,
    apiKey: API_KEY,
    baseUrl: server.url,
    callbackUrl: receiver.url,
    minLifetimeSeconds: extra.minLifetimeSeconds,
  });
  return { sandbox, server, gateway };
}

async function stop(s: { sandbox: CryptomusSandbox; server: ListeningSandbox }) {
  opened.splice(opened.indexOf(s), 1);
  await s.sandbox.close();
  await s.server.close();
}

const invoiceFor = async (gateway: CryptomusGateway, lifetimeSeconds = 3600) => {
  const depositId = `dep_cpage_${seq++}`;
  const checkout = await gateway.createCheckout({
    depositId,
    amountNano: 100n * USD,
    description: 'Cheapa credit: Team $100',
    successUrl: 'http://127.0.0.1:9/ok',
    cancelUrl: 'http://127.0.0.1:9/back',
    expiresAt: Math.floor(Date.now() / 1000) + lifetimeSeconds,
  });
  return { depositId, checkout };
};

beforeAll(async () => {
  receiver = await startWebhookReceiver();
});
afterEach(async () => {
  for (const s of [...opened]) await stop(s);
});
afterAll(async () => {
  await receiver.close();
});

describe('Cryptomus sandbox: hosted payment page', () => {
  it('lets a person pay: confirm_check then paid, each webhook signed, payer sent to url_success', async () => {
    const { gateway } = await start();
    const { depositId, checkout } = await invoiceFor(gateway);
    expect(await (await fetch(checkout.url!)).text()).toContain('100.00 USD');

    const from = receiver.received.length;
    const res = await fetch(checkout.url!, { method: 'POST', body: new URLSearchParams({ action: 'pay' }), redirect: 'manual' });
    expect(res.status).toBe(303);
    expect(res.headers.get('location')).toBe('http://127.0.0.1:9/ok');
    const events = (await receiver.waitFor(from + 2)).slice(from).map((h) => gateway.parseWebhook(h.body, {}));
    expect(events.map((e) => [e!.providerStatus, e!.kind]).sort()).toEqual([
      ['confirm_check', 'processing'],
      ['paid', 'paid'],
    ]);
    expect(events.find((e) => e!.kind === 'paid')).toMatchObject({ depositId, amountNano: 100n * USD });
  });

  it('lets a person fail a payment', async () => {
    const { gateway } = await start();
    const { checkout } = await invoiceFor(gateway);
    const from = receiver.received.length;
    const res = await fetch(checkout.url!, { method: 'POST', body: new URLSearchParams({ action: 'fail' }), redirect: 'manual' });
    expect(res.headers.get('location')).toBe('http://127.0.0.1:9/back');
    const [hook] = (await receiver.waitFor(from + 1)).slice(from);
    expect(gateway.parseWebhook(hook!.body, {})).toMatchObject({ kind: 'failed', providerStatus: 'fail' });
  });

  it('cancels an unpaid invoice when its lifetime ends, with a signed cancel webhook', async () => {
    const { gateway, sandbox } = await start({ minLifetimeSeconds: 1, sweepIntervalMs: 20 });
    const { checkout } = await invoiceFor(gateway, 1);
    const from = receiver.received.length;
    const [hook] = (await receiver.waitFor(from + 1)).slice(from);
    expect(gateway.parseWebhook(hook!.body, {})).toMatchObject({ kind: 'expired', providerStatus: 'cancel' });
    expect(sandbox.invoice(checkout.providerRef)).toMatchObject({ status: 'cancel', is_final: true });
  });
});

describe('Cryptomus sandbox: protocol', () => {
  const signedPost = (url: string, payload: unknown, key = API_KEY) => {
    const body = phpJson(payload);
    return fetch(url, {
      method: 'POST',
      headers: { merchant: MERCHANT, sign: cryptomusSign(body, key), 'content-type': 'application/json' },
      body,
    });
  };

  it('checks the sign against the bytes received', async () => {
    const { server } = await start();
    const body = phpJson({ amount: '10.00', currency: 'USD', order_id: 'x1', url_callback: 'http://127.0.0.1:9/cb' });
    // Signed over the PHP form, sent as plain JSON (unescaped "/"): the qweme32 client bug.
    const res = await fetch(`${server.url}/v1/payment`, {
      method: 'POST',
      headers: { merchant: MERCHANT, sign: cryptomusSign(body, API_KEY), 'content-type': 'application/json' },
      body: JSON.stringify(JSON.parse(body)),
    });
    expect(res.status).toBe(401);
    expect(await res.json()).toEqual({ message: 'Invalid Sign.' });
  });

  it('validates the create body the documented way', async () => {
    const { server } = await start();
    const res = await signedPost(`${server.url}/v1/payment`, { amount: 10, currency: 'USD' });
    expect(res.status).toBe(422);
    expect(await res.json()).toEqual({
      state: 1,
      errors: { amount: ['validation.string'], order_id: ['validation.required'] },
    });
  });

  it('asks for uuid or order_id on info', async () => {
    const { server } = await start();
    const res = await signedPost(`${server.url}/v1/payment/info`, {});
    expect(await res.json()).toEqual({
      state: 1,
      errors: { uuid: ['validation.required_without'], order_id: ['validation.required_without'] },
    });
  });

  it('sends a signed test webhook that the adapter accepts', async () => {
    const { server, gateway } = await start();
    const from = receiver.received.length;
    const res = await signedPost(`${server.url}/v1/test-webhook/payment`, {
      url_callback: receiver.url,
      currency: 'USDT',
      network: 'tron',
      status: 'paid',
      order_id: 'dep_test_hook',
    });
    expect(await res.json()).toEqual({ state: 0, result: [] });
    const [hook] = (await receiver.waitFor(from + 1)).slice(from);
    expect(gateway.parseWebhook(hook!.body, {})).toMatchObject({ depositId: 'dep_test_hook', providerStatus: 'paid' });
  });

  it('keeps invoices across a restart and answers a repeated order_id with the same invoice', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'cryptomus-sandbox-'));
    try {
      const statePath = join(dir, 'cryptomus.json');
      const first = await start({ statePath });
      const { depositId, checkout } = await invoiceFor(first.gateway);
      await stop(first);
      const second = await start({ statePath });
      const info = await second.gateway.retrieveCheckout({ depositId, providerRef: checkout.providerRef });
      expect(info.state.kind).toBe('pending');
      second.sandbox.setStatus(checkout.providerRef, 'paid');
      expect((await second.gateway.paymentInfo({ order_id: depositId })).status).toBe('paid');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
