/**
 * Issue 10 §2, "a credit rests only on a verified fact": whoever reaches Temporal's frontend can
 * signal a deposit workflow (`temporal workflow signal --name paymentEvent --input '{"kind":"paid",…}'`).
 * Each attack below sends such a signal through a plain Temporal client and must credit nothing;
 * the webhook path, whose signature the route verified, still credits exactly once.
 */
import Stripe from 'stripe';
import { temporal } from '@temporalio/proto';
import { describe, expect, it } from 'vitest';
import { cryptomusSign, phpJson } from '../../src/payments/cryptomus-protocol.js';
import { depositWorkflowId } from '../../src/payments/deposit-client.js';
import type { PaymentEventPayload } from '../../src/payments/deposit-types.js';
import { paymentEventSignal } from '../../workflows/deposit.js';
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
  stripeSandbox,
  USD,
  webhooksFor,
} from '../payments/deposit-fixtures.js';

const EventType = temporal.api.enums.v1.EventType;

let h: Harness;
// No polling during the test: only signals and webhooks can move a deposit.
useHarness(() => startDepositHarness({ pollSeconds: 3600 }), (started) => (h = started), {
  reset: (s) => void (cryptomusSandbox(s).webhooks.mode = stripeSandbox(s).webhooks.mode = 'auto'),
});

const refOf = async (depositId: string) => (await h.services.payments.deposits.get(depositId))!.providerRef!;
const handleOf = (depositId: string) => h.services.temporal.client.workflow.getHandle(depositWorkflowId(depositId));

/** Sends the signals as any Temporal client could, and waits until the workflow has handled them all. */
async function signalAsOutsider(depositId: string, signals: PaymentEventPayload[]): Promise<void> {
  const handle = handleOf(depositId);
  for (const s of signals) await handle.signal(paymentEventSignal, s);
  for (;;) {
    const types = ((await handle.fetchHistory()).events ?? []).map((e) => e.eventType);
    const lastSignal = types.lastIndexOf(EventType.EVENT_TYPE_WORKFLOW_EXECUTION_SIGNALED);
    const handled = types.lastIndexOf(EventType.EVENT_TYPE_WORKFLOW_TASK_COMPLETED);
    if (lastSignal >= 0 && handled > lastSignal) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function expectNothingCredited(depositId: string, key: string, accountId: string) {
  const { status } = await handleOf(depositId).describe();
  expect(status.name).toBe('RUNNING');
  expect((await getDeposit(h, key, depositId)).status).toBe('pending');
  expect(await depositEntries(h, accountId)).toEqual([]);
  expect(await balanceOf(h, accountId)).toBe(0n);
}

describe('a forged payment signal sent straight to Temporal credits nothing', () => {
  it('crypto: a bare paid signal, one claiming to be a poll, one with a badly signed webhook, and one carrying another deposit’s genuine webhook', async () => {
    const sandbox = cryptomusSandbox(h);
    // A genuine, correctly signed paid webhook of the attacker's own $10 deposit...
    const attacker = await h.createAccount();
    const cheap = await createDeposit(h, attacker.key, { tier: 'starter', method: 'crypto' });
    sandbox.webhooks.mode = 'hold';
    const cheapUuid = await refOf(cheap.id);
    sandbox.setStatus(cheapUuid, 'paid');
    const [genuineOther] = webhooksFor(sandbox.webhooks.list(), cheapUuid);

    // ...and the $500 deposit the attacker wants credited.
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'enterprise', method: 'crypto' });
    const uuid = await refOf(dep.id);
    const claim = { kind: 'paid', amountNano: (500n * USD).toString(), providerStatus: 'paid', providerRef: uuid } as const;
    const payload = { type: 'payment', uuid, order_id: dep.id, amount: '500.00', currency: 'USD', status: 'paid', is_final: true };
    const badlySigned = phpJson({ ...payload, sign: cryptomusSign(phpJson(payload), 'not-the-merchant-key') });

    await signalAsOutsider(dep.id, [
      { ...claim, eventId: `${uuid}:paid`, source: 'webhook' },
      { ...claim, eventId: 'forged-poll', source: 'poll' },
      { ...claim, eventId: 'forged-sign', source: 'webhook', webhook: { body: badlySigned } },
      { ...claim, eventId: 'forged-other', source: 'webhook', webhook: { body: genuineOther!.body } },
    ]);
    await expectNothingCredited(dep.id, key, accountId);

    // The genuine webhook, through the route that verifies its signature, credits once, even though
    // a forged signal used its event id first.
    sandbox.webhooks.mode = 'auto';
    sandbox.setStatus(uuid, 'paid');
    expect(await depositOutcome(h, dep.id)).toEqual({ status: 'credited', creditedNano: (500n * USD).toString() });
    expect(await depositEntries(h, accountId)).toEqual([{ amount: 500n * USD, deposit_id: dep.id }]);
    expect(await balanceOf(h, accountId)).toBe(500n * USD);
  });

  it('card: a bare paid signal and one with a Stripe event signed with the wrong secret', async () => {
    const { accountId, key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'standard', method: 'card' });
    const session = await refOf(dep.id);
    const event = JSON.stringify({
      id: 'evt_forged',
      object: 'event',
      type: 'checkout.session.completed',
      data: { object: { id: session, object: 'checkout.session', mode: 'payment', status: 'complete', payment_status: 'paid', amount_total: 2500, currency: 'usd', metadata: { deposit_id: dep.id } } },
    });
    const signature = Stripe.webhooks.generateTestHeaderString({ payload: event, secret: 'whsec_attacker' });
    const claim = { kind: 'paid', amountNano: (25n * USD).toString(), providerStatus: 'checkout.session.completed', providerRef: session, source: 'webhook' } as const;

    await signalAsOutsider(dep.id, [
      { ...claim, eventId: 'evt_bare' },
      { ...claim, eventId: 'evt_forged', webhook: { body: event, signature } },
    ]);
    await expectNothingCredited(dep.id, key, accountId);

    stripeSandbox(h).pay(session, 'card');
    expect(await depositOutcome(h, dep.id)).toEqual({ status: 'credited', creditedNano: (25n * USD).toString() });
    expect(await depositEntries(h, accountId)).toEqual([{ amount: 25n * USD, deposit_id: dep.id }]);
    const history = (await getDeposit(h, key, dep.id)).status_history;
    expect(history.at(-1)).toMatchObject({ status: 'credited', source: 'webhook', provider_status: 'checkout.session.completed' });
  });
});
