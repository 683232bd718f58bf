/**
 * A local, stateful server speaking the part of Stripe's API that card deposits use
 * (Checkout Sessions: create with idempotency, retrieve with `expand`, expire), with a hosted
 * checkout page and webhooks signed like Stripe's (`Stripe-Signature: t=…,v1=HMAC-SHA256`).
 * The real adapter (stripe-node) talks to it unchanged. Mounted in the service as the embedded
 * default; started on an ephemeral port by tests.
 */
import { createHmac, randomBytes } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import { renderCheckoutPage } from './checkout-page.js';
import { JsonStateFile } from './json-state-file.js';
import { createStripeReversals, mountReversalControl, type ReversalState, ReversalStateError, type StripeReversals } from './stripe-sandbox-reversals.js';
import { mountWebhookControl, type OutboundWebhook, WebhookOutbox } from './webhook-outbox.js';
import { createStripeVault, ensureVaultState, mountVault, type StripeVault, type TestCard, type VaultState } from './stripe-sandbox-vault.js';

export interface StripeSandboxOptions {
  /** The only API key accepted (Authorization: Bearer …). */
  secretKey: string;
  /** The endpoint secret (whsec_…) webhooks are signed with. */
  webhookSecret: string;
  /** The webhook endpoint, as registered in a Stripe dashboard. */
  webhookUrl: string;
  /** Base of the hosted page URLs; by default the address the API was called on. */
  publicUrl?: string;
  /** JSON snapshot of the state; in memory only when unset. */
  statePath?: string;
  /** Stripe requires expires_at at least 30 minutes ahead; tests may lower it. */
  minExpirySeconds?: number;
  retryDelaysMs?: readonly number[];
  /** How often open sessions past expires_at are expired (and their event sent). */
  sweepIntervalMs?: number;
}

export type SessionStatus = 'open' | 'complete' | 'expired';
export type PaymentStatus = 'paid' | 'unpaid' | 'no_payment_required';

export interface SandboxPaymentIntent {
  id: string;
  object: 'payment_intent';
  amount: number;
  currency: string;
  status: 'processing' | 'succeeded' | 'requires_payment_method';
  metadata: Record<string, string>;
  customer: string | null;
  payment_method: string | null;
  latest_charge: string | null;
  setup_future_usage: 'off_session' | 'on_session' | null;
}

export interface SandboxSession {
  id: string;
  object: 'checkout.session';
  amount_subtotal: number;
  amount_total: number;
  cancel_url: string | null;
  client_reference_id: string | null;
  created: number;
  currency: string;
  customer: string | null;
  customer_email: string | null;
  invoice: string | null;
  expires_at: number;
  livemode: false;
  metadata: Record<string, string>;
  mode: 'payment';
  payment_intent: string | null;
  payment_status: PaymentStatus;
  status: SessionStatus;
  success_url: string | null;
  url: string | null;
}

interface StoredSession {
  session: SandboxSession;
  /** The product name shown on the hosted page. */
  title: string;
  intentMetadata: Record<string, string>;
  intent: SandboxPaymentIntent | null;
  apiVersion: string;
  /** payment_intent_data[setup_future_usage], customer_creation=always, invoice_creation[enabled]. */
  setupFutureUsage?: 'off_session' | 'on_session' | null;
  createCustomer?: boolean;
  invoiceCreation?: boolean;
  /** Where this session's pages (and so its receipts) are served. */
  base?: string;
}

interface State extends ReversalState, VaultState {
  sessions: Record<string, StoredSession>;
  idempotency: Record<string, { fingerprint: string; body: unknown }>;
  webhooks: OutboundWebhook[];
}

export type PayerChoice = 'card' | 'delayed';

export interface StripeSandbox {
  router: Router;
  webhooks: WebhookOutbox;
  session(id: string): SandboxSession | undefined;
  sessions(): SandboxSession[];
  /**
   * What the payer does on the hosted page: pay by card, or with a delayed method that settles
   * later. `card` picks the test card (how it behaves when charged off-session later).
   */
  pay(id: string, choice: PayerChoice, card?: TestCard): SandboxSession;
  /** The delayed method settles: async_payment_succeeded or async_payment_failed. */
  settle(id: string, succeeded: boolean): SandboxSession;
  expire(id: string): SandboxSession;
  setWebhookUrl(url: string): void;
  /** Disputes and refunds of paid sessions (stripe-sandbox-reversals.ts). */
  reversals: StripeReversals;
  /** Customers, saved cards, receipts, invoices, off-session PaymentIntents (stripe-sandbox-vault.ts). */
  vault: StripeVault;
  close(): Promise<void>;
}

const DEFAULT_API_VERSION = '2026-10-28.endive';
const DAY = 86_400;

class SandboxStateError extends Error {}

export function createStripeSandbox(opts: StripeSandboxOptions): StripeSandbox {
  const file = new JsonStateFile<State>(opts.statePath, (): State => ensureVaultState({ sessions: {}, idempotency: {}, webhooks: [] as OutboundWebhook[], charges: {}, disputes: {} }));
  const state = file.state;
  // A state file written before disputes and refunds existed has neither.
  state.charges ??= {};
  state.disputes ??= {};
  ensureVaultState(state);
  let webhookUrl = opts.webhookUrl;
  const webhooks = new WebhookOutbox({
    store: state.webhooks,
    onChange: () => file.changed(),
    retryDelaysMs: opts.retryDelaysMs,
    headers: (body) => {
      const t = Math.floor(Date.now() / 1000);
      const v1 = createHmac('sha256', opts.webhookSecret).update(`${t}.${body}`).digest('hex');
      return { 'stripe-signature': `t=${t},v1=${v1}`, 'user-agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)' };
    },
  });
  const minExpiry = opts.minExpirySeconds ?? 1800;
  const now = () => Math.floor(Date.now() / 1000);

  function emit(stored: StoredSession, type: string): void {
    emitObject(type, stored.session, stored.apiVersion);
  }

  function emitObject(type: string, object: unknown, apiVersion: string = DEFAULT_API_VERSION): void {
    const event = {
      id: `evt_${token(24)}`,
      object: 'event',
      api_version: apiVersion,
      created: now(),
      data: { object },
      livemode: false,
      pending_webhooks: 1,
      request: { id: null, idempotency_key: null },
      type,
    };
    webhooks.enqueue(event.id, webhookUrl, JSON.stringify(event, null, 2));
  }

  function find(id: string): StoredSession {
    const stored = state.sessions[id];
    if (!stored) throw new NotFound(`No such checkout.session: '${id}'`);
    expireIfDue(stored);
    return stored;
  }

  function expireIfDue(stored: StoredSession): void {
    if (stored.session.status === 'open' && stored.session.expires_at <= now()) close(stored);
  }

  function close(stored: StoredSession): void {
    stored.session.status = 'expired';
    stored.session.url = null;
    file.changed();
    emit(stored, 'checkout.session.expired');
  }

  function requireOpen(stored: StoredSession): void {
    if (stored.session.status !== 'open') {
      throw new SandboxStateError(`This Checkout Session is ${stored.session.status}; only open sessions can be paid or expired.`);
    }
  }

  const vaultHost = {
    state,
    changed: () => file.changed(),
    emit: (type: string, object: unknown) => emitObject(type, object),
    base: (req?: Request) => opts.publicUrl?.replace(/\/+$/, '') ?? (req ? `${req.protocol}://${req.get('host')}${req.baseUrl}` : ''),
  };
  const vault = createStripeVault(vaultHost);

  const sandbox: StripeSandbox = {
    router: express.Router(),
    webhooks,
    session: (id) => state.sessions[id]?.session,
    sessions: () => Object.values(state.sessions).map((s) => s.session),
    pay(id, choice, card = 'visa') {
      const stored = find(id);
      requireOpen(stored);
      const s = stored.session;
      stored.intent = {
        id: `pi_${token(24)}`,
        object: 'payment_intent',
        amount: s.amount_total,
        currency: s.currency,
        status: choice === 'card' ? 'succeeded' : 'processing',
        metadata: stored.intentMetadata,
        customer: s.customer,
        payment_method: null,
        latest_charge: null,
        setup_future_usage: stored.setupFutureUsage ?? null,
      };
      if (choice === 'card') {
        const paid = vault.checkoutPaid({
          intentId: stored.intent.id,
          amount: s.amount_total,
          currency: s.currency,
          email: s.customer_email,
          customer: s.customer,
          createCustomer: stored.createCustomer ?? false,
          saveCard: stored.setupFutureUsage === 'off_session' || stored.setupFutureUsage === 'on_session',
          invoice: stored.invoiceCreation ?? false,
          card,
          base: stored.base ?? vaultHost.base(),
        });
        s.customer = paid.customer;
        s.invoice = paid.invoice;
        Object.assign(stored.intent, { customer: paid.customer, payment_method: paid.paymentMethod, latest_charge: paid.charge });
      }
      s.payment_intent = stored.intent.id;
      s.status = 'complete';
      s.payment_status = choice === 'card' ? 'paid' : 'unpaid';
      s.url = null;
      file.changed();
      emit(stored, 'checkout.session.completed');
      return s;
    },
    settle(id, succeeded) {
      const stored = find(id);
      if (stored.intent?.status !== 'processing') throw new SandboxStateError('No delayed payment is processing for this session.');
      stored.intent.status = succeeded ? 'succeeded' : 'requires_payment_method';
      if (succeeded) stored.session.payment_status = 'paid';
      file.changed();
      emit(stored, succeeded ? 'checkout.session.async_payment_succeeded' : 'checkout.session.async_payment_failed');
      return stored.session;
    },
    expire(id) {
      const stored = find(id);
      requireOpen(stored);
      close(stored);
      return stored.session;
    },
    setWebhookUrl(url) {
      webhookUrl = url;
    },
    reversals: createStripeReversals({
      state,
      changed: () => file.changed(),
      paidIntent(sessionId) {
        const stored = find(sessionId);
        if (stored.intent?.status !== 'succeeded') throw new ReversalStateError('This Checkout Session has no succeeded payment to dispute or refund.');
        return { id: stored.intent.id, amount: stored.intent.amount, currency: stored.intent.currency };
      },
      emit: (type, object) => emitObject(type, object),
    }),
    vault,
    async close() {
      clearInterval(sweep);
      await webhooks.close();
      file.flush();
    },
  };

  const sweep = setInterval(() => {
    for (const stored of Object.values(state.sessions)) expireIfDue(stored);
  }, opts.sweepIntervalMs ?? 1000);
  sweep.unref();
  webhooks.resume();

  mountApi(sandbox.router, { opts, state, file, sandbox, find, minExpiry, now, mountVault: (router) => mountVault(router, vaultHost, vault, stripeError) });
  return sandbox;
}

interface ApiContext {
  opts: StripeSandboxOptions;
  state: State;
  file: JsonStateFile<State>;
  sandbox: StripeSandbox;
  find: (id: string) => StoredSession;
  minExpiry: number;
  now: () => number;
  mountVault: (router: Router) => void;
}

function mountApi(router: Router, ctx: ApiContext): void {
  const form = express.urlencoded({ extended: true, limit: '100kb' });
  const { sandbox, state } = ctx;

  router.use('/v1', (req, res, next) => {
    const key = /^Bearer (.+)$/.exec(req.get('authorization') ?? '')?.[1];
    if (key !== ctx.opts.secretKey) {
      const shown = key ? `${key.slice(0, 7)}${'*'.repeat(Math.max(0, key.length - 11))}${key.slice(-4)}` : '';
      return stripeError(res, 401, 'invalid_request_error', `Invalid API Key provided: ${shown}`);
    }
    next();
  });

  router.post('/v1/checkout/sessions', form, (req, res) => {
    idempotent(req, res, ctx, () => {
      const stored = createSession(req, ctx);
      ctx.state.sessions[stored.session.id] = stored;
      return stored.session;
    });
  });

  // Stripe lists sessions by the PaymentIntent they created (how a dispute finds its checkout).
  router.get('/v1/checkout/sessions', (req, res) => {
    const intent = typeof req.query.payment_intent === 'string' ? req.query.payment_intent : undefined;
    const data = sandbox.sessions().filter((s) => intent === undefined || s.payment_intent === intent);
    res.json({ object: 'list', data, has_more: false, url: '/v1/checkout/sessions' });
  });

  router.get('/v1/checkout/sessions/:id', (req, res) => {
    handle(res, () => withExpansions(ctx.find(String(req.params.id)), expansions(req), ctx.state));
  });

  router.post('/v1/checkout/sessions/:id/expire', form, (req, res) => {
    idempotent(req, res, ctx, () => sandbox.expire(String(req.params.id)));
  });

  ctx.mountVault(router);

  router.use('/v1', (req, res) =>
    stripeError(res, 404, 'invalid_request_error', `Unrecognized request URL (${req.method}: /v1${req.path}).`),
  );

  // The hosted checkout page a person sees at the session's `url`.
  router.get('/pay/:id', (req, res) => {
    const stored = state.sessions[String(req.params.id)];
    if (!stored) return void res.status(404).type('text/plain').send('No such checkout session.');
    ctx.find(stored.session.id);
    const s = stored.session;
    res.type('html').send(
      renderCheckoutPage({
        provider: 'Stripe',
        title: stored.title,
        amount: `${Math.floor(s.amount_total / 100)}.${String(s.amount_total % 100).padStart(2, '0')} ${s.currency.toUpperCase()}`,
        details: [
          ['Session', s.id],
          ['Status', `${s.status} / ${s.payment_status}`],
          ['Expires', new Date(s.expires_at * 1000).toISOString()],
        ],
        formAction: `${req.baseUrl}/pay/${encodeURIComponent(s.id)}`,
        actions:
          s.status !== 'open'
            ? null
            : [
                { value: 'card', label: 'Pay by card', hint: 'Test card 4242 4242 4242 4242: succeeds at once.' },
                { value: 'card_declines_later', label: 'Pay by a card that declines later', hint: 'Test card 4000 0000 0000 0341: this payment succeeds, off-session charges are declined.' },
                { value: 'delayed_fail', label: 'Pay by bank debit that bounces', hint: 'Completes unpaid, then the payment fails.' },
                { value: 'expire', label: 'Cancel payment', hint: 'Ends the checkout session unpaid (expired).' },
              ],
      }),
    );
  });

  router.post('/pay/:id', form, (req, res) => {
    const id = String(req.params.id);
    const action = String((req.body as Record<string, unknown>)?.action ?? '');
    try {
      const stored = ctx.find(id);
      if (action === 'card') sandbox.pay(id, 'card');
      else if (action === 'card_declines_later') sandbox.pay(id, 'card', 'declined');
      else if (action === 'delayed_fail') {
        sandbox.pay(id, 'delayed');
        sandbox.settle(id, false);
      } else if (action === 'expire') sandbox.expire(id);
      else return void res.status(400).type('text/plain').send('Unknown action.');
      const target = action.startsWith('card') ? stored.session.success_url : stored.session.cancel_url;
      res.redirect(303, target ? target.replace('{CHECKOUT_SESSION_ID}', id) : `${req.baseUrl}/pay/${encodeURIComponent(id)}`);
    } catch (err) {
      if (err instanceof NotFound) return void res.status(404).type('text/plain').send(err.message);
      if (err instanceof SandboxStateError) return void res.redirect(303, `${req.baseUrl}/pay/${encodeURIComponent(id)}`);
      throw err;
    }
  });

  mountControl(router, sandbox);
}

/** Test and operator controls of the sandbox itself: not part of Stripe's API. */
function mountControl(router: Router, sandbox: StripeSandbox): void {
  const json = express.json();
  router.get('/_sandbox/checkout/sessions', (_req, res) => void res.json({ data: sandbox.sessions() }));
  router.post('/_sandbox/checkout/sessions/:id/pay', json, (req, res) => {
    const choice = req.body?.method === 'delayed' ? 'delayed' : 'card';
    const card = (['visa', 'declined', 'authentication_required', 'processing'] as const).find((c) => c === req.body?.card) ?? 'visa';
    handle(res, () => sandbox.pay(String(req.params.id), choice, card));
  });
  router.post('/_sandbox/checkout/sessions/:id/settle', json, (req, res) => {
    handle(res, () => sandbox.settle(String(req.params.id), req.body?.succeeded !== false));
  });
  router.post('/_sandbox/checkout/sessions/:id/expire', (req, res) => {
    handle(res, () => sandbox.expire(String(req.params.id)));
  });
  mountReversalControl(router, sandbox.reversals, handle);
  mountWebhookControl(router, sandbox.webhooks);
}

class NotFound extends Error {}

function handle(res: Response, fn: () => unknown): void {
  try {
    res.json(fn());
  } catch (err) {
    if (err instanceof NotFound) return stripeError(res, 404, 'invalid_request_error', err.message, 'id', 'resource_missing');
    if (err instanceof SandboxStateError || err instanceof ReversalStateError) return stripeError(res, 400, 'invalid_request_error', err.message);
    if (err instanceof ParamError) return stripeError(res, 400, 'invalid_request_error', err.message, err.param, err.code);
    throw err;
  }
}

/**
 * Stripe's idempotency: the first successful result of a key is replayed for every repeat with
 * the same parameters; a repeat with other parameters is refused. Validation failures are not
 * stored, so a corrected request may reuse its key.
 */
function idempotent(req: Request, res: Response, ctx: ApiContext, fn: () => unknown): void {
  const key = req.get('idempotency-key');
  const fingerprint = `${req.method} ${req.path} ${JSON.stringify(req.body ?? {})}`;
  if (key) {
    const seen = ctx.state.idempotency[key];
    if (seen && seen.fingerprint !== fingerprint) {
      return stripeError(
        res,
        400,
        'idempotency_error',
        `Keys for idempotent requests can only be used with the same parameters they were first used with. Try using a key other than '${key}' if you meant to execute a different request.`,
      );
    }
    if (seen) return void res.set('idempotent-replayed', 'true').json(seen.body);
  }
  handle(res, () => {
    const body = structuredClone(fn());
    if (key) {
      ctx.state.idempotency[key] = { fingerprint, body };
      ctx.file.changed();
    }
    return body;
  });
}

class ParamError extends Error {
  constructor(readonly param: string, message: string, readonly code = 'parameter_invalid') {
    super(message);
  }
}

function createSession(req: Request, ctx: ApiContext): StoredSession {
  const p = (req.body ?? {}) as Record<string, unknown>;
  if (p.mode !== 'payment') throw new ParamError('mode', 'This sandbox supports `mode=payment` only.', 'parameter_missing');
  const items = Array.isArray(p.line_items) ? (p.line_items as Record<string, unknown>[]) : [];
  if (items.length === 0) throw new ParamError('line_items', 'Missing required param: line_items.', 'parameter_missing');
  let total = 0;
  let currency = '';
  let title = '';
  items.forEach((item, i) => {
    const price = item?.price_data as Record<string, unknown> | undefined;
    const name = (price?.product_data as Record<string, unknown> | undefined)?.name;
    const unit = integer(price?.unit_amount, `line_items[${i}][price_data][unit_amount]`);
    const quantity = integer(item?.quantity, `line_items[${i}][quantity]`);
    if (!price || typeof name !== 'string' || name === '') {
      throw new ParamError(`line_items[${i}][price_data]`, 'Each line item needs price_data with product_data[name].', 'parameter_missing');
    }
    const c = String(price.currency ?? '').toLowerCase();
    if (!/^[a-z]{3}$/.test(c)) throw new ParamError(`line_items[${i}][price_data][currency]`, 'Invalid currency.');
    if (currency && c !== currency) throw new ParamError('line_items', 'All line items must use the same currency.');
    if (unit < 0 || quantity < 1) throw new ParamError(`line_items[${i}]`, 'Amounts must be non-negative and quantity at least 1.');
    currency = c;
    title ||= name;
    total += unit * quantity;
  });
  const successUrl = optionalUrl(p.success_url, 'success_url');
  if (!successUrl) throw new ParamError('success_url', 'Missing required param: success_url.', 'parameter_missing');
  const created = ctx.now();
  const expiresAt = p.expires_at === undefined ? created + DAY : integer(p.expires_at, 'expires_at');
  if (expiresAt < created + ctx.minExpiry || expiresAt > created + DAY) {
    throw new ParamError('expires_at', `The \`expires_at\` timestamp must be between ${ctx.minExpiry} seconds and 24 hours from Checkout Session creation.`);
  }
  const id = `cs_test_${token(58)}`;
  const base = ctx.opts.publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.get('host')}${req.baseUrl}`;
  const intentData = (p.payment_intent_data ?? {}) as Record<string, unknown>;
  const sfu = intentData.setup_future_usage;
  if (sfu !== undefined && sfu !== 'off_session' && sfu !== 'on_session') {
    throw new ParamError('payment_intent_data[setup_future_usage]', 'Invalid setup_future_usage: must be one of on_session or off_session');
  }
  const customer = typeof p.customer === 'string' && p.customer ? p.customer : null;
  if (customer && !ctx.state.customers[customer]) throw new ParamError('customer', `No such customer: '${customer}'`, 'resource_missing');
  if (customer && p.customer_email !== undefined) throw new ParamError('customer_email', 'You may only specify one of these parameters: customer, customer_email.');
  if (p.customer_creation !== undefined && p.customer_creation !== 'always' && p.customer_creation !== 'if_required') {
    throw new ParamError('customer_creation', 'Invalid customer_creation: must be one of always or if_required');
  }
  const invoiceCreation = (p.invoice_creation as Record<string, unknown> | undefined)?.enabled === 'true';
  return {
    base,
    setupFutureUsage: (sfu as 'off_session' | 'on_session' | undefined) ?? null,
    createCustomer: p.customer_creation === 'always',
    invoiceCreation,
    title,
    apiVersion: req.get('stripe-version') ?? DEFAULT_API_VERSION,
    intent: null,
    intentMetadata: stringMap((p.payment_intent_data as Record<string, unknown> | undefined)?.metadata, 'payment_intent_data[metadata]'),
    session: {
      id,
      object: 'checkout.session',
      amount_subtotal: total,
      amount_total: total,
      cancel_url: optionalUrl(p.cancel_url, 'cancel_url'),
      client_reference_id: typeof p.client_reference_id === 'string' ? p.client_reference_id.slice(0, 200) : null,
      created,
      currency,
      customer,
      customer_email: typeof p.customer_email === 'string' ? p.customer_email : customer ? (ctx.state.customers[customer]?.email ?? null) : null,
      invoice: null,
      expires_at: expiresAt,
      livemode: false,
      metadata: stringMap(p.metadata, 'metadata'),
      mode: 'payment',
      payment_intent: null,
      payment_status: 'unpaid',
      status: 'open',
      success_url: successUrl,
      url: `${base}/pay/${id}`,
    },
  };
}

function withExpansions(stored: StoredSession, expand: string[], state: State): unknown {
  const out: Record<string, unknown> = { ...stored.session };
  if (stored.intent && expand.some((e) => e === 'payment_intent' || e.startsWith('payment_intent.'))) {
    const intent: Record<string, unknown> = { ...stored.intent };
    if (expand.includes('payment_intent.latest_charge') && stored.intent.latest_charge) intent.latest_charge = state.receipts[stored.intent.latest_charge];
    if (expand.includes('payment_intent.payment_method') && stored.intent.payment_method) {
      const { test_card: _hidden, ...pm } = state.paymentMethods[stored.intent.payment_method]!;
      intent.payment_method = pm;
    }
    out.payment_intent = intent;
  }
  if (expand.includes('invoice') && stored.session.invoice) out.invoice = state.invoices[stored.session.invoice];
  return out;
}

/** `expand[]=x` or `expand[0]=x`, as stripe-node encodes it on GET. */
function expansions(req: Request): string[] {
  const query = new URL(req.originalUrl, 'http://sandbox').searchParams;
  return [...query.entries()].filter(([k]) => /^expand\[\d*\]$/.test(k)).map(([, v]) => v);
}

function integer(value: unknown, param: string): number {
  const n = typeof value === 'string' && /^-?\d+$/.test(value) ? Number(value) : NaN;
  if (!Number.isSafeInteger(n)) throw new ParamError(param, `Invalid integer: ${String(value)}`, 'parameter_invalid_integer');
  return n;
}

function optionalUrl(value: unknown, param: string): string | null {
  if (value === undefined || value === '') return null;
  if (typeof value !== 'string' || !/^https?:\/\//.test(value)) throw new ParamError(param, `Not a valid URL`, 'url_invalid');
  return value;
}

function stringMap(value: unknown, param: string): Record<string, string> {
  if (value === undefined || value === '') return {};
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw new ParamError(param, 'Invalid hash');
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(value)) {
    if (typeof v !== 'string' || k.length > 40 || v.length > 500) throw new ParamError(`${param}[${k}]`, 'Invalid metadata value');
    out[k] = v;
  }
  return out;
}

function stripeError(res: Response, status: number, type: string, message: string, param?: string, code?: string): void {
  res.status(status).json({ error: { type, message, ...(param ? { param } : {}), ...(code ? { code } : {}) } });
}

const ALPHANUM = 'abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';
function token(length: number): string {
  return [...randomBytes(length)].map((b) => ALPHANUM[b % ALPHANUM.length]).join('');
}
