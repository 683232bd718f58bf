/**
 * The one provider payment event, in its three places: as a gateway reports it (PaymentEvent, each
 * adapter maps its provider's statuses to it), as it travels to and inside the deposit workflow
 * (PaymentEventPayload, deposit-types.ts), and as the deposit's history records it (NewDepositEvent).
 */
import type { NewDepositEvent } from './deposit-repository.js';
import type { PaymentEventPayload } from './deposit-types.js';
import type { PaymentEvent } from './payment-gateway.js';

export function toPayload(e: PaymentEvent, source: PaymentEventPayload['source']): PaymentEventPayload {
  return {
    kind: e.kind,
    ...(e.amountNano !== undefined ? { amountNano: e.amountNano.toString() } : {}),
    providerStatus: e.providerStatus,
    providerRef: e.providerRef,
    eventId: e.eventId,
    source,
  };
}

export function toDepositEvent(e: PaymentEventPayload, note?: string): NewDepositEvent {
  return {
    eventId: e.eventId,
    source: e.source,
    outcome: e.kind,
    providerStatus: e.providerStatus,
    ...(e.amountNano !== undefined ? { amount: BigInt(e.amountNano) } : {}),
    ...(note !== undefined ? { note } : {}),
  };
}
