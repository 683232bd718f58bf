/**
 * verifySignedWebhook, the activity a signalled payment outcome must pass before the deposit
 * workflow believes it, with the real gateways' signature checks (no provider call is made).
 */
import pino from 'pino';
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import { CryptomusGateway } from '../../src/payments/cryptomus-gateway.js';
import { cryptomusSign, phpJson } from '../../src/payments/cryptomus-protocol.js';
import { createPaymentProofActivities } from '../../src/payments/payment-proof.js';
import { StripeGateway } from '../../src/payments/stripe-gateway.js';

const WEBHOOK_SECRET = 'whsec_payment_proof_test';
const CRYPTOMUS_KEY = 'payment-proof-test-key';
const card = new StripeGateway({ secretKey: 'sk_test_payment_proof', webhookSecret: WEBHOOK_SECRET });
const crypto = new CryptomusGateway({ merchantId: 'm', apiKey: CRYPTOMUS_KEY, callbackUrl: 'http://127.0.0.1/webhooks/cryptomus' });
const { verifySignedWebhook } = createPaymentProofActivities({ payments: { gateways: { card, crypto } }, logger: pino({ level: 'silent' }) });

function stripeEvent(depositId: string, session: string, opts: { secret?: string; timestamp?: number } = {}) {
  const body = JSON.stringify({
    id: `evt_${session}`,
    object: 'event',
    type: 'checkout.session.completed',
    data: { object: { id: session, object: 'checkout.session', mode: 'payment', status: 'complete', payment_status: 'paid', amount_total: 2500, currency: 'usd', metadata: { deposit_id: depositId } } },
  });
  const signature = Stripe.webhooks.generateTestHeaderString({ payload: body, secret: opts.secret ?? WEBHOOK_SECRET, ...(opts.timestamp ? { timestamp: opts.timestamp } : {}) });
  return { body, signature };
}

function cryptomusWebhook(depositId: string, uuid: string, key = CRYPTOMUS_KEY) {
  const payload = { type: 'payment', uuid, order_id: depositId, amount: '10.00', currency: 'USD', status: 'wrong_amount', payment_amount_usd: '4.99', is_final: true };
  return { body: phpJson({ ...payload, sign: cryptomusSign(phpJson(payload), key) }) };
}

describe('verifySignedWebhook', () => {
  it('returns the outcome of a correctly signed Stripe webhook about the deposit’s session, however old its signature', async () => {
    const webhook = stripeEvent('dep_1', 'cs_1', { timestamp: Math.floor(Date.now() / 1000) - 86_400 });
    expect(await verifySignedWebhook({ depositId: 'dep_1', method: 'card', providerRef: 'cs_1', webhook })).toMatchObject({
      kind: 'paid',
      amountNano: '25000000000',
      providerRef: 'cs_1',
      eventId: 'evt_cs_1',
      source: 'webhook',
    });
  });

  it('returns the underpaid amount only the Cryptomus webhook carries', async () => {
    const webhook = cryptomusWebhook('dep_2', 'uuid-2');
    expect(await verifySignedWebhook({ depositId: 'dep_2', method: 'crypto', providerRef: 'uuid-2', webhook })).toMatchObject({
      kind: 'paid',
      amountNano: '4990000000',
      source: 'webhook',
    });
  });

  it('refuses a webhook signed with another secret, a tampered body and a missing signature', async () => {
    const wrong = stripeEvent('dep_3', 'cs_3', { secret: 'whsec_attacker' });
    const genuine = stripeEvent('dep_3', 'cs_3');
    const ref = { depositId: 'dep_3', method: 'card' as const, providerRef: 'cs_3' };
    expect(await verifySignedWebhook({ ...ref, webhook: wrong })).toBeNull();
    expect(await verifySignedWebhook({ ...ref, webhook: { ...genuine, body: genuine.body.replace('2500', '250000') } })).toBeNull();
    expect(await verifySignedWebhook({ ...ref, webhook: { body: genuine.body } })).toBeNull();
    expect(await verifySignedWebhook({ depositId: 'dep_3', method: 'crypto', providerRef: 'x', webhook: cryptomusWebhook('dep_3', 'x', 'not-the-key') })).toBeNull();
  });

  it('refuses a genuine webhook about another deposit or another checkout', async () => {
    const other = stripeEvent('dep_other', 'cs_other');
    expect(await verifySignedWebhook({ depositId: 'dep_4', method: 'card', providerRef: 'cs_other', webhook: other })).toBeNull();
    const sameDepositOtherSession = stripeEvent('dep_4', 'cs_old');
    expect(await verifySignedWebhook({ depositId: 'dep_4', method: 'card', providerRef: 'cs_4', webhook: sameDepositOtherSession })).toBeNull();
  });
});
