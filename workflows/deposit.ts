import {
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  log,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createDepositActivities } from '../src/payments/deposit-activities.js';
import type { DepositStatus } from '../src/payments/deposit-status.js';
import type { CheckoutInfo, DepositResult, DepositView, DepositWorkflowInput, PaymentEventPayload } from '../src/payments/deposit-types.js';
import { atDeadline, transition } from '../src/payments/deposit-transition.js';
import type { createPaymentProofActivities } from '../src/payments/payment-proof.js';
import { StatusAttr } from '../src/temporal/search-attributes.js';

/** A webhook (or anything else that learned of a payment) reports it to the deposit. Believed only once verified. */
export const paymentEventSignal = defineSignal<[PaymentEventPayload]>('paymentEvent');
/** Answers once the checkout exists, so the API can hand out its URL. */
export const checkoutReadyUpdate = defineUpdate<CheckoutInfo>('checkoutReady');
export const depositStatusQuery = defineQuery<DepositView>('depositStatus');

/**
 * Versions of this workflow's command sequence (`patched`), so deposits that were waiting when a
 * new version deployed replay as they ran. Remove a patch once no history from before it can run.
 */
export const DEPOSIT_PATCHES = {
  /** A signalled outcome is believed only after verifySignedWebhook (src/payments/payment-proof.ts). */
  verifySignalledEvents: 'deposit-verify-signalled-events',
  /** After a card credit: the receipt link, and the card when the customer asked to save it. */
  paymentDetails: 'deposit-payment-details',
} as const;

type DepositActivities = ReturnType<typeof createDepositActivities>;

// Database steps run as local activities: in the worker, inside the workflow task that needs them,
// without a round trip through the server per step. That is most of the webhook-to-credit time.
// They are idempotent (keyed writes), so the at-least-once retries of local activities are safe.
const db = proxyLocalActivities<DepositActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});
// A checkout that cannot be opened within about half a minute fails the deposit: the customer is waiting.
const opening = proxyActivities<DepositActivities>({
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 4 },
});
const provider = proxyActivities<DepositActivities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 5 },
});
// Signature checks are CPU only: local, quick, retried a little in case the worker is starting.
const proof = proxyLocalActivities<ReturnType<typeof createPaymentProofActivities>>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

const MAX_POLL_MS = 10 * 60_000;
/** Checks at expiry that cannot reach the provider at all end in review, not in a guess. */
const MAX_CLOSE_ATTEMPTS = 20;

/** An outcome waiting to be applied, and whether the workflow fetched it from the provider itself. */
interface Received {
  event: PaymentEventPayload;
  /** True for answers of our own provider activities; false for signals, which anyone can send. */
  fromProvider: boolean;
}

/** One deposit run's state: what the handlers read and write, and what the steps carry forward. */
interface Deposit {
  readonly input: DepositWorkflowInput;
  status: DepositStatus;
  checkout: CheckoutInfo | null;
  openFailure: string | null;
  inbox: Received[];
  seen: Set<string>;
  settleDeadline: number | null;
  /** How long to wait for news before asking the provider: doubles while nothing happens. */
  pollMs: number;
}

/**
 * One deposit from checkout to credit. Waits for the provider's webhook (a signal), polls the
 * provider now and then in case the webhook is lost, credits the ledger through an idempotent
 * activity, and gives up when the checkout expires (after a grace period for a payment that was
 * already on its way). Workflow id `deposit-<id>`: one run per deposit at a time.
 */
export async function depositWorkflow(input: DepositWorkflowInput): Promise<DepositResult> {
  const deposit: Deposit = {
    input,
    status: 'creating',
    checkout: null,
    openFailure: null,
    inbox: [],
    seen: new Set(),
    settleDeadline: null,
    pollMs: input.pollIntervalSeconds * 1000,
  };
  handleMessages(deposit);
  const checkout = await openCheckout(deposit);
  if (!checkout) return { status: 'failed' };
  return followPayment(deposit, checkout);
}

function handleMessages(d: Deposit): void {
  setHandler(paymentEventSignal, (event) => {
    if (!d.seen.has(event.eventId)) d.inbox.push({ event, fromProvider: false });
  });
  setHandler(checkoutReadyUpdate, async () => {
    await condition(() => d.checkout !== null || d.openFailure !== null);
    if (d.checkout) return d.checkout;
    throw ApplicationFailure.nonRetryable(d.openFailure!, 'CheckoutUnavailable');
  });
  setHandler(depositStatusQuery, () => ({ status: d.status, checkout: d.checkout, eventsSeen: d.seen.size, settleDeadline: d.settleDeadline }));
}

/** Opens the provider's checkout; on failure records it and returns null (the deposit has failed). */
async function openCheckout(d: Deposit): Promise<CheckoutInfo | null> {
  try {
    const opened = await opening.openCheckout(d.input);
    d.checkout = { providerRef: opened.providerRef, checkoutUrl: opened.checkoutUrl, expiresAt: opened.expiresAt };
    setStatus(d, 'pending');
    // A run started by a late webhook may find the checkout already settled.
    if (opened.state.kind !== 'pending') d.inbox.unshift({ event: opened.state, fromProvider: true });
    return d.checkout;
  } catch (err) {
    d.openFailure = `The payment provider could not open a checkout: ${failureMessage(err)}`;
    await db.recordPaymentEvent({
      depositId: d.input.depositId,
      event: { eventId: 'checkout-failed', kind: 'failed', providerStatus: d.openFailure, providerRef: '', source: 'workflow' },
      status: 'failed',
    });
    setStatus(d, 'failed');
    return null;
  }
}

/** Waits for the outcome, from webhooks or polls, until one ends the deposit or its checkout runs out. */
async function followPayment(d: Deposit, checkout: CheckoutInfo): Promise<DepositResult> {
  let deadline = checkout.expiresAt * 1000;
  let closeAttempts = 0;
  for (;;) {
    const ended = await applyInbox(d);
    if (ended) return ended;

    if (Date.now() >= deadline) {
      const last = await closeCheckout(d);
      if (!last) {
        if (++closeAttempts >= MAX_CLOSE_ATTEMPTS) return endUnconfirmed(d);
        await condition(() => d.inbox.length > 0, Math.min(d.pollMs, MAX_POLL_MS));
        continue;
      }
      const decision = atDeadline(last.kind, d.settleDeadline !== null);
      if (decision.step === 'apply') return (await apply(d, last))!;
      if (decision.step === 'await-settlement') {
        d.settleDeadline = deadline = Date.now() + d.input.settleGraceSeconds * 1000;
        d.inbox.push({ event: last, fromProvider: true });
        continue;
      }
      // Unpaid at expiry; or a payment still unsettled after the grace period, which ops must look at.
      return end(d, { ...last, eventId: `${last.eventId}:deadline` }, decision.status);
    }

    const signalled = await condition(() => d.inbox.length > 0, Math.max(1, Math.min(d.pollMs, deadline - Date.now())));
    if (!signalled && Date.now() < deadline) await poll(d);
  }
}

/** Applies the outcomes received so far, in order; returns the result when one ends the deposit. */
async function applyInbox(d: Deposit): Promise<DepositResult | null> {
  while (d.inbox.length > 0) {
    const received = d.inbox.shift()!;
    if (d.seen.has(received.event.eventId)) continue;
    const event = await believe(d, received);
    if (!event || d.seen.has(event.eventId)) continue;
    const result = await apply(d, event);
    if (result) return result;
    d.pollMs = d.input.pollIntervalSeconds * 1000;
  }
  return null;
}

/**
 * The outcome as verified with the provider, or null. A signal proves nothing by itself (any
 * Temporal client can send one): it counts only through the signed webhook it carries, verified
 * again by an activity. Not marked as seen when refused, so a forged event id cannot shadow the
 * genuine webhook that carries it later.
 */
async function believe(d: Deposit, { event, fromProvider }: Received): Promise<PaymentEventPayload | null> {
  if (fromProvider) return event;
  // Deposits that applied a signal before this check existed replay as they ran.
  if (!patched(DEPOSIT_PATCHES.verifySignalledEvents)) return event;
  const verified = event.webhook
    ? await proof.verifySignedWebhook({ depositId: d.input.depositId, method: d.input.method, providerRef: d.checkout!.providerRef, webhook: event.webhook })
    : null;
  if (!verified) log.warn('unverified payment signal ignored', { depositId: d.input.depositId, eventId: event.eventId, kind: event.kind });
  return verified;
}

/** Carries out what one verified outcome does to the deposit; returns the result when it ends it. */
async function apply(d: Deposit, e: PaymentEventPayload): Promise<DepositResult | null> {
  d.seen.add(e.eventId);
  const next = transition(d.status, e.kind, e.amountNano === undefined ? undefined : BigInt(e.amountNano), BigInt(d.input.amountNano));
  switch (next.step) {
    case 'credit': {
      const amountNano = next.amountNano.toString();
      await db.creditDeposit({ depositId: d.input.depositId, accountId: d.input.accountId, amountNano, event: e });
      setStatus(d, 'credited');
      if (d.input.method === 'card' && patched(DEPOSIT_PATCHES.paymentDetails)) await recordPaymentDetails(d);
      return { status: 'credited', creditedNano: amountNano };
    }
    case 'advance':
      await db.recordPaymentEvent({ depositId: d.input.depositId, event: e, status: next.status });
      setStatus(d, next.status);
      return null;
    case 'end':
      return end(d, e, next.status);
  }
}

/** The money is credited whatever happens here: a provider that cannot say leaves the receipt unknown. */
async function recordPaymentDetails(d: Deposit): Promise<void> {
  try {
    await provider.recordPaymentDetails({
      depositId: d.input.depositId,
      accountId: d.input.accountId,
      method: d.input.method,
      providerRef: d.checkout!.providerRef,
      saveCard: d.input.saveCard ?? false,
    });
  } catch (err) {
    log.warn('deposit receipt and card not recorded', { depositId: d.input.depositId, error: failureMessage(err) });
  }
}

async function end(d: Deposit, e: PaymentEventPayload, final: DepositStatus): Promise<DepositResult> {
  d.seen.add(e.eventId);
  await db.recordPaymentEvent({ depositId: d.input.depositId, event: e, status: final });
  setStatus(d, final);
  return { status: final };
}

/** Asks the provider for the checkout's state when no news came in time; a failed poll is retried later. */
async function poll(d: Deposit): Promise<void> {
  try {
    d.inbox.push({ event: await provider.checkCheckout({ ...checkoutRef(d), close: false }), fromProvider: true });
  } catch (err) {
    log.warn('deposit poll failed; will try again', { depositId: d.input.depositId, error: failureMessage(err) });
  }
  d.pollMs = Math.min(d.pollMs * 2, MAX_POLL_MS);
}

/** Stops the checkout taking payment and reports a payment that slipped in just before; null if the provider was unreachable. */
async function closeCheckout(d: Deposit): Promise<PaymentEventPayload | null> {
  try {
    return await provider.checkCheckout({ ...checkoutRef(d), close: true });
  } catch (err) {
    log.warn('deposit check at expiry failed; will try again', { depositId: d.input.depositId, error: failureMessage(err) });
    return null;
  }
}

/** The provider stayed unreachable at expiry: the payment state is unknown, so ops must look. */
function endUnconfirmed(d: Deposit): Promise<DepositResult> {
  log.error('deposit state unknown at expiry: provider unreachable', { depositId: d.input.depositId });
  return end(
    d,
    { eventId: 'expiry-unconfirmed', kind: 'review', providerStatus: 'provider unreachable at expiry', providerRef: d.checkout!.providerRef, source: 'workflow' },
    'needs_review',
  );
}

function setStatus(d: Deposit, next: DepositStatus): void {
  if (next === d.status) return;
  d.status = next;
  upsertSearchAttributes([{ key: StatusAttr, value: next }]);
}

const checkoutRef = (d: Deposit) => ({ depositId: d.input.depositId, method: d.input.method, providerRef: d.checkout!.providerRef });

function failureMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  // ActivityFailure wraps the activity's own error: report the innermost message.
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
