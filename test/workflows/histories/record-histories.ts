/**
 * Records real histories of the workflows, as the current code runs them, for the replay test
 * (test/workflows/replay.test.ts). Run with `npm run record:histories` BEFORE changing workflow
 * code: a history recorded on the old code is what proves a new version still replays it (with
 * `patched()` where the command sequence changes). Files: `<workflow>-<case>.json`.
 */
import fs from 'node:fs';
import { createServer, type Server } from 'node:http';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { chatCaptureWorkflow, ledgerAuditWorkflow } from '../../../workflows/index.js';
import { HOLD_SWEEP_WORKFLOW_TYPE } from '../../../workflows/hold-sweep.js';
import { chatCaptureWorkflowId } from '../../../src/chat/durable-capture.js';
import { depositWorkflowId, queryDeposit } from '../../../src/payments/deposit-client.js';
import { balanceAlertWorkflowId } from '../../../src/alerts/alert-client.js';
import { autoTopupWorkflowId } from '../../../src/payments/auto-topup-client.js';
import { startWebhookReceiver } from '../../payments/webhook-receiver.js';
import { freePort } from '../../../src/launcher/free-port.js';
import { TOOLS_DIR } from '../../../src/launcher/stack.js';
import { resolveTemporalCli } from '../../../src/launcher/temporal-cli.js';
import type { Harness } from '../../support/harness.js';
import { startHarness } from '../../support/harness.js';
import { createDeposit, cryptomusSandbox, depositOutcome, startDepositHarness, stripeSandbox, webhooksFor } from '../../payments/deposit-fixtures.js';

const DIR = fileURLToPath(new URL('.', import.meta.url));

const cli = resolveTemporalCli({ configured: process.env.TEMPORAL_CLI, toolsDir: TOOLS_DIR, logger: pino({ level: 'warn' }) });

/** The history as the CLI exports it (`temporal workflow show --output json`): proto3 JSON, what the replayer reads. */
function save(h: Harness, workflowId: string, name: string) {
  const { address, namespace } = h.services.temporal;
  const json = execFileSync(cli, ['workflow', 'show', '--workflow-id', workflowId, '--address', address, '--namespace', namespace, '--output', 'json']);
  fs.writeFileSync(`${DIR}/${name}.json`, JSON.stringify(JSON.parse(json.toString()), null, 1) + '\n');
}
const saveDeposit = (h: Harness, depositId: string, name: string) => save(h, depositWorkflowId(depositId), `deposit-${name}`);
const refOf = async (h: Harness, depositId: string) => (await h.services.payments.deposits.get(depositId))!.providerRef!;

async function untilSettling(h: Harness, depositId: string) {
  for (let i = 0; i < 400; i++) {
    if ((await queryDeposit(h.services, depositId)).settleDeadline !== null) return;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('deposit never started settling');
}

describe('deposit histories (long checkout)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startDepositHarness({ pollSeconds: 1 });
  });
  afterAll(async () => h?.close());

  it('card paid by webhook', async () => {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'standard', method: 'card' });
    await fetch(dep.checkout_url!, { method: 'POST', body: new URLSearchParams({ action: 'card' }), redirect: 'manual' });
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    await saveDeposit(h, dep.id, 'card-paid-webhook');
  });

  it('card paid, found by polling', async () => {
    const { key } = await h.createAccount();
    const sandbox = stripeSandbox(h);
    sandbox.webhooks.mode = 'hold';
    try {
      const dep = await createDeposit(h, key, { tier: 'developer', method: 'card' });
      sandbox.pay(await refOf(h, dep.id), 'card');
      expect((await depositOutcome(h, dep.id)).status).toBe('credited');
      await saveDeposit(h, dep.id, 'card-paid-poll');
    } finally {
      sandbox.webhooks.mode = 'auto';
    }
  });

  it('card delayed payment: processing, then paid', async () => {
    const { key } = await h.createAccount();
    const sandbox = stripeSandbox(h);
    sandbox.webhooks.mode = 'hold';
    try {
      const dep = await createDeposit(h, key, { tier: 'team', method: 'card' });
      const session = await refOf(h, dep.id);
      sandbox.pay(session, 'delayed');
      const [completedUnpaid] = webhooksFor(sandbox.webhooks.list(), session);
      await sandbox.webhooks.deliver(completedUnpaid!.id);
      await new Promise((r) => setTimeout(r, 500));
      sandbox.settle(session, true);
      const [, succeeded] = webhooksFor(sandbox.webhooks.list(), session);
      await sandbox.webhooks.deliver(succeeded!.id);
      expect((await depositOutcome(h, dep.id)).status).toBe('credited');
      await saveDeposit(h, dep.id, 'card-delayed-paid');
    } finally {
      sandbox.webhooks.mode = 'auto';
    }
  });

  it('card delayed payment that bounces', async () => {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'card' });
    await fetch(dep.checkout_url!, { method: 'POST', body: new URLSearchParams({ action: 'delayed_fail' }), redirect: 'manual' });
    expect((await depositOutcome(h, dep.id)).status).toBe('failed');
    await saveDeposit(h, dep.id, 'card-delayed-failed');
  });

  it('crypto confirm_check, then paid', async () => {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { amount_usd: '100.00', method: 'crypto', coin: 'usdt' });
    const uuid = await refOf(h, dep.id);
    cryptomusSandbox(h).setStatus(uuid, 'confirm_check');
    await new Promise((r) => setTimeout(r, 500));
    cryptomusSandbox(h).setStatus(uuid, 'paid');
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    await saveDeposit(h, dep.id, 'crypto-paid');
  });

  it('crypto wrong_amount', async () => {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'crypto', network: 'btc' });
    cryptomusSandbox(h).setStatus(await refOf(h, dep.id), 'wrong_amount', { paymentAmountUsd: '4.99' });
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    await saveDeposit(h, dep.id, 'crypto-wrong-amount');
  });

  it('crypto wrong_amount with nothing received: needs review', async () => {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'crypto', network: 'btc' });
    cryptomusSandbox(h).setStatus(await refOf(h, dep.id), 'wrong_amount', { paymentAmountUsd: '0.00' });
    expect((await depositOutcome(h, dep.id)).status).toBe('needs_review');
    await saveDeposit(h, dep.id, 'crypto-wrong-amount-review');
  });

  it('crypto fail', async () => {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'crypto' });
    await fetch(dep.checkout_url!, { method: 'POST', body: new URLSearchParams({ action: 'fail' }), redirect: 'manual' });
    expect((await depositOutcome(h, dep.id)).status).toBe('failed');
    await saveDeposit(h, dep.id, 'crypto-failed');
  });
});

describe('deposit histories (short checkout)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startDepositHarness({ ttlSeconds: 3, pollSeconds: 1, graceSeconds: 3 });
  });
  afterAll(async () => h?.close());

  it('card expired', async () => {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'card' });
    expect((await depositOutcome(h, dep.id)).status).toBe('expired');
    await saveDeposit(h, dep.id, 'card-expired');
  });

  it('crypto expired', async () => {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'crypto' });
    expect((await depositOutcome(h, dep.id)).status).toBe('expired');
    await saveDeposit(h, dep.id, 'crypto-expired');
  });

  it('crypto settling past expiry, then paid', async () => {
    const { key } = await h.createAccount();
    const sandbox = cryptomusSandbox(h);
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'crypto' });
    const uuid = await refOf(h, dep.id);
    sandbox.webhooks.mode = 'hold';
    try {
      sandbox.setStatus(uuid, 'confirm_check');
      await untilSettling(h, dep.id);
      sandbox.webhooks.mode = 'auto';
      sandbox.setStatus(uuid, 'paid');
      expect((await depositOutcome(h, dep.id)).status).toBe('credited');
      await saveDeposit(h, dep.id, 'crypto-settle-paid');
    } finally {
      sandbox.webhooks.mode = 'auto';
    }
  });

  it('crypto still settling after the grace period: needs review', async () => {
    const { key } = await h.createAccount();
    const sandbox = cryptomusSandbox(h);
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'crypto' });
    sandbox.webhooks.mode = 'hold';
    try {
      sandbox.setStatus(await refOf(h, dep.id), 'confirm_check');
      expect((await depositOutcome(h, dep.id)).status).toBe('needs_review');
      await saveDeposit(h, dep.id, 'crypto-settle-review');
    } finally {
      sandbox.webhooks.mode = 'auto';
    }
  });
});

describe('deposit histories (provider refuses the checkout)', () => {
  let h: Harness;
  let stripe: Server;
  beforeAll(async () => {
    const port = await freePort();
    // A Stripe API that refuses every request as invalid: a 400 no retry can fix.
    stripe = createServer((_req, res) => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: { type: 'invalid_request_error', message: 'Invalid currency: usd' } }));
    });
    await new Promise<void>((r) => stripe.listen(port, '127.0.0.1', () => r()));
    h = await startHarness({
      env: { STRIPE_SECRET_KEY: 'sk_test_refused', STRIPE_WEBHOOK_SECRET: 'whsec_refused', STRIPE_API_BASE: `http://127.0.0.1:${port}` },
    });
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((r) => stripe?.close(r));
  });

  it('checkout refused', async () => {
    const { key } = await h.createAccount();
    const res = await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    const [row] = await h.services.db('deposits').select('id');
    expect((await depositOutcome(h, row.id)).status).toBe('failed');
    await saveDeposit(h, row.id, 'card-checkout-refused');
  });
});

describe('hold sweep, ledger audit and chat capture histories', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  it('ledger audit', async () => {
    await h.createAccount({ balanceUsd: '1.00' });
    const workflowId = 'ledger-audit-record';
    await h.services.temporal.client.workflow.execute(ledgerAuditWorkflow, { taskQueue: h.services.temporal.taskQueue, workflowId });
    await save(h, workflowId, 'ledger-audit-balanced');
  });

  it('hold sweep with nothing to sweep', async () => {
    const workflowId = 'hold-reconciler-record';
    await h.services.temporal.client.workflow.execute(HOLD_SWEEP_WORKFLOW_TYPE, { taskQueue: h.services.temporal.taskQueue, workflowId, args: [{}] });
    await save(h, workflowId, 'hold-reconciler-empty');
  });

  it('chat capture of a delivered answer', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const hold = await h.services.ledger.placeHold({
      accountId,
      amount: 2_000_000n,
      idempotencyKey: `chat-capture-record-${accountId}`,
      purpose: 'chat',
      expiresAt: new Date(Date.now() + 3_600_000),
    });
    const order = { holdId: hold.value.id, accountId, amount: '1500000', requestId: `req_record_${accountId}` };
    const workflowId = chatCaptureWorkflowId(order.holdId);
    await h.services.temporal.client.workflow.execute(chatCaptureWorkflow, { taskQueue: h.services.temporal.taskQueue, workflowId, args: [order] });
    expect((await h.services.ledger.balance(accountId)).balance).toBe(1_000_000_000n - 1_500_000n);
    await save(h, workflowId, 'chat-capture-delivered');
  });
});

describe('payment reversal histories', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startDepositHarness();
  });
  afterAll(async () => h?.close());

  async function paidCard(h: Harness) {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'standard', method: 'card' });
    const session = await refOf(h, dep.id);
    stripeSandbox(h).pay(session, 'card');
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    return session;
  }

  it('dispute opened, then won', async () => {
    const session = await paidCard(h);
    const dispute = stripeSandbox(h).reversals.dispute(session);
    while (!(await h.services.payments.reversals.get(dispute.id))) await new Promise((r) => setTimeout(r, 50));
    stripeSandbox(h).reversals.closeDispute(dispute.id, 'won');
    await h.services.temporal.client.workflow.getHandle(`dispute-${dispute.id}`).result();
    save(h, `dispute-${dispute.id}`, 'payment-reversal-dispute-won');
  });

  it('dispute lost', async () => {
    const session = await paidCard(h);
    const dispute = stripeSandbox(h).reversals.dispute(session);
    while (!(await h.services.payments.reversals.get(dispute.id))) await new Promise((r) => setTimeout(r, 50));
    stripeSandbox(h).reversals.closeDispute(dispute.id, 'lost');
    await h.services.temporal.client.workflow.getHandle(`dispute-${dispute.id}`).result();
    save(h, `dispute-${dispute.id}`, 'payment-reversal-dispute-lost');
  });

  it('two partial refunds (the run still open, waiting for more)', async () => {
    const session = await paidCard(h);
    stripeSandbox(h).reversals.refund(session, 500);
    const charge = stripeSandbox(h).reversals.refund(session, 1000);
    const id = `refund-${charge.payment_intent}`;
    while ((await h.services.payments.reversals.get(id))?.amount !== 15_000_000_000n) await new Promise((r) => setTimeout(r, 50));
    save(h, id, 'payment-reversal-refunds');
  });
});

describe('balance alert histories', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  it('balance alert delivered after one failed attempt', async () => {
    const receiver = await startWebhookReceiver();
    try {
      const { key, accountId } = await h.createAccount({ balanceUsd: '10.00' });
      await h.call('PUT', '/v1/billing/alerts', { key, body: { threshold_usd: '5.00', webhook_url: receiver.url } });
      receiver.respondWith(503);
      await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, { amount_usd: '-6.00', reason: 'history' });
      await receiver.waitFor(1);
      receiver.respondWith(200);
      const id = balanceAlertWorkflowId(accountId, 1);
      expect(await h.services.temporal.client.workflow.getHandle(id).result()).toMatchObject({ outcome: 'delivered' });
      save(h, id, 'balance-alert-delivered');
    } finally {
      await receiver.close();
    }
  });
});

describe('deposit histories (receipts and saved cards)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startDepositHarness({ pollSeconds: 1 });
  });
  afterAll(async () => h?.close());

  it('card paid with save_card: receipt and card recorded after the credit', async () => {
    const { key } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'standard', method: 'card', save_card: true });
    stripeSandbox(h).pay(await refOf(h, dep.id), 'card');
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    save(h, depositWorkflowId(dep.id), 'deposit-card-saved-card');
  });
});

describe('auto top-up histories', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startDepositHarness({ pollSeconds: 1 });
  });
  afterAll(async () => h?.close());

  async function topUp(card: 'visa' | 'declined', name: string) {
    const { key, accountId } = await h.createAccount();
    const dep = await createDeposit(h, key, { tier: 'starter', method: 'card', save_card: true });
    stripeSandbox(h).pay(await refOf(h, dep.id), 'card', card);
    expect((await depositOutcome(h, dep.id)).status).toBe('credited');
    await h.call('PUT', '/v1/billing/auto-topup', { key, body: { threshold_usd: '5.00', tier: 'starter' } });
    await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, { amount_usd: '-6.00', reason: 'history' });
    const handle = h.services.temporal.client.workflow.getHandle(autoTopupWorkflowId(accountId, 1));
    while (!(await handle.describe().catch(() => null))) await new Promise((r) => setTimeout(r, 100));
    await handle.result();
    save(h, autoTopupWorkflowId(accountId, 1), name);
  }

  it('auto top-up credited', () => topUp('visa', 'auto-topup-credited'));
  it('auto top-up declined', () => topUp('declined', 'auto-topup-declined'));
});
