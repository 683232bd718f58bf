/**
 * Money going back to the payer after a deposit was credited: a dispute (chargeback) or a refund,
 * in our words, so the reversal workflow never reads a provider's event names. Pure.
 */
import type { PaymentProvider } from './payment-gateway.js';
import type { SignedWebhook } from './deposit-types.js';

/**
 * - dispute_opened: the payer disputed the payment; the disputed amount is taken back now
 * - dispute_won / dispute_lost: the dispute closed in our favour (the money comes back) or not
 * - refund: money was refunded at the provider; `amountNano` is the cumulative refunded amount
 */
export type ReversalKind = 'dispute_opened' | 'dispute_won' | 'dispute_lost' | 'refund';

export interface ReversalEvent {
  provider: PaymentProvider;
  kind: ReversalKind;
  /** The provider's dispute id, or `refund-<paymentRef>` for a payment's refunds. No ':' in it. */
  reversalId: string;
  /** The payment at the provider: Stripe PaymentIntent id, Cryptomus invoice uuid. */
  paymentRef: string;
  /** Set when the provider names our deposit in the event itself (Cryptomus' order_id). */
  depositId?: string;
  /** Disputed amount, or cumulative refunded amount (nano-dollars). */
  amountNano: bigint;
  providerStatus: string;
  /** Stable per provider notification: a duplicate delivery carries the same id. */
  eventId: string;
}

/** A reversal as it travels to its workflow (JSON: the amount as a decimal string) with its signed webhook. */
export interface ReversalSignal {
  kind: ReversalKind;
  reversalId: string;
  paymentRef: string;
  depositId?: string;
  amountNano: string;
  providerStatus: string;
  eventId: string;
  webhook?: SignedWebhook;
}

export function toReversalSignal(e: ReversalEvent): ReversalSignal {
  return {
    kind: e.kind,
    reversalId: e.reversalId,
    paymentRef: e.paymentRef,
    ...(e.depositId ? { depositId: e.depositId } : {}),
    amountNano: e.amountNano.toString(),
    providerStatus: e.providerStatus,
    eventId: e.eventId,
  };
}

export const refundReversalId = (paymentRef: string): string => `refund-${paymentRef}`;

/**
 * How much of a refund to debit now: the cumulative refunded amount (capped at what the deposit
 * credited) minus what earlier refund events already debited. An older, smaller cumulative amount
 * arriving late (events out of order) debits nothing.
 */
export function refundDelta(cumulative: bigint, alreadyRefunded: bigint, credited: bigint): bigint {
  const capped = cumulative < credited ? cumulative : credited;
  return capped > alreadyRefunded ? capped - alreadyRefunded : 0n;
}
