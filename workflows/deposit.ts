import {
  ApplicationFailure,
  condition,
  defineQuery,
  defineSignal,
  defineUpdate,
  log,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createDepositActivities } from '../activities/deposits.js';
import { creditAmount, type DepositStatus, statusFor } from '../src/payments/deposit-status.js';
import type { PaymentSignal } from '../src/payments/payment-signal.js';
import { StatusAttr } from '../src/temporal/search-attributes.js';

export type { PaymentSignal };

/** Amounts cross the workflow boundary as decimal strings of nano-dollars: payloads are JSON. */
export interface DepositWorkflowInput {
  depositId: string;
  accountId: string;
  method: 'card' | 'crypto';
  amountNano: string;
  description: string;
  /** Unix seconds: when the checkout stops taking payment (fixed at creation). */
  expiresAt: number;
  coin?: string;
  network?: string;
  successUrl: string;
  cancelUrl: string;
  pollIntervalSeconds: number;
  settleGraceSeconds: number;
}

export interface CheckoutInfo {
  providerRef: string;
  checkoutUrl: string | null;
  expiresAt: number;
}

export interface DepositResult {
  status: DepositStatus;
  creditedNano?: string;
}

export interface DepositView {
  status: DepositStatus;
  checkout: CheckoutInfo | null;
  eventsSeen: number;
  /** Set once the checkout expired with a payment still settling: how long it is awaited (ms). */
  settleDeadline: number | null;
}

/** A webhook (or anything else that learned of a payment) reports it to the deposit. */
export const paymentEventSignal = defineSignal<[PaymentSignal]>('paymentEvent');
/** Answers once the checkout exists, so the API can hand out its URL. */
export const checkoutReadyUpdate = defineUpdate<CheckoutInfo>('checkoutReady');
export const depositStatusQuery = defineQuery<DepositView>('depositStatus');

// Database steps run as local activities: in the worker, inside the workflow task that needs them,
// without a round trip through the server per step. That is most of the webhook-to-credit time.
// They are idempotent (keyed writes), so the at-least-once retries of local activities are safe.
const db = proxyLocalActivities<ReturnType<typeof createDepositActivities>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});
// A checkout that cannot be opened within about half a minute fails the deposit: the customer is waiting.
const opening = proxyActivities<ReturnType<typeof createDepositActivities>>({
  startToCloseTimeout: '20 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumAttempts: 4 },
});
const provider = proxyActivities<ReturnType<typeof createDepositActivities>>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumAttempts: 5 },
});

const MAX_POLL_MS = 10 * 60_000;
/** Checks at expiry that cannot reach the provider at all end in review, not in a guess. */
const MAX_CLOSE_ATTEMPTS = 20;

/**
 * One deposit from checkout to credit. Waits for the provider's webhook (a signal), polls the
 * provider now and then in case the webhook is lost, credits the ledger through an idempotent
 * activity, and gives up when the checkout expires (after a grace period for a payment that was
 * already on its way). Workflow id `deposit-<id>`: one run per deposit at a time.
 */
export async function depositWorkflow(input: DepositWorkflowInput): Promise<DepositResult> {
  const requested = BigInt(input.amountNano);
  const inbox: PaymentSignal[] = [];
  const seen = new Set<string>();
  let checkout: CheckoutInfo | null = null;
  let openFailure: string | null = null;
  let status: DepositStatus = 'creating';
  let settleDeadline: number | null = null;

  setHandler(paymentEventSignal, (e) => {
    if (!seen.has(e.eventId)) inbox.push(e);
  });
  setHandler(checkoutReadyUpdate, async () => {
    await condition(() => checkout !== null || openFailure !== null);
    if (checkout) return checkout;
    throw ApplicationFailure.nonRetryable(openFailure!, 'CheckoutUnavailable');
  });
  setHandler(depositStatusQuery, () => ({ status, checkout, eventsSeen: seen.size, settleDeadline }));

  const setStatus = (next: DepositStatus) => {
    if (next === status) return;
    status = next;
    upsertSearchAttributes([{ key: StatusAttr, value: status }]);
  };

  try {
    const opened = await opening.openCheckout(input);
    checkout = { providerRef: opened.providerRef, checkoutUrl: opened.checkoutUrl, expiresAt: opened.expiresAt };
    setStatus('pending');
    // A run started by a late webhook may find the checkout already settled.
    if (opened.state.kind !== 'pending') inbox.unshift(opened.state);
  } catch (err) {
    openFailure = `The payment provider could not open a checkout: ${failureMessage(err)}`;
    await db.recordPaymentEvent({
      depositId: input.depositId,
      event: { eventId: 'checkout-failed', kind: 'failed', providerStatus: openFailure, providerRef: '', source: 'workflow' },
      status: 'failed',
    });
    setStatus('failed');
    return { status: 'failed' };
  }

  /** Applies one provider outcome; returns the result when it ends the deposit. */
  async function apply(e: PaymentSignal): Promise<DepositResult | null> {
    seen.add(e.eventId);
    if (e.kind === 'paid') {
      const amount = creditAmount(requested, BigInt(e.amountNano ?? '0'));
      if (amount <= 0n) return finish(e, 'needs_review');
      await db.creditDeposit({ depositId: input.depositId, accountId: input.accountId, amountNano: amount.toString(), event: e });
      setStatus('credited');
      return { status: 'credited', creditedNano: amount.toString() };
    }
    if (e.kind === 'pending' || e.kind === 'processing') {
      // A stale "pending" arriving after "processing" does not move the deposit back.
      const next = e.kind === 'pending' && status === 'processing' ? 'processing' : statusFor(e.kind);
      await db.recordPaymentEvent({ depositId: input.depositId, event: e, status: next });
      setStatus(next);
      return null;
    }
    return finish(e, statusFor(e.kind));
  }

  async function finish(e: PaymentSignal, final: DepositStatus): Promise<DepositResult> {
    seen.add(e.eventId);
    await db.recordPaymentEvent({ depositId: input.depositId, event: e, status: final });
    setStatus(final);
    return { status: final };
  }

  const pollBase = input.pollIntervalSeconds * 1000;
  let pollMs = pollBase;
  let deadline = checkout.expiresAt * 1000;
  let closeAttempts = 0;
  const ref = { depositId: input.depositId, method: input.method, providerRef: checkout.providerRef };

  for (;;) {
    while (inbox.length > 0) {
      const e = inbox.shift()!;
      if (seen.has(e.eventId)) continue;
      const result = await apply(e);
      if (result) return result;
      pollMs = pollBase;
    }

    if (Date.now() >= deadline) {
      let last: PaymentSignal;
      try {
        // Stops the checkout taking payment, and reports a payment that slipped in just before.
        last = await provider.checkCheckout({ ...ref, close: true });
      } catch (err) {
        if (++closeAttempts >= MAX_CLOSE_ATTEMPTS) {
          log.error('deposit state unknown at expiry: provider unreachable', { depositId: input.depositId, error: failureMessage(err) });
          return finish(
            { eventId: 'expiry-unconfirmed', kind: 'review', providerStatus: 'provider unreachable at expiry', providerRef: ref.providerRef, source: 'workflow' },
            'needs_review',
          );
        }
        await condition(() => inbox.length > 0, Math.min(pollMs, MAX_POLL_MS));
        continue;
      }
      if (last.kind === 'paid' || last.kind === 'failed' || last.kind === 'expired' || last.kind === 'review') {
        const result = await apply(last);
        if (result) return result;
      }
      if (last.kind === 'processing' && settleDeadline === null) {
        settleDeadline = deadline = Date.now() + input.settleGraceSeconds * 1000;
        inbox.push(last);
        continue;
      }
      // Unpaid at expiry; or a payment still unsettled after the grace period, which ops must look at.
      return finish(
        { ...last, eventId: `${last.eventId}:deadline` },
        last.kind === 'processing' ? 'needs_review' : 'expired',
      );
    }

    const signalled = await condition(() => inbox.length > 0, Math.max(1, Math.min(pollMs, deadline - Date.now())));
    if (!signalled && Date.now() < deadline) {
      try {
        inbox.push(await provider.checkCheckout({ ...ref, close: false }));
      } catch (err) {
        log.warn('deposit poll failed; will try again', { depositId: input.depositId, error: failureMessage(err) });
      }
      pollMs = Math.min(pollMs * 2, MAX_POLL_MS);
    }
  }
}

function failureMessage(err: unknown): string {
  let e = err as { message?: string; cause?: unknown } | undefined;
  // ActivityFailure wraps the activity's own error: report the innermost message.
  while (e?.cause) e = e.cause as typeof e;
  return e?.message ?? String(err);
}
