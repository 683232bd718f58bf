/**
 * Attacks on a real install, replayed against the service in production mode (NODE_ENV=production),
 * each one of issue 10's findings: play money must never reach a production install, Temporal is
 * for ops, and a part without credentials is disabled, not simulated.
 */
import fs from 'node:fs';
import Stripe from 'stripe';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cryptomusSign, phpJson } from '../../src/payments/cryptomus-gateway.js';
import { listen, type ListeningSandbox } from '../../src/sandboxes/payments/listen.js';
import { createStripeSandbox, type StripeSandbox } from '../../src/sandboxes/payments/stripe-sandbox.js';
import { sandboxSecretsFile } from '../../src/sandboxes/secrets.js';
import { startHarness, type Harness } from '../support/harness.js';

/** The sandbox credentials main shipped as constants in the code, public to anyone who read it. */
const OLD_PUBLIC_CRYPTOMUS_KEY = 'cheapa-sandbox-payment-key';
const OLD_PUBLIC_STRIPE_WEBHOOK_SECRET = 'whsec_cheapa_sandbox';

const UUID = '3f0c1a2b-4d5e-4f60-8a7b-9c0d1e2f3a4b';

function cryptomusWebhook(depositId: string, key: string) {
  const payload = { type: 'payment', uuid: UUID, order_id: depositId, amount: '250.00', payment_amount_usd: '250.00', currency: 'USD', status: 'paid', is_final: true };
  return phpJson({ ...payload, sign: cryptomusSign(phpJson(payload), key) });
}

describe('production mode with live-style Stripe keys and Cryptomus unset', () => {
  let h: Harness;
  let stripe: StripeSandbox;
  let stripeServer: ListeningSandbox;

  beforeAll(async () => {
    // A local server speaking Stripe's protocol stands in for api.stripe.com: the card method is configured, for real.
    stripe = createStripeSandbox({ secretKey: 'sk_live_operator_key_0123456789', webhookSecret: 'whsec_operator_secret_0123456789', webhookUrl: 'http://127.0.0.1:9/', retryDelaysMs: [] });
    stripeServer = await listen(stripe.router);
    h = await startHarness({
      env: {
        NODE_ENV: 'production',
        STRIPE_SECRET_KEY: 'sk_live_operator_key_0123456789',
        STRIPE_WEBHOOK_SECRET: 'whsec_operator_secret_0123456789',
        STRIPE_API_BASE: stripeServer.url,
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await stripe?.close();
    await stripeServer?.close();
  });

  it('serves no sandbox: every /sandbox/* path is 404', async () => {
    for (const path of [
      '/sandbox/cryptomus/_sandbox/invoices',
      '/sandbox/stripe/v1/checkout/sessions',
      '/sandbox/openai/v1/chat/completions',
      '/sandbox/gemini/v1beta/models',
    ]) {
      expect((await h.call('GET', path)).status, path).toBe(404);
    }
    expect(h.services.sandboxes.connections).toEqual({});
    expect(fs.existsSync(sandboxSecretsFile(h.services.config.dataDir))).toBe(false);
  });

  it('a Cryptomus sandbox status POST credits nothing', async () => {
    const { accountId } = await h.createAccount();
    const res = await h.call('POST', `/sandbox/cryptomus/_sandbox/invoices/${UUID}/status`, { body: { status: 'paid' } });
    expect(res.status).toBe(404);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(0n);
    await h.expectBooksBalanced();
  });

  it('a crypto deposit answers 400 payment_method_unavailable and creates nothing', async () => {
    const { accountId, key } = await h.createAccount();
    const res = await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'growth', method: 'crypto' } });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'payment_method_unavailable', param: 'method' });
    expect(await h.services.db('deposits').where({ account_id: accountId }).count({ n: '*' })).toEqual([{ n: 0n }]);
  });

  it('an ops checkout for a custom amount by crypto answers 400 payment_method_unavailable and creates nothing', async () => {
    const { accountId, key } = await h.createAccount();
    const ask = await h.call('POST', '/v1/billing/support', { key, body: { kind: 'custom_amount', message: 'A bigger top-up please', amount_usd: '750.00' } });
    const request = await ask.json();
    const res = await h.admin('POST', `/admin/accounts/${accountId}/deposits`, { amount_usd: '750.00', method: 'crypto', support_request_id: request.id });
    expect(res.status).toBe(400);
    expect((await res.json()).error).toMatchObject({ type: 'invalid_request_error', code: 'payment_method_unavailable', param: 'method' });
    expect(await h.services.db('deposits').where({ account_id: accountId }).count({ n: '*' })).toEqual([{ n: 0n }]);
    expect(await (await h.call('GET', `/v1/billing/support/${request.id}`, { key })).json()).toMatchObject({ status: 'open', deposit_id: null });
  });

  it('a /webhooks/cryptomus body signed with the old public constant key is refused and credits nothing', async () => {
    const { accountId } = await h.createAccount();
    const res = await fetch(`${h.baseUrl}/webhooks/cryptomus`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: cryptomusWebhook('dep_forgedtarget', OLD_PUBLIC_CRYPTOMUS_KEY),
    });
    expect(res.status).toBe(400);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(0n);
    await h.expectBooksBalanced();
  });

  it('a card deposit works against the configured provider and its answer carries no Temporal id or URL', async () => {
    const { key } = await h.createAccount();
    const res = await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' } });
    const body = await res.json();
    expect(res.status, JSON.stringify(body)).toBe(201);
    expect(body.checkout_url).toMatch(/^http/);
    const text = JSON.stringify(body) + JSON.stringify(await (await h.call('GET', `/v1/billing/deposits/${body.id}`, { key })).json()) + JSON.stringify(await (await h.call('GET', '/v1/billing/deposits', { key })).json());
    expect(text).not.toMatch(/workflow_(id|url)|run_id|namespaces\/|deposit-dep_/);
    // Ops keep the link, through the admin API.
    const ops = await (await h.admin('GET', `/admin/deposits/${body.id}`)).json();
    expect(ops.workflow_id).toBe(`deposit-${body.id}`);
    expect((await h.call('GET', `/admin/deposits/${body.id}`, { key })).status).toBe(403);
  });

  it('a Stripe webhook signed with the old public constant secret is refused', async () => {
    const payload = JSON.stringify({ id: 'evt_forged', object: 'event', type: 'checkout.session.completed', data: { object: { id: 'cs_x', object: 'checkout.session', client_reference_id: 'dep_x', payment_status: 'paid', status: 'complete', amount_total: 50000, currency: 'usd', metadata: {} } } });
    const res = await fetch(`${h.baseUrl}/webhooks/stripe`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: OLD_PUBLIC_STRIPE_WEBHOOK_SECRET }) },
      body: payload,
    });
    expect(res.status).toBe(400);
  });

  it('a chat model without an upstream answers 503 model_unavailable, and images and videos without Gemini too, holding nothing', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '5' });
    const chat = await h.call('POST', '/v1/chat/completions', { key, body: { model: 'gpt-5.2', messages: [{ role: 'user', content: 'hi' }] } });
    expect(chat.status).toBe(503);
    expect((await chat.json()).error).toMatchObject({ code: 'model_unavailable', param: 'model' });
    const image = await h.call('POST', '/v1/images/generations', { key, body: { model: 'nano-banana-2', prompt: 'a cat' } });
    expect(image.status).toBe(503);
    expect((await image.json()).error.code).toBe('model_unavailable');
    const video = await h.call('POST', '/v1/videos', { key, body: { model: 'veo-3.1', prompt: 'a cat' } });
    expect(video.status).toBe(503);
    expect((await video.json()).error.code).toBe('model_unavailable');
    const balance = await h.services.ledger.balance(accountId);
    expect(balance.held).toBe(0n);
    expect(balance.balance).toBe(5_000_000_000n);
    await h.expectBooksBalanced();
  });

  it('the public /readyz says only its status; ops (admin token) see the disabled parts', async () => {
    const pub = await (await h.call('GET', '/readyz')).json();
    expect(Object.keys(pub)).toEqual(['status']);
    const ops = await (await h.admin('GET', '/readyz')).json();
    expect(ops).toMatchObject({ mode: 'production', disabled: ['crypto', 'chat', 'media'], sandboxed: [] });
    expect(ops.parts.card).toBe('provider');
  });

  it('/metrics answers ops only', async () => {
    expect((await h.call('GET', '/metrics')).status).toBe(401);
    expect((await h.admin('GET', '/metrics')).status).toBe(200);
  });

  it('the console links customers nowhere into Temporal: only the ops view, fed by the admin API, does', async () => {
    const page = await (await h.call('GET', '/')).text();
    const scripts = [...page.matchAll(/<script[^>]*\ssrc="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    const bundle = (await Promise.all(scripts.map(async (src) => (await h.call('GET', src)).text()))).join('\n');
    // No Temporal address is baked into the console: the ops view takes its links from /admin answers.
    for (const served of [page, bundle]) expect(served).not.toMatch(/:8233|namespaces\//);
    // In the sources, only the ops view (its modules, ops*.ts and the workflow link they share, and its
    // markup) speaks of workflows at all; any other module importing the link would name it here.
    const opsModule = (file: string) => /^ops(-[a-z-]+)?\.ts$/.test(file) || file === 'workflow-link.ts';
    const opsMarkup = /<div id="ops"[\s\S]*?<\/main>/;
    const markup = fs.readFileSync('web/index.html', 'utf8');
    expect(markup).toMatch(opsMarkup);
    expect(markup.replace(opsMarkup, '')).not.toMatch(/temporal|workflow/i);
    for (const file of fs.readdirSync('web/src').filter((f) => !opsModule(f))) {
      expect(fs.readFileSync(`web/src/${file}`, 'utf8'), file).not.toMatch(/temporal|workflow/i);
    }
    expect((await h.call('GET', '/console/config.json')).status).toBe(404);
  });
});

describe('production mode with SANDBOXES=1 (staging)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false, env: { NODE_ENV: 'production', SANDBOXES: '1' } });
  });
  afterAll(async () => h?.close());

  it('serves the sandboxes, with secrets generated for this install and not the old constants', async () => {
    expect((await h.call('GET', '/sandbox/cryptomus/_sandbox/invoices')).status).not.toBe(404);
    const secrets = JSON.parse(fs.readFileSync(sandboxSecretsFile(h.services.config.dataDir), 'utf8'));
    expect(secrets.cryptomus.apiKey).not.toBe(OLD_PUBLIC_CRYPTOMUS_KEY);
    expect(secrets.stripe.webhookSecret).not.toBe(OLD_PUBLIC_STRIPE_WEBHOOK_SECRET);
    expect(fs.statSync(sandboxSecretsFile(h.services.config.dataDir)).mode & 0o777).toBe(0o600);
  });
});

describe('development mode (npm start) with its sandboxes', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ env: { PAYMENT_METHODS: 'card' } });
  });
  afterAll(async () => h?.close());

  it('a /webhooks/cryptomus body signed with the old public constant key is refused and credits nothing', async () => {
    const { accountId } = await h.createAccount();
    const res = await fetch(`${h.baseUrl}/webhooks/cryptomus`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: cryptomusWebhook('dep_whatever', OLD_PUBLIC_CRYPTOMUS_KEY) });
    expect(res.status).toBe(400);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(0n);
  });

  it('generates the sandbox secrets per install: two installs never share them', async () => {
    const other = await startHarness({ worker: false });
    try {
      expect(other.services.sandboxes.connections.card!.webhookSecret).not.toBe(h.services.sandboxes.connections.card!.webhookSecret);
      expect(h.services.sandboxes.connections.card!.webhookSecret).not.toBe(OLD_PUBLIC_STRIPE_WEBHOOK_SECRET);
    } finally {
      await other.close();
    }
  });

  it('PAYMENT_METHODS=card switches crypto off: 400 payment_method_unavailable, and its sandbox is not mounted', async () => {
    const { key } = await h.createAccount();
    const res = await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'crypto' } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('payment_method_unavailable');
    expect((await h.call('GET', '/sandbox/cryptomus/_sandbox/invoices')).status).toBe(404);
    expect((await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' } })).status).toBe(201);
  });
});
