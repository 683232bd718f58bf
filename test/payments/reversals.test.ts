/**
 * Disputes and refunds end to end: the Stripe and Cryptomus sandboxes emit their signed events,
 * the webhook route hands them to paymentReversalWorkflow, and the ledger, the account's suspension
 * and the admin API show the outcome. Books balanced after each.
 */
import Stripe from 'stripe';
import { describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import { createDeposit, cryptomusSandbox, depositOutcome, getDeposit, startDepositHarness, stripeSandbox, USD, webhooksFor } from './deposit-fixtures.js';

let h: Harness;
useHarness(startDepositHarness, (started) => (h = started), { reset: (s) => void (stripeSandbox(s).webhooks.mode = 'auto') });

const refOf = async (depositId: string) => (await h.services.payments.deposits.get(depositId))!.providerRef!;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls until `ok` holds (the workflow works asynchronously); fails with the last value seen. */
async function eventually<T>(read: () => Promise<T>, ok: (v: T) => boolean): Promise<T> {
  let last: T = await read();
  for (let i = 0; i < 300 && !ok(last); i++) {
    await sleep(100);
    last = await read();
  }
  expect(ok(last), JSON.stringify(last, (_k, v) => (typeof v === 'bigint' ? v.toString() : v))).toBe(true);
  return last;
}

const money = async (accountId: string) => {
  const b = await h.services.ledger.balance(accountId);
  return { balance: b.balance, held: b.held, owed: await h.services.owed.owed(accountId) };
};

/** A card deposit of the tier, paid on the sandbox's page and credited. */
async function paidCardDeposit(tier: 'starter' | 'standard' = 'standard') {
  const account = await h.createAccount();
  const dep = await createDeposit(h, account.key, { tier, method: 'card' });
  const session = await refOf(dep.id);
  stripeSandbox(h).pay(session, 'card');
  expect((await depositOutcome(h, dep.id)).status).toBe('credited');
  return { ...account, depositId: dep.id, session };
}

const standing = async (accountId: string) => (await h.admin('GET', `/admin/accounts/${accountId}`)).json();
const keyAnswers = (key: string) => h.call('GET', '/v1/billing/deposits', { key });

// The dispute collects once the holds pending at its opening could have expired, so this is also how
// long those tests wait; 3 s was shorter than a loaded machine takes to open the dispute and capture.
const HOLD_LIFE_MS = 10_000;

describe('Stripe disputes', () => {
  it('suspends the account and takes the disputed credit back; a won dispute returns it and lifts the suspension', async () => {
    const { accountId, key, depositId, session } = await paidCardDeposit();
    const dispute = stripeSandbox(h).reversals.dispute(session);

    // The admin view reads the account, its suspension and its disputes in one snapshot: once it lists the dispute, it shows all of it.
    const opened = await eventually(() => standing(accountId), (a) => a.disputes.length === 1);
    expect(opened).toMatchObject({ balance_usd: '0.00', owed_usd: '0.00', disputes: [{ id: dispute.id, status: 'open', deposit_id: depositId, debited_usd: '25.00', owed_usd: '0.00' }] });
    expect(opened.suspension.reason).toContain(dispute.id);
    const debit = await h.services.db('ledger_entries').where({ account_id: accountId, kind: 'adjustment' }).first();
    expect(debit.amount).toBe(-25n * USD);
    expect(debit.reason).toContain(dispute.id);
    // The key cache forgets within a second: every key of the account then answers 403.
    const refused = await eventually(() => keyAnswers(key), (r) => r.status === 403);
    const body = await refused.json();
    expect(body.error).toMatchObject({ code: 'account_suspended', type: 'permission_error' });
    expect(body.error.message).toContain(h.services.config.support.email);
    expect((await (await h.admin('GET', `/admin/deposits/${depositId}`)).json()).reversal).toBe('disputed');

    stripeSandbox(h).reversals.closeDispute(dispute.id, 'won');
    await h.services.temporal.client.workflow.getHandle(`dispute-${dispute.id}`).result();
    expect(await money(accountId)).toEqual({ balance: 25n * USD, held: 0n, owed: 0n });
    expect(await standing(accountId)).toMatchObject({ suspension: null, disputes: [{ status: 'won', debited_usd: '0.00' }] });
    await eventually(() => keyAnswers(key), (r) => r.status === 200);
    expect((await getDeposit(h, key, depositId)) as unknown).toMatchObject({ reversal: 'dispute_won' });
  });

  it('records what the credit left cannot cover as owed; a lost dispute keeps it; the next deposit pays the debt first', async () => {
    const { accountId, key, session } = await paidCardDeposit();
    const spend = await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, { amount_usd: '-15.00', reason: 'usage stand-in' });
    expect(spend.status).toBe(201);
    const dispute = stripeSandbox(h).reversals.dispute(session);
    await eventually(() => standing(accountId), (a) => a.disputes.length === 1);
    expect(await money(accountId)).toEqual({ balance: 0n, held: 0n, owed: 15n * USD });

    stripeSandbox(h).reversals.closeDispute(dispute.id, 'lost');
    expect(await h.services.temporal.client.workflow.getHandle(`dispute-${dispute.id}`).result()).toEqual({ status: 'lost' });
    const lost = await standing(accountId);
    expect(lost).toMatchObject({ owed_usd: '15.00', disputes: [{ status: 'lost', debited_usd: '10.00', owed_usd: '15.00' }] });
    expect(lost.suspension.reason).toContain(dispute.id);

    const lifted = await h.admin('DELETE', `/admin/accounts/${accountId}/suspension`);
    expect(await lifted.json()).toMatchObject({ lifted: true, suspension: null });
    await eventually(() => keyAnswers(key), (r) => r.status === 200);
    const next = await createDeposit(h, key, { tier: 'standard', method: 'card' });
    stripeSandbox(h).pay(await refOf(next.id), 'card');
    expect((await depositOutcome(h, next.id)).status).toBe('credited');
    expect(await getDeposit(h, key, next.id)).toMatchObject({ credited_usd: '25.00', owed_paid_usd: '15.00' });
    expect(await money(accountId)).toEqual({ balance: 10n * USD, held: 0n, owed: 0n });
  });

  it('applies a dispute once when its close arrives before its creation and each is delivered five times', async () => {
    const { accountId, key, session } = await paidCardDeposit();
    const sandbox = stripeSandbox(h);
    sandbox.webhooks.mode = 'hold';
    const dispute = sandbox.reversals.dispute(session);
    sandbox.reversals.closeDispute(dispute.id, 'won');
    const [created, closed] = webhooksFor(sandbox.webhooks.list(), dispute.id);
    const closes = await Promise.all(Array.from({ length: 5 }, () => sandbox.webhooks.deliver(closed!.id)));
    expect(closes.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    await h.services.temporal.client.workflow.getHandle(`dispute-${dispute.id}`).result();
    const creations = await Promise.all(Array.from({ length: 5 }, () => sandbox.webhooks.deliver(created!.id)));
    expect(creations.map((a) => a.status)).toEqual([200, 200, 200, 200, 200]);
    expect(await h.services.temporal.client.workflow.getHandle(`dispute-${dispute.id}`).result()).toEqual({ status: 'won' });

    expect(await money(accountId)).toEqual({ balance: 25n * USD, held: 0n, owed: 0n });
    const entries = await h.services.db('ledger_entries').where({ account_id: accountId, kind: 'adjustment' }).orderBy('id').pluck('amount');
    expect(entries).toEqual([-25n * USD, 25n * USD]);
    expect((await standing(accountId)).suspension).toBeNull();
    expect((await keyAnswers(key)).status).toBe(200);
  });

  it('takes only the available credit while a chat request holds some, and collects what the hold releases once it settles', async () => {
    const { accountId, session } = await paidCardDeposit('starter');
    const hold = await h.services.ledger.placeHold({ accountId, amount: 10n * USD, idempotencyKey: `chat:${accountId}`, purpose: 'chat', expiresAt: new Date(Date.now() + HOLD_LIFE_MS) });
    const dispute = stripeSandbox(h).reversals.dispute(session);
    // The request's hold is left to settle: nothing is available, so all of the $10 is owed for now.
    await eventually(() => h.services.payments.reversals.get(dispute.id), (r) => r !== null);
    expect(await money(accountId)).toEqual({ balance: 10n * USD, held: 10n * USD, owed: 10n * USD });
    // The request finishes, charging $4 of its hold; once the holds pending at the dispute have
    // settled, the workflow collects the $6 released towards what is owed.
    await h.services.ledger.captureHold({ holdId: hold.value.id, amount: 4n * USD, kind: 'usage' });
    const end = await eventually(() => money(accountId), (m) => m.owed === 4n * USD);
    expect(end).toEqual({ balance: 0n, held: 0n, owed: 4n * USD });
    const row = (await h.services.payments.reversals.get(dispute.id))!;
    expect({ debited: row.debited, owed: row.owed }).toEqual({ debited: 6n * USD, owed: 4n * USD });
  });

  it('settles the same whichever comes first when a chat request finishes while the dispute arrives', async () => {
    const { accountId, session } = await paidCardDeposit('starter');
    const hold = await h.services.ledger.placeHold({ accountId, amount: 10n * USD, idempotencyKey: `chat:${accountId}`, purpose: 'chat', expiresAt: new Date(Date.now() + HOLD_LIFE_MS) });
    const [, dispute] = await Promise.all([
      h.services.ledger.captureHold({ holdId: hold.value.id, amount: 4n * USD, kind: 'usage' }),
      Promise.resolve().then(() => stripeSandbox(h).reversals.dispute(session)),
    ]);
    const end = await eventually(() => money(accountId), (m) => m.owed === 4n * USD && m.balance === 0n);
    expect(end).toEqual({ balance: 0n, held: 0n, owed: 4n * USD });
    const row = (await h.services.payments.reversals.get(dispute.id))!;
    expect({ debited: row.debited, owed: row.owed }).toEqual({ debited: 6n * USD, owed: 4n * USD });
  });

  it('refuses a dispute webhook with a wrong signature with 400, and changes nothing', async () => {
    const { accountId, session } = await paidCardDeposit('starter');
    const intent = stripeSandbox(h).session(session)!.payment_intent!;
    const payload = JSON.stringify({ id: 'evt_forged', object: 'event', type: 'charge.dispute.created', data: { object: { id: 'du_forged', object: 'dispute', amount: 1000, currency: 'usd', payment_intent: intent, status: 'needs_response', reason: 'fraudulent' } } });
    const header = Stripe.webhooks.generateTestHeaderString({ payload, secret: 'whsec_attacker' });
    const res = await fetch(`${h.baseUrl}/webhooks/stripe`, { method: 'POST', headers: { 'content-type': 'application/json', 'stripe-signature': header }, body: payload });
    expect(res.status).toBe(400);
    expect(await money(accountId)).toEqual({ balance: 10n * USD, held: 0n, owed: 0n });
    expect(await h.services.payments.reversals.get('du_forged')).toBeNull();
  });
});

describe('refunds', () => {
  it('debits only what each cumulative Stripe refund adds, whatever the order and however often it arrives', async () => {
    const { accountId, key, depositId, session } = await paidCardDeposit();
    const sandbox = stripeSandbox(h);
    sandbox.webhooks.mode = 'hold';
    sandbox.reversals.refund(session, 500);
    const charge = sandbox.reversals.refund(session, 1000);
    const [first, second] = webhooksFor(sandbox.webhooks.list(), charge.id);
    for (const id of [second!.id, first!.id, second!.id, first!.id]) expect((await sandbox.webhooks.deliver(id)).status).toBe(200);
    const workflowId = `refund-${charge.payment_intent}`;
    await eventually(async () => (await h.services.payments.reversals.get(workflowId))?.amount ?? 0n, (a) => a === 15n * USD);
    // Every event handed over, then the quiet workflow still holds: read the books now.
    await eventually(() => money(accountId), (m) => m.balance === 10n * USD);
    expect(await money(accountId)).toEqual({ balance: 10n * USD, held: 0n, owed: 0n });
    expect(await getDeposit(h, key, depositId)).toMatchObject({ reversal: 'refunded' });
    expect((await standing(accountId)).suspension).toBeNull();
  });

  it('debits a Cryptomus refund_paid of a credited crypto deposit', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'crypto', coin: 'USDT' });
    const uuid = await refOf(dep.id);
    cryptomusSandbox(h).setStatus(uuid, 'paid');
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    cryptomusSandbox(h).setStatus(uuid, 'refund_paid');
    await eventually(() => money(accountId), (m) => m.balance === 0n);
    expect(await h.services.payments.reversals.get(`refund-${uuid}`)).toMatchObject({ kind: 'refund', status: 'refunded', amount: 10n * USD, debited: 10n * USD });
  });
});
