/**
 * A local, stateful server speaking Cryptomus' payment API as documented (signed POSTs with
 * `merchant` + `sign` headers; create invoice, payment info, resend, services, test webhook), with a
 * hosted payment page and webhooks signed the Cryptomus way (`sign` inside the body). The real
 * adapter talks to it unchanged. Mounted in the service as the embedded default; started on an
 * ephemeral port by tests.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import express, { type Request, type Response, type Router } from 'express';
import { formatUsd, parseUsd } from '../../ledger/money.js';
import { type CryptomusPayment, cryptomusSign, FINAL_STATUSES, phpJson, signMatches } from '../../payments/cryptomus-protocol.js';
import { renderCheckoutPage } from './checkout-page.js';
import { JsonStateFile } from './json-state-file.js';
import { mountWebhookControl, type OutboundWebhook, WebhookOutbox } from './webhook-outbox.js';

export interface CryptomusSandboxOptions {
  merchantId: string;
  /** The payment API key: checks request signs and signs webhooks. */
  apiKey: string;
  /** Base of the hosted page URLs; by default the address the API was called on. */
  publicUrl?: string;
  /** JSON snapshot of the state; in memory only when unset. */
  statePath?: string;
  /** Cryptomus accepts lifetimes of 300–43200 s; tests may lower the minimum. */
  minLifetimeSeconds?: number;
  retryDelaysMs?: readonly number[];
  sweepIntervalMs?: number;
}

interface StoredInvoice {
  payment: CryptomusPayment;
  urlCallback: string | null;
  urlReturn: string | null;
  urlSuccess: string | null;
  /** USD value of what arrived; Cryptomus reports it in webhooks only. */
  paymentAmountUsd: string;
  resends: number;
}

interface State {
  invoices: Record<string, StoredInvoice>;
  byOrderId: Record<string, string>;
  webhooks: OutboundWebhook[];
}

export interface CryptomusSandbox {
  router: Router;
  webhooks: WebhookOutbox;
  invoice(uuid: string): CryptomusPayment | undefined;
  invoiceByOrderId(orderId: string): CryptomusPayment | undefined;
  invoices(): CryptomusPayment[];
  /**
   * Moves an invoice to a status, as the blockchain and Cryptomus would, and sends its webhook.
   * `paymentAmountUsd` overrides what arrived (defaults: the invoice amount; 110% for paid_over;
   * half for wrong_amount*).
   */
  setStatus(uuid: string, status: string, opts?: { paymentAmountUsd?: string }): CryptomusPayment;
  close(): Promise<void>;
}

/** Coins the sandbox offers, with made-up but fixed USD prices. */
const COINS: Record<string, { network: string; usd: string }> = {
  BTC: { network: 'btc', usd: '100000' },
  LTC: { network: 'ltc', usd: '100' },
  USDT: { network: 'tron', usd: '1' },
};
const COMMISSION_PERCENT = 2n;
const MAX_RESENDS = 10;

class StateError extends Error {}
class ValidationError extends Error {
  constructor(readonly errors: Record<string, string[]>) {
    super('validation');
  }
}

export function createCryptomusSandbox(opts: CryptomusSandboxOptions): CryptomusSandbox {
  const file = new JsonStateFile<State>(opts.statePath, () => ({ invoices: {}, byOrderId: {}, webhooks: [] }));
  const state = file.state;
  const webhooks = new WebhookOutbox({
    store: state.webhooks,
    onChange: () => file.changed(),
    retryDelaysMs: opts.retryDelaysMs,
    headers: () => ({ 'user-agent': 'Cryptomus-Webhook' }),
  });

  function sendWebhook(stored: StoredInvoice, override?: { status: string; uuid?: string; order_id?: string }): void {
    if (!stored.urlCallback) return;
    const p = stored.payment;
    const usd = parseUsd(stored.paymentAmountUsd);
    const commission = (usd * COMMISSION_PERCENT) / 100n;
    const status = override?.status ?? p.status;
    const payload = {
      type: 'payment',
      uuid: override?.uuid ?? p.uuid,
      order_id: override?.order_id ?? p.order_id,
      amount: p.amount,
      payment_amount: p.payment_amount ?? '0.00',
      payment_amount_usd: stored.paymentAmountUsd,
      merchant_amount: formatUsd(usd - commission),
      commission: formatUsd(commission),
      is_final: FINAL_STATUSES.has(status),
      status,
      from: p.from,
      wallet_address_uuid: null,
      network: p.network,
      currency: p.currency,
      payer_currency: p.payer_currency,
      payer_amount: p.payer_amount,
      payer_amount_exchange_rate: p.payer_currency ? COINS[p.payer_currency]?.usd ?? null : null,
      additional_data: p.additional_data,
      transfer_id: p.txid ? randomUUID() : null,
      txid: p.txid,
    };
    const body = phpJson({ ...payload, sign: cryptomusSign(phpJson(payload), opts.apiKey) });
    webhooks.enqueue(`${payload.uuid}:${status}:${Date.now()}:${randomBytes(3).toString('hex')}`, stored.urlCallback, body);
  }

  function find(uuid: string): StoredInvoice {
    const stored = state.invoices[uuid];
    if (!stored) throw new StateError('Payment not found');
    expireIfDue(stored);
    return stored;
  }

  /** At expiry an unpaid invoice is cancelled; an underpaid one is finalized as wrong_amount. */
  function expireIfDue(stored: StoredInvoice): void {
    const p = stored.payment;
    if (p.is_final || p.expired_at > Math.floor(Date.now() / 1000)) return;
    if (p.status === 'check' || p.status === 'process') move(stored, 'cancel');
    else if (p.status === 'wrong_amount_waiting') move(stored, 'wrong_amount');
  }

  function move(stored: StoredInvoice, status: string, paymentAmountUsd?: string): void {
    const p = stored.payment;
    if (p.is_final && !status.startsWith('refund_')) {
      throw new StateError(`Payment is final (${p.status})`);
    }
    const invoiceNano = parseUsd(p.amount);
    const arrived = paymentAmountUsd !== undefined
      ? parseUsd(paymentAmountUsd)
      : status === 'paid_over'
        ? (invoiceNano * 11n) / 10n
        : status.startsWith('wrong_amount')
          ? invoiceNano / 2n
          : ['paid', 'confirm_check'].includes(status) || status.startsWith('refund_')
            ? invoiceNano
            : 0n;
    if (arrived > 0n && !p.payer_currency) choosePayerCoin(p, 'USDT');
    stored.paymentAmountUsd = formatUsd(arrived);
    p.payment_amount = arrived > 0n ? coinAmount(arrived, p.payer_currency!) : '0.00';
    p.merchant_amount = formatUsd(arrived - (arrived * COMMISSION_PERCENT) / 100n);
    if (arrived > 0n && !p.txid) {
      p.txid = randomBytes(32).toString('hex');
      p.from = `sandbox-payer-${randomBytes(6).toString('hex')}`;
    }
    p.status = status;
    p.payment_status = status;
    p.is_final = FINAL_STATUSES.has(status);
    p.updated_at = isoNow();
    file.changed();
    sendWebhook(stored);
  }

  const sandbox: CryptomusSandbox = {
    router: express.Router(),
    webhooks,
    invoice: (uuid) => state.invoices[uuid]?.payment,
    invoiceByOrderId: (orderId) => state.invoices[state.byOrderId[orderId] ?? '']?.payment,
    invoices: () => Object.values(state.invoices).map((i) => i.payment),
    setStatus(uuid, status, o) {
      const stored = find(uuid);
      move(stored, status, o?.paymentAmountUsd);
      return stored.payment;
    },
    async close() {
      clearInterval(sweep);
      await webhooks.close();
      file.flush();
    },
  };

  const sweep = setInterval(() => {
    for (const stored of Object.values(state.invoices)) expireIfDue(stored);
  }, opts.sweepIntervalMs ?? 1000);
  sweep.unref();
  webhooks.resume();

  const router = sandbox.router;
  // Every API call is a POST whose raw bytes are signed: verify before parsing.
  router.use('/v1', express.raw({ type: () => true, limit: '100kb' }), (req, res, next) => {
    const raw: Buffer = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
    if (req.get('merchant') !== opts.merchantId || !signMatches(req.get('sign'), cryptomusSign(raw, opts.apiKey))) {
      return void res.status(401).json({ message: 'Invalid Sign.' });
    }
    try {
      req.body = raw.length ? JSON.parse(raw.toString('utf8')) : {};
    } catch {
      return void res.status(422).json({ state: 1, message: 'Invalid JSON' });
    }
    next();
  });

  const api = (fn: (body: Record<string, unknown>, req: Request) => unknown) => (req: Request, res: Response) => {
    try {
      res.json({ state: 0, result: fn((req.body ?? {}) as Record<string, unknown>, req) });
    } catch (err) {
      if (err instanceof ValidationError) return void res.status(422).json({ state: 1, errors: err.errors });
      if (err instanceof StateError) {
        const status = err.message === 'Payment not found' ? 404 : 422;
        return void res.status(status).json({ state: 1, message: err.message });
      }
      throw err;
    }
  };

  router.post(
    '/v1/payment',
    api((body, req) => {
      const input = validateCreate(body, opts.minLifetimeSeconds ?? 300);
      const existing = state.byOrderId[input.order_id];
      if (existing) return find(existing).payment;
      const uuid = randomUUID();
      const base = opts.publicUrl?.replace(/\/+$/, '') ?? `${req.protocol}://${req.get('host')}${req.baseUrl}`;
      const payment: CryptomusPayment = {
        ...blankPayment(),
        uuid,
        order_id: input.order_id,
        amount: input.amount,
        currency: input.currency,
        url: `${base}/pay/${uuid}`,
        expired_at: Math.floor(Date.now() / 1000) + input.lifetime,
        additional_data: input.additional_data,
      };
      if (input.to_currency) choosePayerCoin(payment, input.to_currency);
      state.invoices[uuid] = {
        payment,
        urlCallback: input.url_callback,
        urlReturn: input.url_return,
        urlSuccess: input.url_success,
        paymentAmountUsd: '0.00',
        resends: 0,
      };
      state.byOrderId[input.order_id] = uuid;
      file.changed();
      return payment;
    }),
  );

  const lookup = (body: Record<string, unknown>): StoredInvoice => {
    const orderId = typeof body.order_id === 'string' && body.order_id ? body.order_id : null;
    const uuid = typeof body.uuid === 'string' && body.uuid ? body.uuid : null;
    if (!orderId && !uuid) {
      throw new ValidationError({ uuid: ['validation.required_without'], order_id: ['validation.required_without'] });
    }
    return find(orderId ? (state.byOrderId[orderId] ?? '') : uuid!);
  };

  router.post('/v1/payment/info', api((body) => lookup(body).payment));

  router.post(
    '/v1/payment/resend',
    api((body) => {
      const stored = lookup(body);
      if (!['paid', 'paid_over', 'wrong_amount'].includes(stored.payment.status)) throw new StateError('Payment is not finalized');
      if (!stored.urlCallback) throw new StateError('Notification not found');
      if (stored.resends >= MAX_RESENDS) throw new StateError('Too much resend');
      stored.resends++;
      sendWebhook(stored);
      return [];
    }),
  );

  router.post(
    '/v1/payment/services',
    api(() =>
      Object.entries(COINS).map(([currency, c]) => ({
        network: c.network,
        currency,
        is_available: true,
        limit: { min_amount: '1.00', max_amount: '100000.00' },
        commission: { fee_amount: '0.00', percent: String(COMMISSION_PERCENT) },
      })),
    ),
  );

  router.post(
    '/v1/test-webhook/payment',
    api((body) => {
      const url = typeof body.url_callback === 'string' ? body.url_callback : '';
      const status = typeof body.status === 'string' ? body.status : '';
      if (!/^https?:\/\//.test(url) || !status || typeof body.currency !== 'string' || typeof body.network !== 'string') {
        throw new ValidationError({ url_callback: ['validation.required'], status: ['validation.required'] });
      }
      // A test webhook is signed like a real one and stored nowhere.
      const scratch: StoredInvoice = {
        payment: {
          ...blankPayment(),
          uuid: typeof body.uuid === 'string' ? body.uuid : randomUUID(),
          order_id: typeof body.order_id === 'string' ? body.order_id : `test-${randomBytes(4).toString('hex')}`,
          currency: body.currency,
          network: body.network,
        },
        urlCallback: url,
        urlReturn: null,
        urlSuccess: null,
        paymentAmountUsd: '0.00',
        resends: 0,
      };
      sendWebhook(scratch, { status });
      return [];
    }),
  );

  router.use('/v1', (_req, res) => void res.status(404).json({ state: 1, message: 'Not found' }));

  mountPage(router, sandbox, state, find);
  mountControl(router, sandbox);
  return sandbox;
}

function mountPage(
  router: Router,
  sandbox: CryptomusSandbox,
  state: State,
  find: (uuid: string) => StoredInvoice,
): void {
  const form = express.urlencoded({ extended: false });
  router.get('/pay/:uuid', (req, res) => {
    let stored: StoredInvoice;
    try {
      stored = find(String(req.params.uuid));
    } catch {
      return void res.status(404).type('text/plain').send('Payment not found.');
    }
    const p = stored.payment;
    res.type('html').send(
      renderCheckoutPage({
        provider: 'Cryptomus',
        title: `Invoice ${p.order_id}`,
        amount: `${p.amount} ${p.currency}`,
        details: [
          ['Pay with', p.payer_currency ? `${p.payer_amount} ${p.payer_currency} (${p.network})` : 'any supported coin'],
          ['Address', p.address ?? '(chosen at payment)'],
          ['Status', p.status],
          ['Expires', new Date(p.expired_at * 1000).toISOString()],
        ],
        formAction: `${req.baseUrl}/pay/${encodeURIComponent(p.uuid)}`,
        actions: p.is_final
          ? null
          : [
              { value: 'pay', label: 'Send the exact amount', hint: 'Seen on chain, confirmed: confirm_check then paid.' },
              { value: 'overpay', label: 'Send 10% too much', hint: 'paid_over' },
              { value: 'underpay', label: 'Send half', hint: 'wrong_amount: credited with what arrived.' },
              { value: 'fail', label: 'Payment error', hint: 'fail' },
              { value: 'cancel', label: 'Cancel', hint: 'cancel: the invoice ends unpaid.' },
            ],
      }),
    );
  });

  const ACTIONS: Record<string, string[]> = {
    pay: ['confirm_check', 'paid'],
    overpay: ['confirm_check', 'paid_over'],
    underpay: ['wrong_amount'],
    fail: ['fail'],
    cancel: ['cancel'],
  };
  router.post('/pay/:uuid', form, (req, res) => {
    const uuid = String(req.params.uuid);
    const steps = ACTIONS[String((req.body as Record<string, unknown>)?.action ?? '')];
    const stored = state.invoices[uuid];
    if (!stored) return void res.status(404).type('text/plain').send('Payment not found.');
    if (!steps) return void res.status(400).type('text/plain').send('Unknown action.');
    try {
      for (const status of steps) sandbox.setStatus(uuid, status);
    } catch (err) {
      if (!(err instanceof StateError)) throw err;
    }
    const paid = ['paid', 'paid_over', 'wrong_amount'].includes(stored.payment.status);
    const target = paid ? stored.urlSuccess : stored.urlReturn;
    res.redirect(303, target ?? `${req.baseUrl}/pay/${encodeURIComponent(uuid)}`);
  });
}

/** Test and operator controls of the sandbox itself: not part of Cryptomus' API. */
function mountControl(router: Router, sandbox: CryptomusSandbox): void {
  router.get('/_sandbox/invoices', (_req, res) => void res.json({ data: sandbox.invoices() }));
  router.post('/_sandbox/invoices/:uuid/status', express.json(), (req, res) => {
    const status = req.body?.status;
    if (typeof status !== 'string' || !status) return void res.status(400).json({ error: 'status is required' });
    try {
      const amount = req.body?.payment_amount_usd;
      res.json(sandbox.setStatus(String(req.params.uuid), status, typeof amount === 'string' ? { paymentAmountUsd: amount } : {}));
    } catch (err) {
      if (!(err instanceof StateError)) throw err;
      res.status(err.message === 'Payment not found' ? 404 : 409).json({ error: err.message });
    }
  });
  mountWebhookControl(router, sandbox.webhooks);
}

interface CreateInput {
  amount: string;
  currency: string;
  order_id: string;
  to_currency: string | null;
  url_callback: string | null;
  url_return: string | null;
  url_success: string | null;
  lifetime: number;
  additional_data: string | null;
}

function validateCreate(body: Record<string, unknown>, minLifetime: number): CreateInput {
  const errors: Record<string, string[]> = {};
  const fail = (field: string, rule: string) => ((errors[field] ??= []).push(`validation.${rule}`), null);
  const str = (field: string, required: boolean): string | null => {
    const v = body[field];
    if (v === undefined || v === null || v === '') return required ? fail(field, 'required') : null;
    return typeof v === 'string' ? v : fail(field, 'string');
  };
  const url = (field: string): string | null => {
    const v = str(field, false);
    if (v === null) return null;
    return v.length >= 6 && v.length <= 255 && /^https?:\/\/\S+$/.test(v) ? v : fail(field, 'url');
  };

  const amount = str('amount', true);
  if (amount !== null && !/^\d+(\.\d+)?$/.test(amount)) fail('amount', 'numeric');
  const currency = str('currency', true);
  const orderId = str('order_id', true);
  if (orderId !== null && !/^[A-Za-z0-9_-]{1,128}$/.test(orderId)) fail('order_id', 'alpha_dash');
  const toCurrency = str('to_currency', false);
  if (toCurrency !== null && !COINS[toCurrency]) fail('to_currency', 'in');
  const network = str('network', false);
  if (network !== null && toCurrency !== null && COINS[toCurrency]?.network !== network) fail('network', 'in');
  const lifetimeRaw = body.lifetime ?? 3600;
  const lifetime = typeof lifetimeRaw === 'number' || (typeof lifetimeRaw === 'string' && /^\d+$/.test(lifetimeRaw)) ? Number(lifetimeRaw) : NaN;
  if (!Number.isInteger(lifetime) || lifetime < minLifetime || lifetime > 43_200) fail('lifetime', 'between.numeric');
  const additional = str('additional_data', false);
  if (additional !== null && additional.length > 255) fail('additional_data', 'max.string');
  const input = {
    amount: amount ?? '',
    currency: currency ?? '',
    order_id: orderId ?? '',
    to_currency: toCurrency,
    url_callback: url('url_callback'),
    url_return: url('url_return'),
    url_success: url('url_success'),
    lifetime,
    additional_data: additional,
  };
  if (Object.keys(errors).length > 0) throw new ValidationError(errors);
  return input;
}

function choosePayerCoin(p: CryptomusPayment, coin: string): void {
  const c = COINS[coin]!;
  p.payer_currency = coin;
  p.network = c.network;
  p.payer_amount = coinAmount(parseUsd(p.amount), coin);
  p.address = `sandbox-${c.network}-${randomBytes(10).toString('hex')}`;
}

/** A USD amount in a coin, to 8 decimals, in integer arithmetic. */
function coinAmount(usdNano: bigint, coin: string): string {
  const units = (usdNano * 100_000_000n) / parseUsd(COINS[coin]!.usd);
  return `${units / 100_000_000n}.${(units % 100_000_000n).toString().padStart(8, '0')}`;
}

/** A new invoice before anything happened to it: unpaid, no coin chosen. */
function blankPayment(): CryptomusPayment {
  return {
    uuid: '',
    order_id: '',
    amount: '0.00',
    payment_amount: null,
    payer_amount: null,
    discount_percent: null,
    discount: '0.00000000',
    payer_currency: null,
    currency: 'USD',
    merchant_amount: null,
    network: null,
    address: null,
    from: null,
    txid: null,
    payment_status: 'check',
    url: '',
    expired_at: 0,
    status: 'check',
    is_final: false,
    additional_data: null,
    created_at: isoNow(),
    updated_at: isoNow(),
  };
}

const isoNow = (): string => new Date().toISOString().replace('Z', '+00:00');
