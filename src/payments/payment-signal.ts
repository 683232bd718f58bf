/**
 * A provider outcome as it travels to the deposit workflow: the PaymentEvent with its amount as a
 * decimal string (workflow payloads are JSON, which has no bigint) and where it came from.
 */
import type { PaymentEvent, PaymentOutcome } from './payment-gateway.js';

export interface PaymentSignal {
  kind: PaymentOutcome;
  amountNano?: string;
  providerStatus: string;
  providerRef: string;
  eventId: string;
  /** webhook: the provider told us; poll: we asked it; workflow: the deposit's own decision. */
  source: 'webhook' | 'poll' | 'workflow';
}

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
