/**
 * Low-balance alerts end to end: the real PostgreSQL trigger detects the crossing, the worker's
 * dispatcher starts the alert workflow on the real Temporal server, and a local receiver gets the
 * signed event.
 */
import { describe, expect, it } from 'vitest';
import { verifySignature } from '../../src/alerts/alert-signature.js';
import { balanceAlertWorkflowId } from '../../src/alerts/alert-client.js';
import { startHarness, type Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import { startWebhookReceiver, type WebhookReceiver } from '../payments/webhook-receiver.js';

let h: Harness;
useHarness(() => startHarness(), (x) => (h = x));

const now = () => Math.floor(Date.now() / 1000);

async function putAlert(key: string, body: Record<string, unknown>) {
  const r = await h.call('PUT', '/v1/billing/alerts', { key, body });
  expect(r.status, await r.clone().text()).toBe(200);
  return r.json();
}

async function adjust(accountId: string, amountUsd: string) {
  const r = await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, { amount_usd: amountUsd, reason: 'test' });
  expect(r.status, await r.clone().text()).toBe(201);
}

async function crossings(accountId: string) {
  return h.services.db('balance_crossings').where({ account_id: accountId, purpose: 'alert' }).orderBy('seq');
}

async function withReceiver(fn: (r: WebhookReceiver) => Promise<void>) {
  const receiver = await startWebhookReceiver();
  try {
    await fn(receiver);
  } finally {
    await receiver.close();
  }
}

describe('PUT/GET/DELETE /v1/billing/alerts', () => {
  it('shows the whsec_ secret only in the answer to the first PUT, and forgets it on DELETE', async () => {
    const { key } = await h.createAccount({ balanceUsd: '10.00' });
    expect(await (await h.call('GET', '/v1/billing/alerts', { key })).json()).toMatchObject({ enabled: false, threshold_usd: null });

    const first = await putAlert(key, { threshold_usd: '5.00', webhook_url: 'http://127.0.0.1:9/hook' });
    expect(first).toMatchObject({ object: 'billing_alert', enabled: true, threshold_usd: '5.00', webhook_url: 'http://127.0.0.1:9/hook', armed: true });
    expect(first.secret).toMatch(/^whsec_[A-Za-z0-9_-]{40,}$/);

    const second = await putAlert(key, { threshold_usd: '2.50', webhook_url: 'http://127.0.0.1:9/other' });
    expect(second.secret).toBeUndefined();
    expect(await (await h.call('GET', '/v1/billing/alerts', { key })).json()).toMatchObject({ enabled: true, threshold_usd: '2.50', webhook_url: 'http://127.0.0.1:9/other' });
    expect(JSON.stringify(await (await h.call('GET', '/v1/billing/alerts', { key })).json())).not.toContain('whsec_');

    expect(await (await h.call('DELETE', '/v1/billing/alerts', { key })).json()).toEqual({ object: 'billing_alert', deleted: true });
    const again = await putAlert(key, { threshold_usd: '5.00', webhook_url: 'http://127.0.0.1:9/hook' });
    expect(again.secret).toMatch(/^whsec_/);
    expect(again.secret).not.toBe(first.secret);
  });

  it('refuses bad input with 400 and changes nothing', async () => {
    const { key } = await h.createAccount({ balanceUsd: '10.00' });
    for (const body of [
      { threshold_usd: '0', webhook_url: 'http://127.0.0.1:9/hook' },
      { threshold_usd: '-1', webhook_url: 'http://127.0.0.1:9/hook' },
      { threshold_usd: '5', webhook_url: 'ftp://example.com/hook' },
      { threshold_usd: '5', webhook_url: 'not a url' },
      { threshold_usd: '5', webhook_url: 'https://user:pw@example.com/hook' },
      { threshold_usd: '5' },
    ]) {
      const r = await h.call('PUT', '/v1/billing/alerts', { key, body });
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect((await r.json()).error.type).toBe('invalid_request_error');
    }
    expect((await (await h.call('GET', '/v1/billing/alerts', { key })).json()).enabled).toBe(false);
  });
});

describe('balance.low events', () => {
  it('sends one signed event per crossing under concurrent spend, and another only after a credit re-arms it', async () => {
    await withReceiver(async (receiver) => {
      const { key, accountId } = await h.createAccount({ balanceUsd: '10.00' });
      const { secret } = await putAlert(key, { threshold_usd: '5.00', webhook_url: receiver.url });

      // Eight concurrent debits of $1: available crosses $5 once, on whichever debit gets there.
      await Promise.all(Array.from({ length: 8 }, () => adjust(accountId, '-1.00')));
      const [event] = await receiver.waitFor(1);
      const body = event!.body.toString('utf8');
      const header = event!.headers['cheapa-signature'] as string;
      expect(verifySignature(secret, body, header, now())).toBe(true);
      expect(verifySignature('whsec_other', body, header, now())).toBe(false);
      expect(verifySignature(secret, body.replace('balance.low', 'balance.lox'), header, now())).toBe(false);
      const parsed = JSON.parse(body);
      expect(parsed).toMatchObject({ type: 'balance.low', account_id: accountId, threshold_usd: '5.00', id: `evt_balance_low_${accountId}_1` });
      // Debits of one account are serialised by its row lock: the crossing is the one from $5 to $4.
      expect(parsed.available_usd).toBe('4.00');
      expect(typeof parsed.created).toBe('number');

      // One crossing recorded and dispatched, whatever the interleaving.
      const rows = await crossings(accountId);
      expect(rows.map((r) => Number(r.seq))).toEqual([1]);
      const run = await h.services.temporal.client.workflow.getHandle(balanceAlertWorkflowId(accountId, 1)).result();
      expect(run).toMatchObject({ outcome: 'delivered', status: 200 });
      expect((await (await h.call('GET', '/v1/billing/alerts', { key })).json()).armed).toBe(false);

      // Still below and spending: nothing new. A credit that stays below: not re-armed.
      await adjust(accountId, '-1.00');
      await adjust(accountId, '2.00');
      expect((await (await h.call('GET', '/v1/billing/alerts', { key })).json()).armed).toBe(false);
      // A credit that lifts available to the threshold ($3 + $5) re-arms it; the next fall is a new crossing.
      await adjust(accountId, '5.00');
      expect((await (await h.call('GET', '/v1/billing/alerts', { key })).json()).armed).toBe(true);
      await adjust(accountId, '-4.00');
      const events = await receiver.waitFor(2);
      expect(JSON.parse(events[1]!.body.toString('utf8'))).toMatchObject({ id: `evt_balance_low_${accountId}_2`, available_usd: '4.00' });
      expect((await crossings(accountId)).map((r) => Number(r.seq))).toEqual([1, 2]);
      expect(receiver.received).toHaveLength(2);
    });
  });

  it('counts holds: concurrent chat requests that reserve credit cross the threshold once', async () => {
    await withReceiver(async (receiver) => {
      const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
      await putAlert(key, { threshold_usd: '0.999', webhook_url: receiver.url });
      const client = h.openai(key);
      await Promise.all(
        Array.from({ length: 6 }, () => client.chat.completions.create({ model: 'gpt-5.2', messages: [{ role: 'user', content: 'Say hello.' }], max_tokens: 50 })),
      );
      await receiver.waitFor(1);
      expect((await crossings(accountId)).map((r) => Number(r.seq))).toEqual([1]);
      expect(receiver.received).toHaveLength(1);
    });
  });

  it('retries a receiver that fails, with the same event', async () => {
    await withReceiver(async (receiver) => {
      const { key, accountId } = await h.createAccount({ balanceUsd: '10.00' });
      const { secret } = await putAlert(key, { threshold_usd: '5.00', webhook_url: receiver.url });
      receiver.respondWith(503);
      await adjust(accountId, '-6.00');
      await receiver.waitFor(1);
      receiver.respondWith(200);
      const [failed, delivered] = await receiver.waitFor(2);
      expect(delivered!.body.toString()).toBe(failed!.body.toString());
      expect(verifySignature(secret, delivered!.body.toString(), delivered!.headers['cheapa-signature'] as string, now())).toBe(true);
      expect(await h.services.temporal.client.workflow.getHandle(balanceAlertWorkflowId(accountId, 1)).result()).toMatchObject({ outcome: 'delivered' });
    });
  });

  it('sends nothing for a crossing whose alert was deleted before delivery', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '10.00' });
    await putAlert(key, { threshold_usd: '5.00', webhook_url: 'http://127.0.0.1:9/hook' });
    // No worker (and so no dispatcher) while the crossing happens and the alert is deleted.
    await h.stopWorker();
    try {
      await adjust(accountId, '-6.00');
      expect((await h.call('DELETE', '/v1/billing/alerts', { key })).status).toBe(200);
    } finally {
      await h.startWorker();
    }
    const handle = h.services.temporal.client.workflow.getHandle(balanceAlertWorkflowId(accountId, 1));
    while (!(await handle.describe().catch(() => null))) await new Promise((r) => setTimeout(r, 100));
    expect(await handle.result()).toEqual({ outcome: 'not_configured' });
  });
});

describe('production policy (ALERT_WEBHOOK_ALLOW_PRIVATE=0)', () => {
  let prod: Harness;
  useHarness(() => startHarness({ worker: false, env: { ALERT_WEBHOOK_ALLOW_PRIVATE: '0' } }), (x) => (prod = x));

  it('refuses http and every loopback, private, link-local and unique-local address with 400, changing nothing', async () => {
    const { key } = await prod.createAccount({ balanceUsd: '1.00' });
    for (const url of [
      'http://example.com/hook',
      'https://127.0.0.1/hook',
      'https://localhost/hook',
      'https://10.1.2.3/hook',
      'https://172.16.0.1/hook',
      'https://192.168.1.1/hook',
      'https://169.254.169.254/latest',
      'https://[::1]/hook',
      'https://[fd00::1]/hook',
      'https://[fe80::1]/hook',
      'https://[::ffff:127.0.0.1]/hook',
      'https://0.0.0.0/hook',
    ]) {
      const r = await prod.call('PUT', '/v1/billing/alerts', { key, body: { threshold_usd: '5', webhook_url: url } });
      expect(r.status, url).toBe(400);
      expect((await r.json()).error).toMatchObject({ code: 'invalid_webhook_url', param: 'webhook_url' });
    }
    expect((await (await prod.call('GET', '/v1/billing/alerts', { key })).json()).enabled).toBe(false);
    expect(await prod.services.db('balance_thresholds').count({ n: '*' }).first()).toMatchObject({ n: 0n });
  });
});
