/**
 * Stripe's dispute and refund events, read into ReversalEvent. Only called with an event whose
 * signature stripe-gateway.ts verified. Everything Stripe-shaped about reversals stays here.
 */
import type Stripe from 'stripe';
import { centsToNanos } from '../ledger/money.js';
import { refundReversalId, type ReversalEvent } from './reversal.js';

const idOf = (v: string | { id: string } | null | undefined): string | null => (v == null ? null : typeof v === 'string' ? v : v.id);

export function stripeReversal(event: Stripe.Event): ReversalEvent | null {
  switch (event.type) {
    case 'charge.dispute.created':
    case 'charge.dispute.closed': {
      const dispute = event.data.object as Stripe.Dispute;
      const paymentRef = idOf(dispute.payment_intent);
      // A dispute in another currency was not about a deposit of ours (we only open USD sessions).
      if (!paymentRef || dispute.currency !== 'usd' || !(dispute.amount > 0)) return null;
      const kind =
        event.type === 'charge.dispute.created'
          ? 'dispute_opened'
          : dispute.status === 'lost'
            ? 'dispute_lost'
            : // won, or warning_closed: an inquiry that closed without the money leaving us.
              'dispute_won';
      return {
        provider: 'stripe',
        kind,
        reversalId: dispute.id,
        paymentRef,
        amountNano: centsToNanos(dispute.amount),
        providerStatus: `${event.type} (${dispute.status}, ${dispute.reason})`,
        eventId: event.id,
      };
    }
    case 'charge.refunded': {
      const charge = event.data.object as Stripe.Charge;
      const paymentRef = idOf(charge.payment_intent);
      if (!paymentRef || charge.currency !== 'usd' || !(charge.amount_refunded > 0)) return null;
      return {
        provider: 'stripe',
        kind: 'refund',
        reversalId: refundReversalId(paymentRef),
        paymentRef,
        // Cumulative over every refund of the charge: the workflow debits only what is new.
        amountNano: centsToNanos(charge.amount_refunded),
        providerStatus: `${event.type} (${charge.amount_refunded} of ${charge.amount} cents)`,
        eventId: event.id,
      };
    }
    default:
      return null;
  }
}
