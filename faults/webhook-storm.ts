import { createHmac, randomBytes } from 'node:crypto';
import pg from 'pg';
import type { Logger } from 'pino';
import { cryptomusSign, phpJson } from '../src/payments/cryptomus-protocol.js';
import type { LoadAccount } from './load.js';
import type { Topology } from './stack/topology.js';

/**
 * Webhook storms against the API, Stripe and Cryptomus both: every event delivered so far sent
 * again 5×, then all of them again in shuffled order (older statuses after newer), payments
 * reported after expiry, events signed outside Stripe's tolerance window, forged and truncated.
 */
export interface StormRow {
  kind: string;
  sent: number;
  ok2xx: number;
  client4xx: number;
  server5xx: number;
  /**
   * Deliveries answered 503 (or cut) and delivered again, as the providers do until acknowledged;
   * `server5xx` counts only a delivery still refused that way after every attempt, or any 500.
   */
  redelivered: number;
  /** Each 5xx status or transport error seen, with how often. */
  unavailable: Record<string, number>;
  /** What the kind must get: accepted (2xx or a 4xx refusal without effect) or refused (4xx only). */
  expect: 'accepted' | 'refused';
}

export interface StormResult {
  rows: StormRow[];
  /** Late payments (after expiry) that were credited: must be 0. */
  lateCredited: number;
  lateSent: number;
}

interface Hook {
  id: string;
  url: string;
  body: string;
}

export async function webhookStorm(t: Topology, payer: LoadAccount, logger: Logger): Promise<StormResult> {
  logger.info('webhook storm');
  const rows = new Map<string, StormRow>();
  const stripeSign = (body: string, at = Math.floor(Date.now() / 1000), secret = t.secrets.stripeWebhook) =>
    `t=${at},v1=${createHmac('sha256', secret).update(`${at}.${body}`).digest('hex')}`;
  const send = async (kind: string, expect: StormRow['expect'], provider: 'stripe' | 'cryptomus', body: string, headers: Record<string, string> = {}) => {
    const row = rows.get(kind) ?? { kind, sent: 0, ok2xx: 0, client4xx: 0, server5xx: 0, redelivered: 0, unavailable: {}, expect };
    rows.set(kind, row);
    row.sent++;
    for (let attempt = 1; ; attempt++) {
      const res = await fetch(`${t.url}/webhooks/${provider}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', ...(provider === 'stripe' && !headers['stripe-signature'] ? { 'stripe-signature': stripeSign(body) } : {}), ...headers },
        body,
      }).catch((err: Error) => String(err.cause ?? err));
      if (typeof res !== 'string') await res.arrayBuffer();
      const status = typeof res === 'string' ? 0 : res.status;
      if (status >= 200 && status < 300) return void row.ok2xx++;
      if (status >= 400 && status < 500) return void row.client4xx++;
      const what = typeof res === 'string' ? res : `${status}${res.headers.has('retry-after') ? ' with Retry-After' : ''}`;
      row.unavailable[what] = (row.unavailable[what] ?? 0) + 1;
      // A 500 is a bug; a 503 or a cut connection asks the provider to deliver again later, as it will.
      if (status === 500 || attempt === REDELIVERIES) return void row.server5xx++;
      row.redelivered++;
      await new Promise((r) => setTimeout(r, 2_000 * attempt));
    }
  };
  const outbox = async (provider: 'stripe' | 'cryptomus'): Promise<Hook[]> =>
    ((await (await fetch(`${t.providers[provider].url}/_sandbox/webhooks`)).json()) as { data: Hook[] }).data;

  const stripeHooks = (await outbox('stripe')).slice(-30);
  const cryptomusHooks = (await outbox('cryptomus')).slice(-30);
  for (let i = 0; i < 5; i++) {
    await Promise.all([
      ...stripeHooks.map((h) => send('stripe: each event 5×', 'accepted', 'stripe', h.body)),
      ...cryptomusHooks.map((h) => send('cryptomus: each event 5×', 'accepted', 'cryptomus', h.body)),
    ]);
  }
  for (const h of shuffle([...stripeHooks])) await send('stripe: all events again, shuffled', 'accepted', 'stripe', h.body);
  for (const h of shuffle([...cryptomusHooks])) await send('cryptomus: all events again, shuffled', 'accepted', 'cryptomus', h.body);
  for (const h of stripeHooks.slice(0, 10)) {
    await send('stripe: signed 10 min ago (outside tolerance)', 'refused', 'stripe', h.body, { 'stripe-signature': stripeSign(h.body, Math.floor(Date.now() / 1000) - 600) });
    await send('stripe: forged (wrong secret)', 'refused', 'stripe', h.body, { 'stripe-signature': stripeSign(h.body, undefined, 'whsec_forged') });
    await send('stripe: truncated body', 'refused', 'stripe', h.body.slice(0, Math.floor(h.body.length / 2)), { 'stripe-signature': stripeSign(h.body) });
  }
  for (const h of cryptomusHooks.slice(0, 10)) {
    const forged = JSON.parse(h.body) as Record<string, unknown>;
    forged.payment_amount_usd = '100000.00';
    await send('cryptomus: forged (amount changed, sign kept)', 'refused', 'cryptomus', JSON.stringify(forged));
    await send('cryptomus: truncated body', 'refused', 'cryptomus', h.body.slice(0, Math.floor(h.body.length / 2)));
  }

  // Payments reported after the checkout expired: signed correctly, they must go to review, never to a credit.
  const late = await latePayments(t, payer, stripeSign, send);
  return { rows: [...rows.values()], ...late };
}

async function latePayments(
  t: Topology,
  payer: LoadAccount,
  stripeSign: (body: string) => string,
  send: (kind: string, expect: StormRow['expect'], provider: 'stripe' | 'cryptomus', body: string, headers?: Record<string, string>) => Promise<void>,
): Promise<{ lateCredited: number; lateSent: number }> {
  const ids: string[] = [];
  for (const method of ['card', 'crypto'] as const) {
    const res = await fetch(`${t.url}/v1/billing/deposits`, {
      method: 'POST',
      headers: { authorization: `Bearer ${payer.key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ tier: 'starter', method, ...(method === 'crypto' ? { coin: 'USDT' } : {}) }),
    });
    const d = (await res.json()) as { id: string; checkout_url: string };
    if (!res.ok) continue;
    const ref = new URL(d.checkout_url).pathname.split('/').pop()!;
    const post = (u: string, body: unknown) => fetch(u, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    if (method === 'card') await post(`${t.providers.stripe.url}/_sandbox/checkout/sessions/${ref}/expire`, {});
    else await post(`${t.providers.cryptomus.url}/_sandbox/invoices/${ref}/status`, { status: 'cancel' });
    // Wait until the service has ended the deposit without credit.
    for (let i = 0; i < 60; i++) {
      const s = (await (await fetch(`${t.url}/v1/billing/deposits/${d.id}`, { headers: { authorization: `Bearer ${payer.key}` } })).json()) as { status: string };
      if (['expired', 'failed'].includes(s.status)) break;
      await new Promise((r) => setTimeout(r, 500));
    }
    const hooks = ((await (await fetch(`${t.providers[method === 'card' ? 'stripe' : 'cryptomus'].url}/_sandbox/webhooks`)).json()) as { data: Hook[] }).data;
    const last = [...hooks].reverse().find((h) => h.body.includes(ref));
    if (!last) continue;
    ids.push(d.id);
    if (method === 'card') {
      const event = JSON.parse(last.body) as { id: string; type: string; data: { object: Record<string, unknown> } };
      event.id = `evt_late_${randomBytes(8).toString('hex')}`;
      event.type = 'checkout.session.completed';
      event.data.object.status = 'complete';
      event.data.object.payment_status = 'paid';
      const body = JSON.stringify(event);
      await send('stripe: paid after expiry (late)', 'accepted', 'stripe', body, { 'stripe-signature': stripeSign(body) });
    } else {
      const { sign: _sign, ...rest } = JSON.parse(last.body) as Record<string, unknown>;
      rest.status = 'paid';
      rest.is_final = true;
      const body = phpJson({ ...rest, sign: cryptomusSign(phpJson(rest), t.secrets.cryptomus) });
      await send('cryptomus: paid after cancel (late)', 'accepted', 'cryptomus', body);
    }
  }
  await new Promise((r) => setTimeout(r, 5_000));
  const c = new pg.Client({ connectionString: t.postgres.url });
  c.on('error', () => {});
  await c.connect();
  try {
    const { rows } = await c.query("SELECT count(*)::int AS n FROM ledger_entries WHERE kind = 'deposit' AND deposit_id = ANY($1)", [ids]);
    return { lateCredited: rows[0].n, lateSent: ids.length };
  } finally {
    await c.end();
  }
}

/** Stripe and Cryptomus both redeliver an unacknowledged event for days; the storm tries this often. */
const REDELIVERIES = 5;

function shuffle<T>(xs: T[]): T[] {
  for (let i = xs.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [xs[i], xs[j]] = [xs[j]!, xs[i]!];
  }
  return xs;
}
