/**
 * Card deposits through Stripe Checkout, with the official SDK. Everything Stripe-shaped stays in
 * this file: callers see ProviderCheckout and PaymentEvent only.
 */
import Stripe from 'stripe';
import { centsToNanos, nanosToCents } from '../ledger/money.js';
import {
  type CheckoutRequest,
  InvalidWebhookSignature,
  type PaymentDetails,
  type PaymentEvent,
  type PaymentGateway,
  PaymentProviderError,
  type ProviderCheckout,
  type SavedCardCharge,
  type SavedCardChargeResult,
  type WebhookMeta,
} from './payment-gateway.js';
import type { ReversalEvent } from './reversal.js';
import { stripeReversal } from './stripe-reversals.js';

export interface StripeGatewayOptions {
  secretKey: string;
  webhookSecret: string;
  /** Origin (and optional path prefix) of a Stripe-protocol server; unset means api.stripe.com. */
  apiBase?: string;
  /** Oldest signature timestamp accepted, in seconds (stripe-node's default is 300). */
  webhookToleranceSeconds?: number;
  timeoutMs?: number;
}

type Session = Stripe.Checkout.Session;

export class StripeGateway implements PaymentGateway {
  readonly provider = 'stripe' as const;
  private readonly stripe: Stripe;

  constructor(private readonly opts: StripeGatewayOptions) {
    this.stripe = new Stripe(opts.secretKey, {
      ...transportFor(opts.apiBase),
      timeout: opts.timeoutMs ?? 20_000,
      // Retries reuse our idempotency key, so a lost response never creates a second session.
      maxNetworkRetries: 2,
      telemetry: false,
    });
  }

  async createCheckout(req: CheckoutRequest): Promise<ProviderCheckout> {
    const session = await this.call(() =>
      this.stripe.checkout.sessions.create(
        {
          mode: 'payment',
          line_items: [
            {
              quantity: 1,
              price_data: {
                currency: 'usd',
                unit_amount: nanosToCents(req.amountNano),
                product_data: { name: req.description },
              },
            },
          ],
          success_url: req.successUrl,
          cancel_url: req.cancelUrl,
          client_reference_id: req.depositId,
          metadata: { deposit_id: req.depositId },
          payment_intent_data: { metadata: { deposit_id: req.depositId }, ...(req.saveCard ? { setup_future_usage: 'off_session' as const } : {}) },
          // The customer we already have, or their email for the receipt; saving a card needs a customer.
          ...(req.customerRef ? { customer: req.customerRef } : req.customerEmail ? { customer_email: req.customerEmail } : {}),
          ...(req.saveCard && !req.customerRef ? { customer_creation: 'always' as const } : {}),
          invoice_creation: { enabled: true },
          expires_at: req.expiresAt,
        },
        { idempotencyKey: `deposit-${req.depositId}` },
      ),
    );
    return this.toCheckout(session, req.depositId);
  }

  async retrieveCheckout(ref: { depositId: string; providerRef: string }): Promise<ProviderCheckout> {
    return this.toCheckout(await this.retrieveSession(ref.providerRef), ref.depositId);
  }

  async closeCheckout(ref: { depositId: string; providerRef: string }): Promise<ProviderCheckout> {
    const session = await this.retrieveSession(ref.providerRef);
    if (session.status !== 'open') return this.toCheckout(session, ref.depositId);
    try {
      await this.stripe.checkout.sessions.expire(ref.providerRef);
    } catch (err) {
      // Stripe refuses to expire a session that completed meanwhile: the re-read below reports it.
      if (!(err instanceof Stripe.errors.StripeInvalidRequestError)) throw toProviderError(err);
    }
    return this.toCheckout(await this.retrieveSession(ref.providerRef), ref.depositId);
  }

  parseWebhook(rawBody: Buffer | string, meta: WebhookMeta): PaymentEvent | null {
    return webhookEvent(this.verifiedEvent(rawBody, meta));
  }

  parseReversal(rawBody: Buffer | string, meta: WebhookMeta): ReversalEvent | null {
    return stripeReversal(this.verifiedEvent(rawBody, meta));
  }

  async paymentDetails(ref: { providerRef: string }): Promise<PaymentDetails> {
    const session = await this.call(() =>
      this.stripe.checkout.sessions.retrieve(ref.providerRef, { expand: ['payment_intent.latest_charge', 'payment_intent.payment_method', 'invoice'] }),
    );
    const intent = typeof session.payment_intent === 'object' ? session.payment_intent : null;
    const charge = intent && typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
    const method = intent && typeof intent.payment_method === 'object' ? intent.payment_method : null;
    const invoice = typeof session.invoice === 'object' ? session.invoice : null;
    const customer = typeof session.customer === 'string' ? session.customer : (session.customer?.id ?? null);
    const saved = intent?.setup_future_usage === 'off_session' && customer && method;
    return {
      receiptUrl: charge?.receipt_url ?? invoice?.hosted_invoice_url ?? null,
      savedCard: saved ? { customerRef: customer, paymentMethodRef: method.id, brand: method.card?.brand ?? null, last4: method.card?.last4 ?? null } : null,
    };
  }

  async chargeSavedCard(req: SavedCardCharge): Promise<SavedCardChargeResult> {
    let intent: Stripe.PaymentIntent;
    try {
      intent = await this.stripe.paymentIntents.create(
        {
          amount: nanosToCents(req.amountNano),
          currency: 'usd',
          customer: req.customerRef,
          payment_method: req.paymentMethodRef,
          off_session: true,
          confirm: true,
          description: req.description,
          metadata: { deposit_id: req.depositId },
        },
        { idempotencyKey: req.idempotencyKey },
      );
    } catch (err) {
      if (err instanceof Stripe.errors.StripeCardError) {
        const pi = (err.raw as { payment_intent?: { id?: string } } | undefined)?.payment_intent;
        return { outcome: 'declined', paymentRef: pi?.id ?? null, code: err.code ?? 'card_declined', message: err.message };
      }
      throw toProviderError(err);
    }
    if (intent.status !== 'succeeded') return { outcome: 'pending', paymentRef: intent.id, status: intent.status };
    return this.savedCardCharge(intent.id);
  }

  /**
   * Read with its charge (for the receipt). Stripe's off-session intents end `succeeded`, or back at
   * `requires_payment_method` / `canceled` when the payment failed; anything else is still open.
   */
  async savedCardCharge(paymentRef: string): Promise<SavedCardChargeResult> {
    const intent = await this.call(() => this.stripe.paymentIntents.retrieve(paymentRef, { expand: ['latest_charge'] }));
    if (intent.status === 'succeeded') {
      const charge = typeof intent.latest_charge === 'object' ? intent.latest_charge : null;
      return { outcome: 'succeeded', paymentRef, amountNano: centsToNanos(intent.amount_received || intent.amount), receiptUrl: charge?.receipt_url ?? null };
    }
    if (intent.status === 'requires_payment_method' || intent.status === 'canceled') {
      const error = intent.last_payment_error;
      return { outcome: 'declined', paymentRef, code: error?.code ?? intent.status, message: error?.message ?? `The payment ended ${intent.status}.` };
    }
    return { outcome: 'pending', paymentRef, status: intent.status };
  }

  /** The Checkout Session that created the PaymentIntent: Stripe lists sessions by payment_intent. */
  async paymentOf(paymentIntentId: string): Promise<{ depositId: string; providerRef: string } | null> {
    const list = await this.call(() => this.stripe.checkout.sessions.list({ payment_intent: paymentIntentId, limit: 1 }));
    const session = list.data[0];
    const depositId = session ? depositOf(session) : null;
    return session && depositId ? { depositId, providerRef: session.id } : null;
  }

  /**
   * Stripe answers a detach of a card that is no longer attached with a 400, and of one it does not
   * know with a 404: both are the end state asked for. Which of the two it was is read back rather
   * than from the error's wording.
   */
  async detachCard(ref: { paymentMethodRef: string }): Promise<void> {
    try {
      await this.stripe.paymentMethods.detach(ref.paymentMethodRef);
    } catch (err) {
      if (!(err instanceof Stripe.errors.StripeInvalidRequestError)) throw toProviderError(err);
      if (err.code === 'resource_missing') return;
      const method = await this.call(() => this.stripe.paymentMethods.retrieve(ref.paymentMethodRef));
      if (method.customer !== null) throw toProviderError(err);
    }
  }

  private verifiedEvent(rawBody: Buffer | string, meta: WebhookMeta): Stripe.Event {
    if (!meta.signature) throw new InvalidWebhookSignature('stripe', 'missing Stripe-Signature header');
    try {
      return this.stripe.webhooks.constructEvent(
        rawBody,
        meta.signature,
        this.opts.webhookSecret,
        // 0 turns stripe-node's timestamp check off.
        meta.anyAge ? 0 : this.opts.webhookToleranceSeconds,
      );
    } catch (err) {
      const reason = err instanceof Stripe.errors.StripeSignatureVerificationError ? err.message : 'unreadable payload';
      throw new InvalidWebhookSignature('stripe', reason.split('\n')[0]!);
    }
  }

  private async retrieveSession(id: string): Promise<Session> {
    return this.call(() => this.stripe.checkout.sessions.retrieve(id, { expand: ['payment_intent'] }));
  }

  private toCheckout(session: Session, depositId: string): ProviderCheckout {
    const owner = depositOf(session);
    if (owner !== depositId) {
      throw new PaymentProviderError('stripe', `session ${session.id} belongs to deposit ${owner}, not ${depositId}`, false);
    }
    return {
      providerRef: session.id,
      url: session.url,
      expiresAt: session.expires_at,
      amountNano: centsToNanos(session.amount_total ?? 0),
      state: sessionState(session, depositId, `stripe-poll:${session.id}:${session.status}:${session.payment_status}`),
    };
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      throw toProviderError(err);
    }
  }
}

/**
 * stripe-node takes host, port and protocol but fixes the `/v1/` path. A base with a path prefix
 * (the embedded sandbox is mounted under the service) gets an HTTP client that prepends it.
 */
function transportFor(apiBase: string | undefined): Stripe.StripeConfig {
  if (!apiBase) return {};
  const url = new URL(apiBase);
  const protocol = url.protocol === 'http:' ? 'http' : 'https';
  const prefix = url.pathname.replace(/\/+$/, '');
  return {
    host: url.hostname,
    port: url.port || (protocol === 'http' ? 80 : 443),
    protocol,
    ...(prefix ? { httpClient: new PathPrefixHttpClient(prefix) } : {}),
  };
}

class PathPrefixHttpClient extends Stripe.HttpClient {
  private readonly inner = Stripe.createNodeHttpClient();
  constructor(private readonly prefix: string) {
    super();
  }
  override getClientName(): string {
    return this.inner.getClientName();
  }
  override makeRequest(
    host: string,
    port: string,
    path: string,
    method: string,
    headers: Parameters<Stripe.HttpClient['makeRequest']>[4],
    requestData: string,
    protocol: string,
    timeout: number,
  ) {
    return this.inner.makeRequest(host, port, this.prefix + path, method, headers, requestData, protocol, timeout);
  }
}

const depositOf = (session: Session): string | null =>
  session.metadata?.deposit_id ?? session.client_reference_id ?? null;

/** What a session, read by polling, says about its deposit. */
function sessionState(session: Session, depositId: string, eventId: string): PaymentEvent {
  const base = {
    provider: 'stripe' as const,
    depositId,
    providerRef: session.id,
    providerStatus: `session ${session.status}/${session.payment_status}`,
    eventId,
  };
  if (session.status === 'expired') return { ...base, kind: 'expired' };
  if (session.status !== 'complete') return { ...base, kind: 'pending' };
  if (session.payment_status === 'paid') return paidOrReview(base, session);
  if (session.payment_status === 'no_payment_required') return { ...base, kind: 'review' };
  // Complete but unpaid: a delayed method is settling, unless its PaymentIntent already gave up.
  const intent = session.payment_intent;
  if (intent && typeof intent === 'object' && (intent.status === 'canceled' || intent.status === 'requires_payment_method')) {
    return { ...base, kind: 'failed', providerStatus: `${base.providerStatus} (payment ${intent.status})` };
  }
  return { ...base, kind: 'processing' };
}

/** The four Checkout events that matter for one-off payments; everything else concerns no deposit. */
function webhookEvent(event: Stripe.Event): PaymentEvent | null {
  const session = event.data?.object as Session | undefined;
  if (!session || session.object !== 'checkout.session' || session.mode !== 'payment') return null;
  const depositId = depositOf(session);
  if (!depositId) return null;
  const base = {
    provider: 'stripe' as const,
    depositId,
    providerRef: session.id,
    providerStatus: event.type,
    eventId: event.id,
  };
  switch (event.type) {
    case 'checkout.session.completed':
      // Delayed methods complete the session unpaid; their money arrives with async_payment_succeeded.
      if (session.payment_status === 'paid') return paidOrReview(base, session);
      if (session.payment_status === 'no_payment_required') return { ...base, kind: 'review' };
      return { ...base, kind: 'processing', providerStatus: `${event.type} (${session.payment_status})` };
    case 'checkout.session.async_payment_succeeded':
      return paidOrReview(base, session);
    case 'checkout.session.async_payment_failed':
      return { ...base, kind: 'failed' };
    case 'checkout.session.expired':
      return { ...base, kind: 'expired' };
    default:
      return null;
  }
}

function paidOrReview(base: Omit<PaymentEvent, 'kind'>, session: Session): PaymentEvent {
  // We only ever open USD sessions; anything else is not ours to convert.
  if (session.currency !== 'usd' || session.amount_total == null) {
    return { ...base, kind: 'review', providerStatus: `${base.providerStatus} (${session.currency} ${session.amount_total})` };
  }
  return { ...base, kind: 'paid', amountNano: centsToNanos(session.amount_total) };
}

function toProviderError(err: unknown): PaymentProviderError {
  if (err instanceof PaymentProviderError) return err;
  if (err instanceof Stripe.errors.StripeError) {
    const status = err.statusCode;
    const retryable =
      err instanceof Stripe.errors.StripeConnectionError ||
      err instanceof Stripe.errors.StripeAPIError ||
      err instanceof Stripe.errors.StripeRateLimitError ||
      status === 409 ||
      (status !== undefined && status >= 500);
    return new PaymentProviderError('stripe', `${err.type}: ${err.message}`, retryable, status);
  }
  return new PaymentProviderError('stripe', err instanceof Error ? err.message : String(err), true);
}
