/**
 * A provider outcome as it travels to the deposit workflow: the PaymentEvent with its amount as a
 * decimal string (workflow payloads are JSON, which has no bigint) and where it came from.
 */
import type { PaymentEvent, PaymentOutcome } from './payment-gateway.js';

/**
 * A webhook exactly as the provider signed it. A signal can be sent by anyone who reaches Temporal,
 * so the deposit workflow believes a signalled outcome only after an activity has verified this
 * signature again (src/payments/payment-proof.ts).
 */
export interface SignedWebhook {
  /** The raw request body (UTF-8 JSON, as signed). */
  body: string;
  /** Stripe-Signature header. */
  signature?: string;
  /** The address the webhook came from, for the optional Cryptomus allowlist. */
  sourceIp?: string;
}

export interface PaymentSignal {
  kind: PaymentOutcome;
  amountNano?: string;
  providerStatus: string;
  providerRef: string;
  eventId: string;
  /** webhook: the provider told us; poll: we asked it; workflow: the deposit's own decision. */
  source: 'webhook' | 'poll' | 'workflow';
  /** On a signal from the webhook route: the signed webhook the outcome was read from. */
  webhook?: SignedWebhook;
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
