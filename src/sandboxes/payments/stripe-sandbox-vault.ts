/**
 * Customers, saved cards, receipts, invoices and off-session PaymentIntents in the Stripe sandbox:
 * what Checkout does with `customer` / `customer_creation`, `payment_intent_data[setup_future_usage]`
 * and `invoice_creation[enabled]` when a session is paid, and what `POST /v1/payment_intents` with
 * `off_session=true&confirm=true` does with a saved card. Each test card behaves as Stripe's does
 * off-session: `visa` (4242…) succeeds, `declined` (4000 0000 0000 0341: attaches, then declines)
 * answers 402 `card_declined`, `authentication_required` (4000 0027 6000 3184) answers 402
 * `authentication_required`; both failures also send `payment_intent.payment_failed`.
 */
import { randomBytes } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';

/** `processing`: an off-session charge answers `processing` and has succeeded by the time it is read again. */
export type TestCard = 'visa' | 'declined' | 'authentication_required' | 'processing';

const CARDS: Record<TestCard, { brand: string; last4: string }> = {
  visa: { brand: 'visa', last4: '4242' },
  declined: { brand: 'visa', last4: '0341' },
  authentication_required: { brand: 'visa', last4: '3184' },
  processing: { brand: 'visa', last4: '0077' },
};

export interface SandboxCustomer {
  id: string;
  object: 'customer';
  email: string | null;
  created: number;
  livemode: false;
}

export interface SandboxPaymentMethod {
  id: string;
  object: 'payment_method';
  type: 'card';
  card: { brand: string; last4: string; exp_month: number; exp_year: number };
  customer: string | null;
  created: number;
  livemode: false;
  /** Sandbox only: how the card behaves when charged off-session. */
  test_card: TestCard;
}

export interface SandboxReceiptCharge {
  id: string;
  object: 'charge';
  amount: number;
  currency: string;
  payment_intent: string;
  payment_method: string;
  receipt_url: string;
  status: 'succeeded';
  livemode: false;
}

export interface SandboxInvoice {
  id: string;
  object: 'invoice';
  customer: string | null;
  customer_email: string | null;
  amount_paid: number;
  currency: string;
  status: 'paid';
  hosted_invoice_url: string;
  payment_intent: string;
  livemode: false;
}

export interface SandboxOffSessionIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  currency: string;
  customer: string;
  payment_method: string;
  status: 'succeeded' | 'requires_payment_method' | 'processing';
  latest_charge: string | null;
  last_payment_error: { type: 'card_error'; code: string; decline_code?: string; message: string } | null;
  metadata: Record<string, string>;
  created: number;
  livemode: false;
}

export interface VaultState {
  customers: Record<string, SandboxCustomer>;
  paymentMethods: Record<string, SandboxPaymentMethod>;
  receipts: Record<string, SandboxReceiptCharge>;
  invoices: Record<string, SandboxInvoice>;
  offSessionIntents: Record<string, SandboxOffSessionIntent>;
  /** Idempotency of off-session PaymentIntents, failures included (Stripe replays a 402 too). */
  intentKeys: Record<string, { fingerprint: string; status: number; body: unknown }>;
}

export interface VaultHost {
  state: VaultState;
  changed(): void;
  emit(type: string, object: unknown): void;
  /** Where receipts and invoices are shown (the sandbox's own base URL). */
  base(req?: Request): string;
}

/** What Checkout did with a paid session's card. */
export interface CheckoutPayment {
  customer: string | null;
  paymentMethod: string;
  charge: string;
  invoice: string | null;
}

export interface StripeVault {
  /** A Checkout session was paid by card: the charge and its receipt, the customer and card kept when asked, the invoice when enabled. */
  checkoutPaid(x: {
    intentId: string;
    amount: number;
    currency: string;
    email: string | null;
    customer: string | null;
    createCustomer: boolean;
    saveCard: boolean;
    invoice: boolean;
    card: TestCard;
    base: string;
  }): CheckoutPayment;
  charge(id: string): SandboxReceiptCharge | undefined;
  paymentMethod(id: string): SandboxPaymentMethod | undefined;
  invoice(id: string): SandboxInvoice | undefined;
  customer(id: string): SandboxCustomer | undefined;
  offSessionIntents(): SandboxOffSessionIntent[];
}

export function ensureVaultState<T extends object>(s: T & Partial<VaultState>): T & VaultState {
  s.customers ??= {};
  s.paymentMethods ??= {};
  s.receipts ??= {};
  s.invoices ??= {};
  s.offSessionIntents ??= {};
  s.intentKeys ??= {};
  return s as T & VaultState;
}

export function createStripeVault(host: VaultHost): StripeVault {
  const { state } = host;
  const now = () => Math.floor(Date.now() / 1000);

  function newCustomer(email: string | null): SandboxCustomer {
    const c: SandboxCustomer = { id: `cus_${token(14)}`, object: 'customer', email, created: now(), livemode: false };
    state.customers[c.id] = c;
    return c;
  }

  function newCharge(x: { amount: number; currency: string; intentId: string; paymentMethod: string; base: string }): SandboxReceiptCharge {
    const id = `ch_${token(24)}`;
    const charge: SandboxReceiptCharge = {
      id,
      object: 'charge',
      amount: x.amount,
      currency: x.currency,
      payment_intent: x.intentId,
      payment_method: x.paymentMethod,
      receipt_url: `${x.base}/receipts/${id}`,
      status: 'succeeded',
      livemode: false,
    };
    state.receipts[id] = charge;
    return charge;
  }

  return {
    checkoutPaid(x) {
      const customer = x.customer ?? (x.createCustomer || x.saveCard ? newCustomer(x.email).id : null);
      const pm: SandboxPaymentMethod = {
        id: `pm_${token(24)}`,
        object: 'payment_method',
        type: 'card',
        card: { ...CARDS[x.card], exp_month: 12, exp_year: new Date().getUTCFullYear() + 3 },
        // setup_future_usage attaches the card to the customer; otherwise it is used once.
        customer: x.saveCard ? customer : null,
        created: now(),
        livemode: false,
        test_card: x.card,
      };
      state.paymentMethods[pm.id] = pm;
      const charge = newCharge({ amount: x.amount, currency: x.currency, intentId: x.intentId, paymentMethod: pm.id, base: x.base });
      let invoice: string | null = null;
      if (x.invoice) {
        const id = `in_${token(24)}`;
        state.invoices[id] = {
          id,
          object: 'invoice',
          customer,
          customer_email: x.email,
          amount_paid: x.amount,
          currency: x.currency,
          status: 'paid',
          hosted_invoice_url: `${x.base}/invoices/${id}`,
          payment_intent: x.intentId,
          livemode: false,
        };
        invoice = id;
      }
      host.changed();
      return { customer, paymentMethod: pm.id, charge: charge.id, invoice };
    },
    charge: (id) => state.receipts[id],
    paymentMethod: (id) => state.paymentMethods[id],
    invoice: (id) => state.invoices[id],
    customer: (id) => state.customers[id],
    offSessionIntents: () => Object.values(state.offSessionIntents),
  };
}

/** The vault's part of Stripe's API, mounted before the sandbox's catch-all 404 under /v1. */
export function mountVault(router: Router, host: VaultHost, vault: StripeVault, stripeError: (res: Response, status: number, type: string, message: string, param?: string, code?: string) => void): void {
  const form = express.urlencoded({ extended: true, limit: '100kb' });
  const { state } = host;
  const now = () => Math.floor(Date.now() / 1000);
  const getter = (path: string, find: (id: string) => unknown, kind: string) =>
    router.get(path, (req, res) => {
      const found = find(String(req.params.id));
      if (!found) return stripeError(res, 404, 'invalid_request_error', `No such ${kind}: '${req.params.id}'`, 'id', 'resource_missing');
      res.json(found);
    });
  getter('/v1/customers/:id', vault.customer, 'customer');
  getter('/v1/payment_methods/:id', (id) => publicPaymentMethod(vault.paymentMethod(id)), 'payment_method');
  getter('/v1/charges/:id', vault.charge, 'charge');
  getter('/v1/invoices/:id', vault.invoice, 'invoice');
  router.get('/v1/payment_intents/:id', (req, res) => {
    const intent = state.offSessionIntents[String(req.params.id)];
    if (!intent) return stripeError(res, 404, 'invalid_request_error', `No such payment_intent: '${req.params.id}'`, 'id', 'resource_missing');
    if (intent.status === 'processing') succeed(intent, host.base(req));
    const expandCharge = expansions(req).includes('latest_charge') && intent.latest_charge;
    res.json(expandCharge ? { ...intent, latest_charge: state.receipts[intent.latest_charge!] } : intent);
  });

  router.post('/v1/payment_methods/:id/detach', (req, res) => {
    const pm = state.paymentMethods[String(req.params.id)];
    if (!pm) return stripeError(res, 404, 'invalid_request_error', `No such PaymentMethod: '${req.params.id}'`, 'id', 'resource_missing');
    // As Stripe: a card no longer attached cannot be detached again.
    if (!pm.customer) return stripeError(res, 400, 'invalid_request_error', 'The payment method you provided is not attached to a customer so detachment is impossible.');
    pm.customer = null;
    host.changed();
    res.json(publicPaymentMethod(pm));
  });

  router.post('/v1/payment_intents', form, (req, res) => {
    const p = (req.body ?? {}) as Record<string, unknown>;
    const key = req.get('idempotency-key');
    const fingerprint = JSON.stringify(p);
    if (key) {
      const seen = state.intentKeys[key];
      if (seen && seen.fingerprint !== fingerprint) {
        return stripeError(res, 400, 'idempotency_error', `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`);
      }
      if (seen) return void res.status(seen.status).set('idempotent-replayed', 'true').json(seen.body);
    }
    const answer = (status: number, body: unknown) => {
      if (key) state.intentKeys[key] = { fingerprint, status, body };
      host.changed();
      res.status(status).json(body);
    };
    const amount = Number(p.amount);
    if (!Number.isSafeInteger(amount) || amount < 50) return stripeError(res, 400, 'invalid_request_error', 'Invalid integer: amount', 'amount', 'parameter_invalid_integer');
    if (p.confirm !== 'true' || p.off_session !== 'true') {
      return stripeError(res, 400, 'invalid_request_error', 'This sandbox creates off-session PaymentIntents only (confirm=true, off_session=true).', 'off_session');
    }
    const pm = state.paymentMethods[String(p.payment_method)];
    if (!pm) return stripeError(res, 400, 'invalid_request_error', `No such PaymentMethod: '${p.payment_method}'`, 'payment_method', 'resource_missing');
    if (!pm.customer || pm.customer !== p.customer) {
      return stripeError(res, 400, 'invalid_request_error', 'The provided PaymentMethod is not attached to this customer.', 'payment_method');
    }
    const metadata = typeof p.metadata === 'object' && p.metadata ? (p.metadata as Record<string, string>) : {};
    const intent: SandboxOffSessionIntent = {
      id: `pi_${token(24)}`,
      object: 'payment_intent',
      amount,
      currency: String(p.currency ?? 'usd').toLowerCase(),
      customer: pm.customer,
      payment_method: pm.id,
      status: 'succeeded',
      latest_charge: null,
      last_payment_error: null,
      metadata,
      created: now(),
      livemode: false,
    };
    state.offSessionIntents[intent.id] = intent;
    if (pm.test_card === 'processing') {
      intent.status = 'processing';
      return answer(200, intent);
    }
    if (pm.test_card !== 'visa') {
      const code = pm.test_card === 'declined' ? 'card_declined' : 'authentication_required';
      const message = code === 'card_declined' ? 'Your card was declined.' : 'Your card was declined. This transaction requires authentication.';
      intent.status = 'requires_payment_method';
      intent.last_payment_error = { type: 'card_error', code, ...(code === 'card_declined' ? { decline_code: 'generic_decline' } : { decline_code: 'authentication_required' }), message };
      host.emit('payment_intent.payment_failed', intent);
      return answer(402, { error: { type: 'card_error', code, decline_code: intent.last_payment_error.decline_code, message, payment_intent: intent } });
    }
    succeed(intent, host.base(req));
    answer(200, intent);
  });

  /** The charge of a PaymentIntent that went through: its receipt, and the webhook Stripe sends. */
  function succeed(intent: SandboxOffSessionIntent, base: string) {
    const charge: SandboxReceiptCharge = {
      id: `ch_${token(24)}`,
      object: 'charge',
      amount: intent.amount,
      currency: intent.currency,
      payment_intent: intent.id,
      payment_method: intent.payment_method,
      receipt_url: '',
      status: 'succeeded',
      livemode: false,
    };
    charge.receipt_url = `${base}/receipts/${charge.id}`;
    state.receipts[charge.id] = charge;
    intent.status = 'succeeded';
    intent.latest_charge = charge.id;
    host.emit('payment_intent.succeeded', intent);
    host.changed();
  }

  router.get('/receipts/:id', (req, res) => {
    const charge = state.receipts[String(req.params.id)];
    if (!charge) return void res.status(404).type('text/plain').send('No such receipt.');
    res.type('text/plain').send(`Receipt ${charge.id}: ${(charge.amount / 100).toFixed(2)} ${charge.currency.toUpperCase()} paid.`);
  });
  router.get('/invoices/:id', (req, res) => {
    const invoice = state.invoices[String(req.params.id)];
    if (!invoice) return void res.status(404).type('text/plain').send('No such invoice.');
    res.type('text/plain').send(`Invoice ${invoice.id}: ${(invoice.amount_paid / 100).toFixed(2)} ${invoice.currency.toUpperCase()} paid.`);
  });
}

/** A payment method as Stripe shows it (the sandbox's test behaviour stays inside). */
function publicPaymentMethod(pm: SandboxPaymentMethod | undefined): Omit<SandboxPaymentMethod, 'test_card'> | undefined {
  if (!pm) return undefined;
  const { test_card: _hidden, ...shown } = pm;
  return shown;
}

function expansions(req: Request): string[] {
  const query = new URL(req.originalUrl, 'http://sandbox').searchParams;
  return [...query.entries()].filter(([k]) => /^expand\[\d*\]$/.test(k)).map(([, v]) => v);
}

const ALPHANUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function token(length: number): string {
  return [...randomBytes(length)].map((b) => ALPHANUM[b % ALPHANUM.length]).join('');
}
