import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { cryptomusSign, phpJson } from '../../src/payments/cryptomus-protocol.js';
import { queryDeposit } from '../../src/payments/deposit-client.js';
import type { Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import {
  balanceOf,
  createDeposit,
  cryptomusSandbox,
  depositEntries,
  depositOutcome,
  getDeposit,
  startDepositHarness,
  USD,
  webhooksFor,
} from './deposit-fixtures.js';

let h: Harness;
useHarness(() => startDepositHarness({ pollSeconds: 1 }), (started) => (h = started), { reset: (s) => void (cryptomusSandbox(s).webhooks.mode = 'auto') });

const invoiceOf = async (depositId: string) => (await h.services.payments.deposits.get(depositId))!.providerRef!;

describe('crypto deposits through Cryptomus (embedded Cryptomus-protocol sandbox)', () => {
  it('opens a USDT (TRC20) invoice, waits through confirm_check, and credits the invoice amount on paid', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { amount_usd: '100.00', method: 'crypto', coin: 'usdt' });
    expect(dep).toMatchObject({ status: 'pending', method: 'crypto', amount_usd: '100.00' });
    expect(dep.checkout_url).toMatch(new RegExp(`^${h.baseUrl}/sandbox/cryptomus/pay/`));
    const uuid = await invoiceOf(dep.id);
    expect(cryptomusSandbox(h).invoice(uuid)).toMatchObject({ order_id: dep.id, amount: '100.00', payer_currency: 'USDT', network: 'tron' });

    const sandbox = cryptomusSandbox(h);
    sandbox.webhooks.mode = 'hold';
    sandbox.setStatus(uuid, 'confirm_check');
    const [confirmCheck] = webhooksFor(sandbox.webhooks.list(), uuid);
    expect((await sandbox.webhooks.deliver(confirmCheck!.id)).status).toBe(200);
    // Signals are processed asynchronously: the history shows when the workflow has applied it.
    let seen = await getDeposit(h, key, dep.id);
    for (let i = 0; i < 400 && seen.status !== 'processing'; i++) {
      await new Promise((r) => setTimeout(r, 50));
      seen = await getDeposit(h, key, dep.id);
    }
    expect(seen.status).toBe('processing');
    expect(await balanceOf(h, accountId)).toBe(0n);

    sandbox.webhooks.mode = 'auto';
    sandbox.setStatus(uuid, 'paid');
    expect(await depositOutcome(h, dep.id)).toEqual({ status: 'credited', creditedNano: (100n * USD).toString() });
    expect(await balanceOf(h, accountId)).toBe(100n * USD);
    const history = (await getDeposit(h, key, dep.id)).status_history;
    expect(history.map((e) => e.status)).toEqual(['creating', 'pending', 'processing', 'credited']);
    expect(history.map((e) => e.provider_status).slice(2)).toEqual(['confirm_check', 'paid']);
  });

  it('credits what actually arrived, in USD, when the invoice ends as wrong_amount', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'crypto', network: 'btc' });
    cryptomusSandbox(h).setStatus(await invoiceOf(dep.id), 'wrong_amount', { paymentAmountUsd: '4.99' });
    expect(await depositOutcome(h, dep.id)).toEqual({ status: 'credited', creditedNano: '4990000000' });
    expect(await balanceOf(h, accountId)).toBe(4_990_000_000n);
    expect(await getDeposit(h, key, dep.id)).toMatchObject({ amount_usd: '10.00', credited_usd: '4.99' });
  });

  it('credits once when paid arrives before confirm_check and both arrive twice', async () => {
    const { accountId, key } = await h.createAccount();
    const sandbox = cryptomusSandbox(h);
    sandbox.webhooks.mode = 'hold';
    const dep = await createDeposit(h, key, { tier: 'standard', method: 'crypto' });
    const uuid = await invoiceOf(dep.id);
    sandbox.setStatus(uuid, 'confirm_check');
    sandbox.setStatus(uuid, 'paid');
    const [confirmCheck, paid] = webhooksFor(sandbox.webhooks.list(), uuid);
    for (const id of [paid!.id, paid!.id, confirmCheck!.id, confirmCheck!.id]) {
      expect((await sandbox.webhooks.deliver(id)).status).toBe(200);
    }
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    expect(await depositEntries(h, accountId)).toEqual([{ amount: 25n * USD, deposit_id: dep.id }]);
    expect((await getDeposit(h, key, dep.id)).status).toBe('credited');
  });

  it('credits from payment info when every webhook is lost', async () => {
    const { accountId, key } = await h.createAccount();
    const sandbox = cryptomusSandbox(h);
    sandbox.webhooks.mode = 'hold';
    const dep = await createDeposit(h, key, { tier: 'developer', method: 'crypto', coin: 'LTC' });
    sandbox.setStatus(await invoiceOf(dep.id), 'paid_over', { paymentAmountUsd: '55.00' });
    expect(await depositOutcome(h, dep.id)).toEqual({ status: 'credited', creditedNano: (50n * USD).toString() });
    expect(await balanceOf(h, accountId)).toBe(50n * USD);
    expect((await getDeposit(h, key, dep.id)).status_history.at(-1)).toMatchObject({ source: 'poll', provider_status: 'paid_over' });
  });

  it('refuses a webhook with a forged sign with 400 and changes nothing', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'enterprise', method: 'crypto' });
    const payload = { type: 'payment', uuid: await invoiceOf(dep.id), order_id: dep.id, amount: '500.00', currency: 'USD', status: 'paid', is_final: true };
    const forged = phpJson({ ...payload, sign: cryptomusSign(phpJson(payload), 'not-the-key') });
    const res = await fetch(`${h.baseUrl}/webhooks/cryptomus`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: forged });
    expect(res.status).toBe(400);
    expect((await getDeposit(h, key, dep.id)).status).toBe('pending');
    expect(await balanceOf(h, accountId)).toBe(0n);

    // The same body signed with the merchant's key is accepted.
    const genuine = phpJson({ ...payload, sign: cryptomusSign(phpJson(payload), h.services.sandboxes.connections.crypto!.apiKey) });
    const ok = await fetch(`${h.baseUrl}/webhooks/cryptomus`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: genuine });
    expect(ok.status).toBe(200);
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
  });

  it('ends the deposit as failed when Cryptomus reports fail', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'crypto' });
    const page = await fetch(dep.checkout_url!, { method: 'POST', body: new URLSearchParams({ action: 'fail' }), redirect: 'manual' });
    expect(page.status).toBe(303);
    expect(await depositOutcome(h, dep.id)).toEqual({ status: 'failed' });
    expect(await balanceOf(h, accountId)).toBe(0n);
  });
});

describe('crypto deposits and the invoice lifetime', () => {
  let short: Harness;
  beforeAll(async () => {
    short = await startDepositHarness({ ttlSeconds: 3, pollSeconds: 1, graceSeconds: 120 });
  });
  afterEach(async () => {
    cryptomusSandbox(short).webhooks.mode = 'auto';
    await short.expectBooksBalanced();
  });
  afterAll(async () => short?.close());

  it('expires with the invoice when nothing was paid', async () => {
    const { accountId, key } = await short.createAccount();
    const dep = await createDeposit(short, key, { tier: 'starter', method: 'crypto' });
    expect(await depositOutcome(short, dep.id)).toEqual({ status: 'expired' });
    expect(cryptomusSandbox(short).invoiceByOrderId(dep.id)!.status).toBe('cancel');
    expect(await balanceOf(short, accountId)).toBe(0n);
  });

  it('keeps waiting past expiry for a transaction already being confirmed, and credits it when it confirms', async () => {
    const { accountId, key } = await short.createAccount();
    const dep = await createDeposit(short, key, { tier: 'starter', method: 'crypto' });
    const sandbox = cryptomusSandbox(short);
    const uuid = (await short.services.payments.deposits.get(dep.id))!.providerRef!;
    sandbox.webhooks.mode = 'hold';
    sandbox.setStatus(uuid, 'confirm_check');
    // Past the invoice's expiry the workflow checks the invoice, sees the transaction in flight and waits on.
    let view = await queryDeposit(short.services, dep.id);
    for (let i = 0; i < 400 && view.settleDeadline === null; i++) {
      await new Promise((r) => setTimeout(r, 50));
      view = await queryDeposit(short.services, dep.id);
    }
    expect(view).toMatchObject({ status: 'processing' });
    expect(view.settleDeadline).toBeGreaterThan(view.checkout!.expiresAt * 1000);
    expect((await getDeposit(short, key, dep.id)).status).toBe('processing');

    sandbox.webhooks.mode = 'auto';
    sandbox.setStatus(uuid, 'paid');
    expect((await depositOutcome(short, dep.id)).status).toBe('credited');
    expect(await balanceOf(short, accountId)).toBe(10n * USD);
  });
});
