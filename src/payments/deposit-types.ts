// The shapes that cross the Temporal boundary for a deposit: the workflow's input, its update and
// query answers, the payment event signals and activities carry, the payment-proof request.
// Types only: workflow code imports this file, so it must stay free of runtime imports.
//
// The one rule for money here: an amount crosses the boundary as a decimal string of nano-dollars
// (`amountNano: string`), because workflow payloads are JSON and JSON has no bigint. Inside the
// service it is a bigint again (BigInt(amountNano)) before any arithmetic.
import type { DepositStatus } from './deposit-status.js';
import type { PaymentEvent } from './payment-gateway.js';

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
  /** Card: keep the card for off-session charges (Checkout's setup_future_usage). */
  saveCard?: boolean;
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

/**
 * A provider's PaymentEvent as it travels to and inside the deposit workflow (a signal, an activity
 * answer): the same fields, the amount as a decimal string, and where it came from. Field names are
 * those of recorded histories and running deposits: keep them.
 */
export interface PaymentEventPayload extends Pick<PaymentEvent, 'kind' | 'providerStatus' | 'providerRef' | 'eventId'> {
  amountNano?: string;
  /** webhook: the provider told us; poll: we asked it; workflow: the deposit's own decision. */
  source: 'webhook' | 'poll' | 'workflow';
  /** On a signal from the webhook route: the signed webhook the outcome was read from. */
  webhook?: SignedWebhook;
}

export interface ProofRequest {
  depositId: string;
  method: 'card' | 'crypto';
  /** The deposit's checkout (session id / invoice uuid): a genuine webhook of another checkout proves nothing here. */
  providerRef: string;
  webhook: SignedWebhook;
}
