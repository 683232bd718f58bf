/** A provider's PaymentEvent turned into what the deposit workflow carries (deposit-types.ts). */
import type { PaymentSignal } from './deposit-types.js';
import type { PaymentEvent } from './payment-gateway.js';

export function toSignal(e: PaymentEvent, source: PaymentSignal['source']): PaymentSignal {
  return {
    kind: e.kind,
    ...(e.amountNano !== undefined ? { amountNano: e.amountNano.toString() } : {}),
    providerStatus: e.providerStatus,
    providerRef: e.providerRef,
    eventId: e.eventId,
    source,
  };
}
