/**
 * What one provider outcome does to a deposit, as data: the deposit workflow asks, then carries the
 * answer out with its activities. Pure (no Temporal, no I/O), so every case is unit tested and the
 * workflow reads as a sequence of named steps.
 */
import { creditAmount, type DepositStatus, statusFor } from './deposit-status.js';
import type { PaymentOutcome } from './payment-gateway.js';

export type DepositTransition =
  /** Credit this much; the deposit ends `credited`. */
  | { step: 'credit'; amountNano: bigint }
  /** Record the outcome and keep waiting in this (non-final) status. */
  | { step: 'advance'; status: 'pending' | 'processing' }
  /** Record the outcome and end the deposit without credit. */
  | { step: 'end'; status: 'failed' | 'expired' | 'needs_review' };

/**
 * The transition for an outcome the provider confirmed, from the deposit's current status.
 * `reportedNano` is what the provider confirmed as received (set for `paid`); `requestedNano` what
 * the deposit asked for.
 */
export function transition(current: DepositStatus, outcome: PaymentOutcome, reportedNano: bigint | undefined, requestedNano: bigint): DepositTransition {
  switch (outcome) {
    case 'paid': {
      const amountNano = creditAmount(requestedNano, reportedNano ?? 0n);
      // "Paid" with nothing to credit (a zero or missing amount) is for a human, not for the ledger.
      return amountNano > 0n ? { step: 'credit', amountNano } : { step: 'end', status: 'needs_review' };
    }
    case 'pending':
      // A stale "pending" arriving after "processing" does not move the deposit back.
      return { step: 'advance', status: current === 'processing' ? 'processing' : 'pending' };
    case 'processing':
      return { step: 'advance', status: 'processing' };
    case 'failed':
    case 'expired':
    case 'review':
      return { step: 'end', status: statusFor(outcome) as 'failed' | 'expired' | 'needs_review' };
  }
}

export type ExpiryDecision =
  /** The check at expiry found a final outcome: apply it like any other. */
  | { step: 'apply' }
  /** A payment is on its way: wait for it until the settle grace period ends. */
  | { step: 'await-settlement' }
  /** End now: `expired` if nothing was paid, `needs_review` if a payment is still unsettled after the grace. */
  | { step: 'end'; status: 'expired' | 'needs_review' };

/** What to do with the provider's answer when the checkout (or the settle grace after it) ran out. */
export function atDeadline(outcome: PaymentOutcome, graceStarted: boolean): ExpiryDecision {
  switch (outcome) {
    case 'paid':
    case 'failed':
    case 'expired':
    case 'review':
      return { step: 'apply' };
    case 'processing':
      return graceStarted ? { step: 'end', status: 'needs_review' } : { step: 'await-settlement' };
    case 'pending':
      return { step: 'end', status: 'expired' };
  }
}
