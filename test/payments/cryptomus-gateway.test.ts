import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { CryptomusGateway, cryptomusOutcome } from '../../src/payments/cryptomus-gateway.js';
import { cryptomusSign, phpJson } from '../../src/payments/cryptomus-protocol.js';
import { InvalidWebhookSignature, type PaymentEvent, PaymentProviderError } from '../../src/payments/payment-gateway.js';
import { createCryptomusSandbox, type CryptomusSandbox } from '../../src/sandboxes/payments/cryptomus-sandbox.js';
import { listen, type ListeningSandbox } from '../../src/sandboxes/payments/listen.js';
import { startWebhookReceiver, type WebhookReceiver } from './webhook-receiver.js';

const MERCHANT = '8b03432e-385b-4670-8d06-064591096795';
const API_KEY = 'sandbox-payment-key/with+slash=';
const USD = 1_000_000_000n;

let receiver: WebhookReceiver;
let sandbox: CryptomusSandbox;
let server: ListeningSandbox;
let gateway: CryptomusGateway;
let seq = 0;
let depositId: string;

const request = (id: string, amountNano = 10n * USD, extra: { coin?: string; network?: string } = {}) => ({
  depositId: id,
  amountNano,
  description: 'Cheapa credit',
  successUrl: 'http://127.0.0.1:8080/billing?deposit=ok',
  cancelUrl: 'http://127.0.0.1:8080/billing?deposit=cancelled',
  expiresAt: Math.floor(Date.now() / 1000) + 3600,
  ...extra,
});

/** The webhooks delivered since `from`, parsed by the adapter under test. */
async function parsedSince(from: number, count: number): Promise<Array<PaymentEvent | null>> {
  const all = await receiver.waitFor(from + count);
  return all.slice(from, from + count).map((w) => gateway.parseWebhook(w.body, { sourceIp: '127.0.0.1' }));
}

beforeAll(async () => {
  receiver = await startWebhookReceiver();
  sandbox = createCryptomusSandbox({ merchantId: MERCHANT, apiKey: API_KEY, retryDelaysMs: [] });
  server = await listen(sandbox.router);
  gateway = new CryptomusGateway({ merchantId: MERCHANT, apiKey: API_KEY, baseUrl: `${server.url}/v1/`, callbackUrl: receiver.url });
});

afterAll(async () => {
  await sandbox.close();
  await server.close();
  await receiver.close();
});

beforeEach(() => {
  depositId = `dep_crypto_${Date.now()}_${seq++}`;
});

describe('CryptomusGateway against a Cryptomus-protocol server', () => {
  it('creates a USD invoice for the deposit, signed over the exact bytes sent (URLs with "/" included)', async () => {
    const checkout = await gateway.createCheckout(request(depositId, 25n * USD, { coin: 'USDT', network: 'tron' }));
    const invoice = sandbox.invoice(checkout.providerRef)!;
    expect(invoice).toMatchObject({ order_id: depositId, amount: '25.00', currency: 'USD', payer_currency: 'USDT', network: 'tron' });
    expect(checkout).toMatchObject({ amountNano: 25n * USD, url: `${server.url}/pay/${checkout.providerRef}` });
    expect(checkout.state).toMatchObject({ provider: 'cryptomus', kind: 'pending', providerStatus: 'check', depositId });
  });

  it('gets the existing invoice back when the create is retried for the same deposit', async () => {
    const first = await gateway.createCheckout(request(depositId));
    const second = await gateway.createCheckout(request(depositId));
    expect(second.providerRef).toBe(first.providerRef);
  });

  it('reports validation errors and a wrong key as non-retryable provider errors', async () => {
    const invalid = await gateway.createCheckout(request('dep with spaces')).catch((e: unknown) => e);
    expect(invalid).toBeInstanceOf(PaymentProviderError);
    expect(invalid).toMatchObject({ retryable: false, httpStatus: 422 });
    expect((invalid as Error).message).toContain('validation.alpha_dash');

    const wrongKey = new CryptomusGateway({ merchantId: MERCHANT, apiKey: 'wrong', baseUrl: server.url, callbackUrl: receiver.url });
    const denied = await wrongKey.createCheckout(request(depositId)).catch((e: unknown) => e);
    expect(denied).toMatchObject({ retryable: false, httpStatus: 401 });
    expect((denied as Error).message).toContain('Invalid Sign.');
    expect((denied as Error).message).not.toContain(API_KEY);
  });

  it('answers an unknown invoice with "Payment not found"', async () => {
    await expect(gateway.paymentInfo({ uuid: '00000000-0000-0000-0000-000000000000' })).rejects.toThrow(/Payment not found/);
  });

  it('reads payment info by order id as well as by uuid', async () => {
    const checkout = await gateway.createCheckout(request(depositId));
    expect((await gateway.paymentInfo({ order_id: depositId })).uuid).toBe(checkout.providerRef);
  });

  it('follows an invoice through confirm_check to paid: pending, then the invoice amount credited', async () => {
    const checkout = await gateway.createCheckout(request(depositId, 50n * USD));
    const from = receiver.received.length;
    sandbox.setStatus(checkout.providerRef, 'confirm_check');
    sandbox.setStatus(checkout.providerRef, 'paid');
    const events = await parsedSince(from, 2);
    const byStatus = Object.fromEntries(events.map((e) => [e!.providerStatus, e]));
    expect(byStatus.confirm_check).toMatchObject({ kind: 'processing', depositId });
    expect(byStatus.paid).toMatchObject({
      kind: 'paid',
      amountNano: 50n * USD,
      depositId,
      providerRef: checkout.providerRef,
      eventId: `${checkout.providerRef}:paid`,
    });
    const polled = await gateway.retrieveCheckout({ depositId, providerRef: checkout.providerRef });
    expect(polled.state).toMatchObject({ kind: 'paid', amountNano: 50n * USD });
    expect(polled.url).toBeNull();
  });

  it('credits the invoice amount on paid_over, and what arrived in USD on wrong_amount', async () => {
    const over = await gateway.createCheckout(request(depositId, 10n * USD));
    let from = receiver.received.length;
    sandbox.setStatus(over.providerRef, 'paid_over', { paymentAmountUsd: '12.50' });
    expect((await parsedSince(from, 1))[0]).toMatchObject({ kind: 'paid', amountNano: 10n * USD });

    const underId = `${depositId}_under`;
    const under = await gateway.createCheckout(request(underId, 10n * USD));
    from = receiver.received.length;
    sandbox.setStatus(under.providerRef, 'wrong_amount', { paymentAmountUsd: '4.99' });
    expect((await parsedSince(from, 1))[0]).toMatchObject({ kind: 'paid', amountNano: 4_990_000_000n, depositId: underId });
    // Payment info carries no USD value of what arrived: polling alone cannot price it.
    expect((await gateway.retrieveCheckout({ depositId: underId, providerRef: under.providerRef })).state.kind).toBe('review');
  });

  it('resends the webhook of a finalized invoice with the same event id', async () => {
    const checkout = await gateway.createCheckout(request(depositId));
    const from = receiver.received.length;
    sandbox.setStatus(checkout.providerRef, 'paid');
    const [original] = await parsedSince(from, 1);
    await gateway.resendWebhook({ uuid: checkout.providerRef });
    const [again] = await parsedSince(from + 1, 1);
    expect(again).toEqual(original);
  });

  it('reads a cancelled invoice as expired and a failed one as failed', async () => {
    const a = await gateway.createCheckout(request(depositId));
    sandbox.setStatus(a.providerRef, 'cancel');
    expect((await gateway.retrieveCheckout({ depositId, providerRef: a.providerRef })).state.kind).toBe('expired');
    const bId = `${depositId}_b`;
    const b = await gateway.createCheckout(request(bId));
    sandbox.setStatus(b.providerRef, 'system_fail');
    expect((await gateway.closeCheckout({ depositId: bId, providerRef: b.providerRef })).state.kind).toBe('failed');
  });
});

describe('Cryptomus webhooks', () => {
  const body = (data: Record<string, unknown>, key = API_KEY) => phpJson({ ...data, sign: cryptomusSign(phpJson(data), key) });
  const paid = { type: 'payment', uuid: 'u-1', order_id: 'dep_1', amount: '10.00', currency: 'USD', status: 'paid', is_final: true };

  it('rejects a forged or missing sign before reading anything', () => {
    expect(() => gateway.parseWebhook(body(paid, 'attacker-key'), {})).toThrow(InvalidWebhookSignature);
    expect(() => gateway.parseWebhook(phpJson(paid), {})).toThrow(InvalidWebhookSignature);
    expect(() => gateway.parseWebhook('{', {})).toThrow(InvalidWebhookSignature);
  });

  it('enforces the optional source-address allowlist in addition to the sign', () => {
    const strict = new CryptomusGateway({
      merchantId: MERCHANT,
      apiKey: API_KEY,
      callbackUrl: receiver.url,
      webhookIps: ['91.227.144.54'],
    });
    expect(() => strict.parseWebhook(body(paid), { sourceIp: '10.0.0.1' })).toThrow(/not allowed/);
    expect(() => strict.parseWebhook(body(paid), {})).toThrow(InvalidWebhookSignature);
    expect(strict.parseWebhook(body(paid), { sourceIp: '::ffff:91.227.144.54' })?.kind).toBe('paid');
  });

  it('ignores wallet notifications', () => {
    expect(gateway.parseWebhook(body({ ...paid, type: 'wallet' }), {})).toBeNull();
  });
});

describe('Cryptomus status policy', () => {
  const outcome = (status: string, over: Partial<Parameters<typeof cryptomusOutcome>[0]> = {}) =>
    cryptomusOutcome(
      { depositId: 'd', uuid: 'u', status, isFinal: false, amount: '10.00', currency: 'USD', paymentAmountUsd: undefined, ...over },
      'e',
    );

  it.each([
    ['check', 'pending'],
    ['process', 'processing'],
    ['confirm_check', 'processing'],
    ['wrong_amount_waiting', 'processing'],
    ['paid', 'paid'],
    ['paid_over', 'paid'],
    ['cancel', 'expired'],
    ['fail', 'failed'],
    ['system_fail', 'failed'],
    ['refund_process', 'pending'],
    ['locked', 'processing'],
  ])('%s → %s', (status, kind) => {
    expect(outcome(status).kind).toBe(kind);
  });

  it('never credits confirm_check, even with a USD amount present', () => {
    expect(outcome('confirm_check', { paymentAmountUsd: '10.00' })).not.toHaveProperty('amountNano');
  });

  it('sends final refund and lock statuses, a foreign invoice currency and an unpriced underpayment to review', () => {
    expect(outcome('refund_paid', { isFinal: true }).kind).toBe('review');
    expect(outcome('locked', { isFinal: true }).kind).toBe('review');
    expect(outcome('paid', { currency: 'EUR' }).kind).toBe('review');
    expect(outcome('wrong_amount', { paymentAmountUsd: undefined }).kind).toBe('review');
    expect(outcome('wrong_amount', { paymentAmountUsd: '0.00' }).kind).toBe('review');
  });

  it('caps an underpayment credit at the invoice amount', () => {
    expect(outcome('wrong_amount', { paymentAmountUsd: '10.50' }).amountNano).toBe(10n * USD);
  });
});
