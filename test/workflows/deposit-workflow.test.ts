/**
 * depositWorkflow, branch by branch, with mocked activities on the time-skipping test server:
 * checkouts that wait an hour, settle grace periods and backed-off polls pass in milliseconds. The
 * integration tests in test/payments/ run the same workflow against the real providers' protocols.
 */
import { randomBytes } from 'node:crypto';
import { ApplicationFailure } from '@temporalio/common';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { Worker } from '@temporalio/worker';
import { temporal } from '@temporalio/proto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depositWorkflowId } from '../../src/payments/deposit-client.js';
import type { DepositWorkflowInput, PaymentEventPayload, ProofRequest } from '../../src/payments/deposit-types.js';
import { ALL_SEARCH_ATTRIBUTES } from '../../src/temporal/search-attributes.js';
import { workflowBundle } from '../../src/temporal/worker.js';
import { checkoutReadyUpdate, depositStatusQuery, depositWorkflow, paymentEventSignal } from '../../workflows/deposit.js';
import { resolveTestServer } from '../support/temporal-test-server.js';

const USD = 1_000_000_000n;
const TTL_MS = 3_600_000;
const GRACE_S = 1800;
const TASK_QUEUE = 'deposit-workflow-test';

/** What the mocked provider answers, per deposit. */
interface Script {
  /** openCheckout fails for good with this message. */
  openFails?: string;
  /** The checkout's state when opened (a run started by a late webhook may find it paid). */
  openState?: PaymentEventPayload;
  /** Answers to polls, in order; then `pending`. An Error is a provider that cannot be reached. */
  polls?: Array<PaymentEventPayload | Error>;
  /** Answers to the check at expiry (close), in order; then `pending`. */
  closes?: Array<PaymentEventPayload | Error>;
}

interface Call {
  activity: string;
  arg: Record<string, unknown>;
}

const scripts = new Map<string, Script>();
const calls = new Map<string, Call[]>();

const refOf = (depositId: string) => `ref_${depositId}`;
const record = (depositId: string, activity: string, arg: object) => calls.get(depositId)!.push({ activity, arg: arg as Record<string, unknown> });
const next = (list: Array<PaymentEventPayload | Error> | undefined, depositId: string): PaymentEventPayload => {
  const answer = list?.shift() ?? outcome(depositId, 'pending', 'poll', 'open');
  if (answer instanceof Error) throw ApplicationFailure.nonRetryable(answer.message, 'PaymentProviderError');
  return answer;
};

/** The mocks stand in for src/payments/deposit-activities.ts and src/payments/payment-proof.ts, recording every call. */
const activities = {
  async openCheckout(input: DepositWorkflowInput) {
    record(input.depositId, 'openCheckout', input);
    const script = scripts.get(input.depositId)!;
    if (script.openFails) throw ApplicationFailure.nonRetryable(script.openFails, 'PaymentProviderError');
    return {
      providerRef: refOf(input.depositId),
      checkoutUrl: `https://pay.example/${input.depositId}`,
      expiresAt: input.expiresAt,
      state: script.openState ?? outcome(input.depositId, 'pending', 'poll', 'open'),
    };
  },
  async checkCheckout(ref: { depositId: string; close: boolean }) {
    record(ref.depositId, ref.close ? 'closeCheckout' : 'pollCheckout', ref);
    const script = scripts.get(ref.depositId)!;
    return next(ref.close ? script.closes : script.polls, ref.depositId);
  },
  async recordPaymentEvent(x: { depositId: string; event: PaymentEventPayload; status: string }) {
    record(x.depositId, 'recordPaymentEvent', x);
    return { status: x.status };
  },
  async creditDeposit(x: { depositId: string; amountNano: string; event: PaymentEventPayload }) {
    record(x.depositId, 'creditDeposit', x);
    return { replayed: false };
  },
  /** A "signed" webhook here is JSON `{ signedBy: 'provider', event }`; anything else fails verification. */
  async verifySignedWebhook(req: ProofRequest) {
    record(req.depositId, 'verifySignedWebhook', req);
    const body = JSON.parse(req.webhook.body) as { signedBy?: string; event?: PaymentEventPayload };
    if (body.signedBy !== 'provider' || body.event?.providerRef !== req.providerRef) return null;
    return { ...body.event, source: 'webhook' as const };
  },
};

function outcome(depositId: string, kind: PaymentEventPayload['kind'], source: PaymentEventPayload['source'], id: string, amountNano?: bigint): PaymentEventPayload {
  return {
    kind,
    ...(amountNano !== undefined ? { amountNano: amountNano.toString() } : {}),
    providerStatus: `${kind} (${id})`,
    providerRef: refOf(depositId),
    eventId: `${source}:${id}`,
    source,
  };
}

/** What the webhook route sends: the outcome and the signed webhook it was read from. */
const webhook = (depositId: string, kind: PaymentEventPayload['kind'], id: string, amountNano?: bigint): PaymentEventPayload => {
  const event = outcome(depositId, kind, 'webhook', id, amountNano);
  return { ...event, webhook: { body: JSON.stringify({ signedBy: 'provider', event }) } };
};

let env: TestWorkflowEnvironment;
let worker: Worker;
let running: Promise<void>;

beforeAll(async () => {
  env = await TestWorkflowEnvironment.createTimeSkipping({ server: { executable: { type: 'existing-path', path: resolveTestServer() } } });
  // The workflow keeps its status in a search attribute, which the server must know.
  await env.connection.operatorService.addSearchAttributes({
    namespace: env.namespace ?? 'default',
    searchAttributes: Object.fromEntries(ALL_SEARCH_ATTRIBUTES.map((a) => [a.name, temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD])),
  });
  worker = await Worker.create({ connection: env.nativeConnection, taskQueue: TASK_QUEUE, workflowBundle: await workflowBundle(), activities });
  running = worker.run();
});
afterAll(async () => {
  worker?.shutdown();
  await running;
  await env?.teardown();
});

/** Starts a $10 deposit with its script; returns its id, its workflow handle and the calls it makes. */
async function start(script: Script = {}, amountNano = 10n * USD) {
  const depositId = `dep_${randomBytes(6).toString('hex')}`;
  scripts.set(depositId, script);
  calls.set(depositId, []);
  const now = await env.currentTimeMs();
  const input: DepositWorkflowInput = {
    depositId,
    accountId: 'acct_test',
    method: 'card',
    amountNano: amountNano.toString(),
    description: 'test deposit',
    expiresAt: Math.floor((now + TTL_MS) / 1000),
    successUrl: 'https://example.test/ok',
    cancelUrl: 'https://example.test/cancel',
    pollIntervalSeconds: 60,
    settleGraceSeconds: GRACE_S,
  };
  const handle = await env.client.workflow.start(depositWorkflow, { taskQueue: TASK_QUEUE, workflowId: depositWorkflowId(depositId), args: [input] });
  return { depositId, handle, calls: calls.get(depositId)! };
}

const named = (list: Call[], activity: string) => list.filter((c) => c.activity === activity);
const writes = (list: Call[]) =>
  list
    .filter((c) => c.activity === 'recordPaymentEvent' || c.activity === 'creditDeposit')
    .map((c) => (c.activity === 'creditDeposit' ? `credit ${c.arg.amountNano}` : `${c.arg.status} ${(c.arg.event as PaymentEventPayload).eventId}`));

describe('opening the checkout', () => {
  it('answers the checkout-ready update with the checkout, and shows it in the status query', async () => {
    const { depositId, handle } = await start();
    const checkout = await handle.executeUpdate(checkoutReadyUpdate);
    expect(checkout).toMatchObject({ providerRef: refOf(depositId), checkoutUrl: `https://pay.example/${depositId}` });
    expect(await handle.query(depositStatusQuery)).toMatchObject({ status: 'pending', checkout, eventsSeen: 0, settleDeadline: null });
    await handle.terminate('test done');
  });

  it('fails the deposit, records why and fails the update when the provider refuses the checkout', async () => {
    const { handle, calls } = await start({ openFails: 'invalid currency' });
    await expect(handle.executeUpdate(checkoutReadyUpdate)).rejects.toThrow();
    expect(await handle.result()).toEqual({ status: 'failed' });
    expect(writes(calls)).toEqual(['failed checkout-failed']);
    expect(named(calls, 'recordPaymentEvent')[0]!.arg.event).toMatchObject({ source: 'workflow', providerStatus: expect.stringContaining('invalid currency') });
  });

  it('credits at once a checkout found already paid when the run starts', async () => {
    const { handle, calls } = await start({ openState: outcome('any', 'paid', 'poll', 'already', 10n * USD) });
    expect(await handle.result()).toEqual({ status: 'credited', creditedNano: (10n * USD).toString() });
    expect(writes(calls)).toEqual([`credit ${10n * USD}`]);
  });
});

describe('outcomes signalled by the webhook route (verified before they count)', () => {
  it('credits a verified paid webhook once, however often it is signalled', async () => {
    const { depositId, handle, calls } = await start();
    const paid = webhook(depositId, 'paid', 'evt_1', 10n * USD);
    for (let i = 0; i < 3; i++) await handle.signal(paymentEventSignal, paid);
    expect(await handle.result()).toEqual({ status: 'credited', creditedNano: (10n * USD).toString() });
    expect(writes(calls)).toEqual([`credit ${10n * USD}`]);
    expect(named(calls, 'creditDeposit')[0]!.arg.event).toMatchObject({ eventId: 'webhook:evt_1', source: 'webhook' });
  });

  it('credits what the provider confirmed as received, never more than the deposit asked for', async () => {
    const under = await start();
    await under.handle.signal(paymentEventSignal, webhook(under.depositId, 'paid', 'under', 4_990_000_000n));
    expect(await under.handle.result()).toEqual({ status: 'credited', creditedNano: '4990000000' });
    const over = await start();
    await over.handle.signal(paymentEventSignal, webhook(over.depositId, 'paid', 'over', 11n * USD));
    expect(await over.handle.result()).toEqual({ status: 'credited', creditedNano: (10n * USD).toString() });
  });

  it('ignores a paid signal without a signed webhook, a badly signed one and one about another checkout', async () => {
    const { depositId, handle, calls } = await start();
    const claim = outcome(depositId, 'paid', 'webhook', 'forged', 10n * USD);
    await handle.signal(paymentEventSignal, claim);
    await handle.signal(paymentEventSignal, { ...claim, source: 'poll', eventId: 'poll:forged' });
    await handle.signal(paymentEventSignal, { ...claim, eventId: 'webhook:bad-sign', webhook: { body: JSON.stringify({ signedBy: 'attacker', event: claim }) } });
    await handle.signal(paymentEventSignal, { ...webhook('another', 'paid', 'elsewhere', 10n * USD) });
    // Nothing else happens: the checkout runs out unpaid.
    expect(await handle.result()).toEqual({ status: 'expired' });
    expect(named(calls, 'creditDeposit')).toEqual([]);
    expect(named(calls, 'verifySignedWebhook')).toHaveLength(2);
  });

  it('still credits the genuine webhook whose event id a forged signal used first', async () => {
    const { depositId, handle, calls } = await start();
    const genuine = webhook(depositId, 'paid', 'evt_same', 10n * USD);
    await handle.signal(paymentEventSignal, { ...genuine, webhook: undefined });
    await handle.signal(paymentEventSignal, genuine);
    expect(await handle.result()).toEqual({ status: 'credited', creditedNano: (10n * USD).toString() });
    expect(named(calls, 'creditDeposit')).toHaveLength(1);
  });

  it('waits through processing, does not go back on a stale pending, and credits on paid', async () => {
    const { depositId, handle, calls } = await start();
    await handle.signal(paymentEventSignal, webhook(depositId, 'processing', 'p1'));
    await handle.signal(paymentEventSignal, webhook(depositId, 'pending', 'stale'));
    await handle.signal(paymentEventSignal, webhook(depositId, 'paid', 'paid', 10n * USD));
    expect(await handle.result()).toEqual({ status: 'credited', creditedNano: (10n * USD).toString() });
    expect(writes(calls)).toEqual(['processing webhook:p1', 'processing webhook:stale', `credit ${10n * USD}`]);
  });

  it.each([
    ['failed', 'failed'],
    ['expired', 'expired'],
    ['review', 'needs_review'],
  ] as const)('ends a deposit reported %s as %s, without credit', async (kind, status) => {
    const { depositId, handle, calls } = await start();
    await handle.signal(paymentEventSignal, webhook(depositId, kind, 'final'));
    expect(await handle.result()).toEqual({ status });
    expect(writes(calls)).toEqual([`${status} webhook:final`]);
  });

  it('puts a paid report with nothing to credit in review', async () => {
    const { depositId, handle, calls } = await start();
    await handle.signal(paymentEventSignal, webhook(depositId, 'paid', 'zero', 0n));
    expect(await handle.result()).toEqual({ status: 'needs_review' });
    expect(writes(calls)).toEqual(['needs_review webhook:zero']);
  });
});

describe('polling when webhooks are lost', () => {
  it('credits what a poll finds, polling less often while nothing happens', async () => {
    const { depositId, handle, calls } = await start();
    const pending = (i: number) => outcome(depositId, 'pending', 'poll', `p${i}`);
    scripts.get(depositId)!.polls = [pending(1), pending(2), pending(3), outcome(depositId, 'paid', 'poll', 'paid', 10n * USD)];
    expect(await handle.result()).toEqual({ status: 'credited', creditedNano: (10n * USD).toString() });
    expect(named(calls, 'pollCheckout')).toHaveLength(4);
    expect(writes(calls)).toEqual(['pending poll:p1', 'pending poll:p2', 'pending poll:p3', `credit ${10n * USD}`]);
  });

  it('keeps polling after a poll fails', async () => {
    const { depositId, handle, calls } = await start({ polls: [new Error('provider down')] });
    scripts.get(depositId)!.polls!.push(outcome(depositId, 'paid', 'poll', 'later', 10n * USD));
    expect(await handle.result()).toEqual({ status: 'credited', creditedNano: (10n * USD).toString() });
    expect(named(calls, 'pollCheckout')).toHaveLength(2);
  });
});

describe('when the checkout runs out', () => {
  it('expires an unpaid deposit after closing its checkout', async () => {
    const { depositId, handle, calls } = await start();
    expect(await handle.result()).toEqual({ status: 'expired' });
    expect(named(calls, 'closeCheckout')).toHaveLength(1);
    expect(writes(calls).at(-1)).toBe(`expired poll:open:deadline`);
    expect(named(calls, 'closeCheckout')[0]!.arg).toMatchObject({ depositId, providerRef: refOf(depositId), close: true });
  });

  it('credits a payment that slipped in just before expiry', async () => {
    const { depositId, handle } = await start();
    scripts.get(depositId)!.closes = [outcome(depositId, 'paid', 'poll', 'late', 10n * USD)];
    expect(await handle.result()).toEqual({ status: 'credited', creditedNano: (10n * USD).toString() });
  });

  it.each([
    ['failed', 'failed'],
    ['expired', 'expired'],
    ['review', 'needs_review'],
  ] as const)('applies a final %s found at expiry', async (kind, status) => {
    const { depositId, handle } = await start();
    scripts.get(depositId)!.closes = [outcome(depositId, kind, 'poll', 'at-close')];
    expect(await handle.result()).toEqual({ status });
  });

  it('waits the grace period for a payment on its way, and credits it when it settles', async () => {
    const { depositId, handle, calls } = await start();
    scripts.get(depositId)!.closes = [outcome(depositId, 'processing', 'poll', 'settling'), outcome(depositId, 'paid', 'poll', 'settled', 10n * USD)];
    scripts.get(depositId)!.polls = Array.from({ length: 100 }, () => outcome(depositId, 'processing', 'poll', 'settling'));
    expect(await handle.result()).toEqual({ status: 'credited', creditedNano: (10n * USD).toString() });
    expect(named(calls, 'closeCheckout')).toHaveLength(2);
    expect(writes(calls)).toEqual(['processing poll:settling', `credit ${10n * USD}`]);
  });

  it('puts a payment still unsettled after the grace period in review', async () => {
    const { depositId, handle, calls } = await start();
    const settling = outcome(depositId, 'processing', 'poll', 'settling');
    scripts.get(depositId)!.closes = [settling, { ...settling }];
    expect(await handle.result()).toEqual({ status: 'needs_review' });
    // The hour of polls before expiry found the checkout open (recorded once: same event id).
    expect(writes(calls)).toEqual(['pending poll:open', 'processing poll:settling', 'needs_review poll:settling:deadline']);
  });

  it('shows the settle deadline in the status query while it waits', async () => {
    const { depositId, handle } = await start();
    scripts.get(depositId)!.closes = [outcome(depositId, 'processing', 'poll', 'settling')];
    await env.sleep(TTL_MS + 1000);
    let view = await handle.query(depositStatusQuery);
    while (view.settleDeadline === null) {
      await new Promise((r) => setTimeout(r, 10));
      view = await handle.query(depositStatusQuery);
    }
    expect(view.status).toBe('processing');
    expect(view.settleDeadline).toBeGreaterThan(view.checkout!.expiresAt * 1000);
    await handle.terminate('test done');
  });

  it('retries the check at expiry, and ends in review when the provider stays unreachable (expiry-unconfirmed)', async () => {
    const { depositId, handle, calls } = await start({ closes: Array.from({ length: 20 }, () => new Error('provider down')) });
    expect(await handle.result()).toEqual({ status: 'needs_review' });
    expect(named(calls, 'closeCheckout')).toHaveLength(20);
    expect(writes(calls)).toEqual(['pending poll:open', 'needs_review expiry-unconfirmed']);
    expect(named(calls, 'recordPaymentEvent').at(-1)!.arg.event).toMatchObject({ kind: 'review', source: 'workflow', providerRef: refOf(depositId) });
  });

  it('still applies a webhook that arrives while the check at expiry is being retried', async () => {
    const { depositId, handle } = await start({ closes: [new Error('provider down')] });
    await env.sleep(TTL_MS + 1000);
    await handle.signal(paymentEventSignal, webhook(depositId, 'paid', 'during-retry', 10n * USD));
    expect(await handle.result()).toEqual({ status: 'credited', creditedNano: (10n * USD).toString() });
  });
});
