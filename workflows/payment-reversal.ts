import { condition, defineQuery, defineSignal, log, proxyLocalActivities, proxyActivities, setHandler, upsertSearchAttributes } from '@temporalio/workflow';
import type { createPaymentProofActivities } from '../src/payments/payment-proof.js';
import type { createReversalActivities, ReversalMatch } from '../src/payments/reversal-activities.js';
import type { ReversalSignal } from '../src/payments/reversal.js';
import { AccountIdAttr, StatusAttr } from '../src/temporal/search-attributes.js';

/** Workflow ids `dispute-<provider dispute id>` and `refund-<provider payment ref>`: one run per reversal at a time. */
export interface ReversalWorkflowInput {
  reversalId: string;
  kind: 'dispute' | 'refund';
  method: 'card' | 'crypto';
}

export interface ReversalView {
  status: string;
  depositId: string | null;
  eventsSeen: number;
}

/** A verified provider webhook about this reversal (believed only after verifyReversal). */
export const reversalEventSignal = defineSignal<[ReversalSignal]>('reversalEvent');
export const reversalStatusQuery = defineQuery<ReversalView>('reversalStatus');

type Activities = ReturnType<typeof createReversalActivities>;

// Database steps, local to the worker like the deposit's; keyed, so retries are harmless.
const db = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});
// Matching asks the provider which checkout a payment came from (Stripe): retried for a while.
const provider = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes' },
});
const proof = proxyLocalActivities<Activities & ReturnType<typeof createPaymentProofActivities>>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '1 second', maximumAttempts: 5 },
});

/** Stripe gives a card dispute up to about 75 days; a refund run ends after a quiet day (a later refund starts a new one). */
const IDLE = { dispute: '120 days', refund: '1 day' } as const;

/**
 * A dispute or the refunds of one payment, as steps ops can follow in the Temporal UI: each
 * verified webhook (signal-with-start, so a completed run is started again) is matched once with
 * its credited deposit and applied. A dispute: opened → (collect what released holds free) →
 * won | lost, then the run ends. Refunds: each cumulative total debits what is new.
 */
export async function paymentReversalWorkflow(input: ReversalWorkflowInput): Promise<{ status: string }> {
  const inbox: ReversalSignal[] = [];
  const seen = new Set<string>();
  let status = 'received';
  let match: ReversalMatch | null = null;
  let collectAt: number | null = null;
  setHandler(reversalEventSignal, (s) => {
    if (!seen.has(s.eventId)) inbox.push(s);
  });
  setHandler(reversalStatusQuery, () => ({ status, depositId: match?.depositId ?? null, eventsSeen: seen.size }));
  const setStatus = (next: string) => {
    if (next === status) return;
    status = next;
    upsertSearchAttributes([{ key: StatusAttr, value: next }]);
  };

  for (;;) {
    const wait = collectAt !== null ? Math.max(1, collectAt - Date.now()) : IDLE[input.kind];
    const signalled = await condition(() => inbox.length > 0, wait);
    if (!signalled) {
      if (collectAt === null) return { status };
      // The holds pending when the dispute opened have settled: what they released pays what is owed.
      collectAt = null;
      await db.collectOwed({ reversalId: input.reversalId });
      continue;
    }
    const signal = inbox.shift()!;
    if (seen.has(signal.eventId)) continue;
    const event = signal.webhook ? await proof.verifyReversal({ method: input.method, reversalId: input.reversalId, webhook: signal.webhook }) : null;
    if (!event) {
      log.warn('unverified reversal signal ignored', { reversalId: input.reversalId, eventId: signal.eventId });
      continue;
    }
    seen.add(event.eventId);
    if (!match) {
      match = await provider.matchReversal({ method: input.method, paymentRef: event.paymentRef, ...(event.depositId ? { depositId: event.depositId } : {}) });
      if (!match) {
        setStatus('unmatched');
        continue;
      }
      upsertSearchAttributes([{ key: AccountIdAttr, value: match.accountId }]);
    }
    if (event.kind === 'refund') {
      await db.applyRefund({ reversalId: input.reversalId, match, cumulativeNano: event.amountNano });
      setStatus('refunded');
      continue;
    }
    // A close that arrives before its creation (out of order, or the creation lost) opens it first.
    const opened = await db.openDispute({ reversalId: input.reversalId, match, amountNano: event.amountNano, providerStatus: event.providerStatus });
    if (opened.status !== 'open') {
      setStatus(opened.status);
      return { status: opened.status };
    }
    setStatus('open');
    if (event.kind === 'dispute_opened') {
      if (opened.holdsSettleBy !== null && BigInt(opened.owedNano) > 0n) collectAt = opened.holdsSettleBy + 1000;
      continue;
    }
    const closed = await db.closeDispute({ reversalId: input.reversalId, won: event.kind === 'dispute_won' });
    setStatus(closed.status);
    return { status: closed.status };
  }
}
