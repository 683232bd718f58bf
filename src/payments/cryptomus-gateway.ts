/**
 * Crypto deposits through Cryptomus invoices, over plain fetch. Every call is a signed POST whose
 * exact bytes are the ones signed (serialize once, sign, send those bytes).
 */
import { formatUsd, InvalidAmount, nanosToCents, parseUsd } from '../ledger/money.js';
import { type CryptomusPayment, cryptomusSign, phpJson, verifiedWebhookBody } from './cryptomus-protocol.js';
import {
  type CheckoutRequest,
  InvalidWebhookSignature,
  type PaymentEvent,
  type PaymentGateway,
  PaymentProviderError,
  type ProviderCheckout,
  type WebhookMeta,
} from './payment-gateway.js';
import { refundReversalId, type ReversalEvent } from './reversal.js';

export { cryptomusSign, phpJson } from './cryptomus-protocol.js';

export interface CryptomusGatewayOptions {
  merchantId: string;
  apiKey: string;
  /** Origin of the API, e.g. https://api.cryptomus.com; a trailing "/" or "/v1" is tolerated. */
  baseUrl?: string;
  /** Where Cryptomus posts status changes (PUBLIC_URL + /webhooks/cryptomus). */
  callbackUrl: string;
  /** Optional allowlist of webhook source addresses; empty means the signature alone decides. */
  webhookIps?: readonly string[];
  timeoutMs?: number;
  /** Cryptomus' lower bound on an invoice's lifetime (300 s); a local server may allow less. */
  minLifetimeSeconds?: number;
}

const MIN_LIFETIME = 300;
const MAX_LIFETIME = 43_200;

export class CryptomusGateway implements PaymentGateway {
  readonly provider = 'cryptomus' as const;
  private readonly base: string;

  constructor(private readonly opts: CryptomusGatewayOptions) {
    this.base = (opts.baseUrl ?? 'https://api.cryptomus.com').replace(/\/+$/, '').replace(/\/v1$/, '');
  }

  async createCheckout(req: CheckoutRequest): Promise<ProviderCheckout> {
    nanosToCents(req.amountNano); // an invoice amount has at most two decimals
    const lifetime = Math.min(
      MAX_LIFETIME,
      Math.max(this.opts.minLifetimeSeconds ?? MIN_LIFETIME, req.expiresAt - Math.floor(Date.now() / 1000)),
    );
    // order_id is the deposit id: Cryptomus answers a repeated order_id with the existing invoice,
    // which makes a retried create harmless.
    const payment = await this.call<CryptomusPayment>('/v1/payment', {
      amount: formatUsd(req.amountNano),
      currency: 'USD',
      order_id: req.depositId,
      ...(req.coin ? { to_currency: req.coin } : {}),
      ...(req.network ? { network: req.network } : {}),
      url_callback: this.opts.callbackUrl,
      url_return: req.cancelUrl,
      url_success: req.successUrl,
      lifetime,
    });
    return this.toCheckout(payment, req.depositId);
  }

  async retrieveCheckout(ref: { depositId: string; providerRef: string }): Promise<ProviderCheckout> {
    return this.toCheckout(await this.paymentInfo({ uuid: ref.providerRef }), ref.depositId);
  }

  /** Cryptomus has no call to cancel an invoice: it ends by itself at expiry. */
  closeCheckout(ref: { depositId: string; providerRef: string }): Promise<ProviderCheckout> {
    return this.retrieveCheckout(ref);
  }

  private verified(rawBody: Buffer | string, meta: WebhookMeta) {
    const allow = this.opts.webhookIps ?? [];
    if (allow.length > 0 && !(meta.sourceIp && allow.includes(normalizeIp(meta.sourceIp)))) {
      throw new InvalidWebhookSignature('cryptomus', `source address ${meta.sourceIp ?? 'unknown'} not allowed`);
    }
    const body = verifiedWebhookBody(rawBody.toString(), this.opts.apiKey);
    if (!body) throw new InvalidWebhookSignature('cryptomus', 'missing or wrong sign');
    return body;
  }

  /** POST /v1/payment/info; if both are given Cryptomus lets order_id win. */
  paymentInfo(query: { uuid: string } | { order_id: string }): Promise<CryptomusPayment> {
    return this.call<CryptomusPayment>('/v1/payment/info', query);
  }

  /** Asks Cryptomus to send the webhook of a finalized invoice again (paid, paid_over, wrong_amount). */
  async resendWebhook(query: { uuid: string } | { order_id: string }): Promise<void> {
    await this.call<unknown>('/v1/payment/resend', query);
  }

  parseWebhook(rawBody: Buffer | string, meta: WebhookMeta): PaymentEvent | null {
    const body = this.verified(rawBody, meta);
    if (body.type !== 'payment' || typeof body.order_id !== 'string' || typeof body.uuid !== 'string') return null;
    const status = String(body.status);
    return cryptomusOutcome(
      {
        depositId: body.order_id,
        uuid: body.uuid,
        status,
        isFinal: body.is_final === true,
        amount: body.amount,
        currency: body.currency,
        paymentAmountUsd: body.payment_amount_usd,
      },
      `${body.uuid}:${status}`,
    );
  }

  /**
   * `refund_paid` (final) is money returned to the payer: Cryptomus refunds the whole payment, so
   * the reversal is the invoice amount (capped at what was credited by the workflow).
   * `refund_process` and `refund_fail` move no money and are only recorded on the deposit.
   */
  parseReversal(rawBody: Buffer | string, meta: WebhookMeta): ReversalEvent | null {
    const body = this.verified(rawBody, meta);
    if (body.type !== 'payment' || body.status !== 'refund_paid' || typeof body.order_id !== 'string' || typeof body.uuid !== 'string') return null;
    const amount = usdAmount(body.amount, body.currency);
    if (amount === null || amount <= 0n) return null;
    return {
      provider: 'cryptomus',
      kind: 'refund',
      reversalId: refundReversalId(body.uuid),
      paymentRef: body.uuid,
      depositId: body.order_id,
      amountNano: amount,
      providerStatus: 'refund_paid',
      eventId: `${body.uuid}:refund_paid`,
    };
  }

  private toCheckout(payment: CryptomusPayment, depositId: string): ProviderCheckout {
    if (payment.order_id !== depositId) {
      throw new PaymentProviderError('cryptomus', `invoice ${payment.uuid} belongs to order ${payment.order_id}, not ${depositId}`, false);
    }
    const state = cryptomusOutcome(
      {
        depositId,
        uuid: payment.uuid,
        status: payment.status,
        isFinal: payment.is_final,
        amount: payment.amount,
        currency: payment.currency,
        // Payment info carries no USD value of what arrived; only the webhook does.
        paymentAmountUsd: undefined,
      },
      `cryptomus-poll:${payment.uuid}:${payment.status}`,
    );
    return {
      providerRef: payment.uuid,
      url: payment.is_final ? null : payment.url,
      expiresAt: payment.expired_at,
      amountNano: parseUsd(payment.amount),
      state,
    };
  }

  private async call<T>(path: string, payload: object): Promise<T> {
    const body = phpJson(payload);
    let res: Response;
    try {
      res = await fetch(this.base + path, {
        method: 'POST',
        headers: {
          merchant: this.opts.merchantId,
          sign: cryptomusSign(body, this.opts.apiKey),
          'content-type': 'application/json',
          accept: 'application/json',
        },
        body,
        signal: AbortSignal.timeout(this.opts.timeoutMs ?? 20_000),
      });
    } catch (err) {
      throw new PaymentProviderError('cryptomus', `${path}: ${err instanceof Error ? err.message : String(err)}`, true);
    }
    const text = await res.text();
    let json: { state?: number; result?: T; message?: string; errors?: Record<string, string[]> } | null = null;
    try {
      json = JSON.parse(text);
    } catch {
      json = null;
    }
    // Like the official PHP SDK: anything but HTTP 200 with state 0 is a failure.
    if (res.status === 200 && json?.state === 0) return json.result as T;
    const detail = json?.message ?? (json?.errors ? JSON.stringify(json.errors) : `HTTP ${res.status}`);
    const retryable = res.status >= 500 || res.status === 429 || (res.status === 200 && json === null);
    throw new PaymentProviderError('cryptomus', `${path}: ${detail}`, retryable, res.status);
  }
}

export interface CryptomusStatusReport {
  depositId: string;
  uuid: string;
  status: string;
  isFinal: boolean;
  amount: unknown;
  currency: unknown;
  paymentAmountUsd: unknown;
}

/**
 * Our policy per Cryptomus status. `paid` and `paid_over` credit the invoice amount: the tier the
 * customer chose (an excess is credited by ops on a support request). `wrong_amount` (underpaid and
 * final) credits the USD value that actually arrived, `payment_amount_usd`, never more than the
 * invoice; without that value (it exists only in webhooks) the deposit goes to review.
 * `confirm_check` never credits: the transaction is not confirmed yet.
 */
export function cryptomusOutcome(report: CryptomusStatusReport, eventId: string): PaymentEvent {
  const base = {
    provider: 'cryptomus' as const,
    depositId: report.depositId,
    providerRef: report.uuid,
    providerStatus: report.status,
    eventId,
  };
  switch (report.status) {
    case 'check':
      return { ...base, kind: 'pending' };
    case 'process':
    case 'confirm_check':
    case 'wrong_amount_waiting':
      return { ...base, kind: 'processing' };
    case 'paid':
    case 'paid_over': {
      const invoice = usdAmount(report.amount, report.currency);
      return invoice === null ? { ...base, kind: 'review' } : { ...base, kind: 'paid', amountNano: invoice };
    }
    case 'wrong_amount': {
      const invoice = usdAmount(report.amount, report.currency);
      const received = usdAmount(report.paymentAmountUsd, 'USD');
      if (invoice === null || received === null || received <= 0n) return { ...base, kind: 'review' };
      return { ...base, kind: 'paid', amountNano: received < invoice ? received : invoice };
    }
    case 'cancel':
      return { ...base, kind: 'expired' };
    case 'fail':
    case 'system_fail':
      return { ...base, kind: 'failed' };
    case 'locked':
      // Funds held by AML checks: money arrived but is not ours to credit until released.
      return { ...base, kind: report.isFinal ? 'review' : 'processing' };
    default:
      // refund_* and statuses added later: no credit; their finality is Cryptomus' to say.
      return { ...base, kind: report.isFinal ? 'review' : 'pending' };
  }
}

function usdAmount(amount: unknown, currency: unknown): bigint | null {
  if (currency !== 'USD' || typeof amount !== 'string') return null;
  try {
    return parseUsd(amount);
  } catch (err) {
    if (err instanceof InvalidAmount) return null;
    throw err;
  }
}

/** "::ffff:1.2.3.4" (IPv4 seen on a dual-stack socket) compares as "1.2.3.4". */
const normalizeIp = (ip: string): string => ip.replace(/^::ffff:/, '');
