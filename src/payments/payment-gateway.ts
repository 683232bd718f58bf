/**
 * The one vocabulary every payment provider is translated into, so deposit logic never reads a
 * provider's event names or statuses (the idea of medusa's getWebhookActionAndData).
 */

import type { ReversalEvent } from './reversal.js';

export type PaymentProvider = 'stripe' | 'cryptomus';

/**
 * - pending:    nothing has happened yet (checkout open, no payment seen)
 * - processing: a payment is on its way but not settled (delayed method, blockchain
 *               confirmations, an underpayment the payer may still top up): never credited
 * - paid:       money arrived; `amountNano` is what to credit
 * - failed:     the payment failed for good; no money arrived
 * - expired:    the checkout ran out of time (or was cancelled) unpaid
 * - review:     final at the provider, but money may have moved in a way we do not credit
 *               automatically (refunds, AML locks, an underpayment without a USD value, a foreign
 *               currency); ops decide with an adjustment
 */
export type PaymentOutcome = 'pending' | 'processing' | 'paid' | 'failed' | 'expired' | 'review';

export interface PaymentEvent {
  provider: PaymentProvider;
  depositId: string;
  kind: PaymentOutcome;
  /** Set exactly when kind is 'paid'. */
  amountNano?: bigint;
  /** The provider's own word for it, for the deposit's history and for ops. */
  providerStatus: string;
  /** Checkout session id / invoice uuid. */
  providerRef: string;
  /** Stable per provider notification: a duplicate delivery carries the same id. */
  eventId: string;
}

export interface CheckoutRequest {
  depositId: string;
  amountNano: bigint;
  description: string;
  successUrl: string;
  cancelUrl: string;
  /** Unix seconds after which the checkout can no longer be paid. */
  expiresAt: number;
  /** Crypto only: the coin (BTC, LTC, USDT) and network (btc, ltc, tron) the payer wants. */
  coin?: string;
  network?: string;
  /** Card only: who pays (for the receipt), and whether to keep the card for off-session charges. */
  customerEmail?: string;
  customerRef?: string;
  saveCard?: boolean;
}

export interface SavedCardCharge {
  depositId: string;
  amountNano: bigint;
  description: string;
  customerRef: string;
  paymentMethodRef: string;
  idempotencyKey: string;
}

export type SavedCardChargeResult =
  | { outcome: 'succeeded'; paymentRef: string; amountNano: bigint; receiptUrl: string | null }
  | { outcome: 'declined'; paymentRef: string | null; code: string; message: string }
  /** Neither yet (e.g. the bank wants the payer): the webhook or a later read decides. */
  | { outcome: 'pending'; paymentRef: string; status: string };

/** After a card payment: where its receipt is, and the card kept for later when the payer asked. */
export interface PaymentDetails {
  receiptUrl: string | null;
  savedCard: { customerRef: string; paymentMethodRef: string; brand: string | null; last4: string | null } | null;
}

/** A checkout as the provider sees it right now. */
export interface ProviderCheckout {
  providerRef: string;
  /** Where to send the payer; null once the checkout is closed. */
  url: string | null;
  /** Unix seconds. */
  expiresAt: number;
  amountNano: bigint;
  state: PaymentEvent;
}

export interface WebhookMeta {
  /** Stripe-Signature header. */
  signature?: string;
  /** The address the request came from (for an optional allowlist). */
  sourceIp?: string;
  /**
   * Skip the signature's age check (Stripe's replay window). For re-verifying, inside the deposit
   * workflow, a webhook the route already accepted on time: it may be processed hours later (a
   * worker down), and a replayed event changes nothing there (events and credits are keyed).
   */
  anyAge?: boolean;
}

export interface PaymentGateway {
  readonly provider: PaymentProvider;
  createCheckout(req: CheckoutRequest): Promise<ProviderCheckout>;
  retrieveCheckout(ref: { depositId: string; providerRef: string }): Promise<ProviderCheckout>;
  /**
   * Stops the checkout from being paid (where the provider allows it) and returns its final
   * state: a payment that slipped in just before is reported, not lost.
   */
  closeCheckout(ref: { depositId: string; providerRef: string }): Promise<ProviderCheckout>;
  /** Verifies before it parses. Null for notifications that concern no deposit of ours. */
  parseWebhook(rawBody: Buffer | string, meta: WebhookMeta): PaymentEvent | null;
  /** Verifies, then reads a dispute or refund (reversal.ts); null for any other notification. */
  parseReversal?(rawBody: Buffer | string, meta: WebhookMeta): ReversalEvent | null;
  /**
   * Charges a saved card without the payer (auto top-up), once per `idempotencyKey` whatever the
   * retries. A decline is an answer (`declined`), not an error: it must not be retried.
   */
  chargeSavedCard?(req: SavedCardCharge): Promise<SavedCardChargeResult>;
  /** An off-session charge as the provider sees it now (one that answered `pending` at first). */
  savedCardCharge?(paymentRef: string): Promise<SavedCardChargeResult>;
  /** The receipt and the saved card of a paid checkout (providers with receipts and saved cards). */
  paymentDetails?(ref: { providerRef: string }): Promise<PaymentDetails>;
  /** The deposit and checkout a payment at the provider belongs to, as the provider records it. */
  paymentOf?(paymentRef: string): Promise<{ depositId: string; providerRef: string } | null>;
  /**
   * Stops the provider from ever charging a saved card again (the customer removed or replaced it).
   * A card that is already detached, or that the provider no longer knows, counts as detached.
   */
  detachCard?(ref: { paymentMethodRef: string }): Promise<void>;
}

/** A webhook whose authenticity could not be established. Nothing may happen because of it. */
export class InvalidWebhookSignature extends Error {
  constructor(readonly provider: PaymentProvider, reason: string) {
    super(`${provider} webhook rejected: ${reason}`);
    this.name = 'InvalidWebhookSignature';
  }
}

/** A provider call that failed; `retryable` says whether trying again later can help. */
export class PaymentProviderError extends Error {
  constructor(
    readonly provider: PaymentProvider,
    message: string,
    readonly retryable: boolean,
    readonly httpStatus?: number,
  ) {
    super(`${provider}: ${message}`);
    this.name = 'PaymentProviderError';
  }
}
