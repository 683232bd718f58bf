import { Router } from 'express';
import { z } from 'zod';
import { formatUsd } from '../../ledger/money.js';
import type { Deposit, DepositEvent } from '../../payments/deposit-repository.js';
import { depositWorkflowId } from '../../payments/deposit-client.js';
import { startDeposit } from '../../payments/deposit-starter.js';
import { type Tier, TIER_NAMES } from '../../payments/tiers.js';
import type { Services } from '../../services.js';
import { accountOf } from '../auth.js';
import { notFound } from '../errors.js';
import { idempotencyKeyOf } from '../idempotency.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';
import { usdAmount } from '../usd-schema.js';
import { workflowUrl } from '../workflow-link.js';

const CreateDeposit = z.strictObject({
  tier: z.enum(TIER_NAMES as [Tier, ...Tier[]]).optional().describe('starter $10, standard $25, developer $50, team $100, growth $250, enterprise $500'),
  amount_usd: usdAmount.optional().describe('One of the tier amounts; other amounts go through POST /v1/billing/support'),
  method: z.enum(['card', 'crypto']),
  coin: z.string().transform((s) => s.toUpperCase()).pipe(z.enum(['BTC', 'LTC', 'USDT'])).optional().describe('crypto only'),
  network: z.enum(['btc', 'ltc', 'tron']).optional().describe('crypto only; implied by the coin'),
  save_card: z.boolean().optional().describe('card only: keep the card for auto top-up (Stripe setup_future_usage=off_session); see GET /v1/billing/payment-method'),
});

const ListQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(100).default(20),
  after: z.string().max(64).optional(),
});

export function depositRoutes(services: Services): Router {
  const router = Router();
  const { deposits } = services.payments;

  defineRoute(
    router,
    {
      method: 'post',
      path: '/v1/billing/deposits',
      summary: 'Start a top-up: a tier (or its amount) by card or crypto; returns the checkout URL',
      tag: 'billing',
      auth: 'api_key',
      body: CreateDeposit,
      responses: { 201: { description: 'The deposit, with its checkout_url' }, 200: { description: 'Replay of an Idempotency-Key' } },
    },
    async ({ body }, req, res) => {
      const { deposit, created, history } = await startDeposit(services, {
        accountId: accountOf(res),
        method: body.method,
        tier: body.tier,
        amountNano: body.amount_usd,
        coin: body.coin,
        network: body.network,
        saveCard: body.save_card,
        idempotencyKey: idempotencyKeyOf(req),
      });
      if (!created) res.setHeader('idempotent-replayed', 'true');
      res.status(created ? 201 : 200).json(presentDeposit(deposit, history));
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/v1/billing/deposits', summary: 'Your deposits, newest first', tag: 'billing', auth: 'api_key', query: ListQuery },
    async ({ query }, _req, res) => {
      const accountId = accountOf(res);
      const page = await deposits.list(accountId, query);
      res.json({
        object: 'list',
        data: page.data.map((d) => presentDeposit(d)),
        first_id: page.data[0]?.id ?? null,
        last_id: page.data.at(-1)?.id ?? null,
        has_more: page.hasMore,
      });
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/v1/billing/deposits/:id', summary: 'One deposit with its status history', tag: 'billing', auth: 'api_key' },
    async ({ params }, _req, res) => {
      const accountId = accountOf(res);
      const deposit = await deposits.getForAccount(accountId, params.id!);
      if (!deposit) throw notFound(`No deposit with id '${params.id}'.`, 'id');
      // Of the credit, what went to money the account owed (owed.ts): the rest became balance.
      const owedPaid = await services.owed.paidByDeposit(deposit.id);
      res.json({ ...presentDeposit(deposit, await deposits.history(deposit.id)), owed_paid_usd: formatUsd(owedPaid) });
    },
  );

  return router;
}

const OPEN = new Set(['creating', 'pending', 'processing']);

/** The customer's view of a deposit: nothing of Temporal (no workflow id, run id or UI link). */
export function presentDeposit(d: Deposit, history?: DepositEvent[]) {
  return {
    id: d.id,
    object: 'billing.deposit',
    status: d.status,
    method: d.method,
    provider: d.provider,
    tier: d.tier,
    amount_usd: formatUsd(d.amount),
    credited_usd: d.creditedAmount === null ? null : formatUsd(d.creditedAmount),
    checkout_url: OPEN.has(d.status) ? d.checkoutUrl : null,
    coin: d.coin,
    network: d.network,
    expires_at: unix(d.expiresAt),
    created_at: unix(d.createdAt),
    updated_at: unix(d.updatedAt),
    credited_at: unix(d.creditedAt),
    reversal: d.reversal,
    support_request_id: d.supportRequestId,
    save_card: d.saveCard,
    receipt_url: d.receiptUrl,
    ...(history
      ? {
          status_history: history.map((e) => ({
            status: e.status,
            source: e.source,
            outcome: e.outcome,
            provider_status: e.providerStatus,
            amount_usd: e.amount === null ? null : formatUsd(e.amount),
            note: e.note,
            event_id: e.eventId,
            at: unix(e.createdAt),
          })),
        }
      : {}),
  };
}

/** The ops view (admin API): the customer's view plus where the deposit's workflow is. */
export function presentDepositForOps(d: Deposit, services: Services, history?: DepositEvent[]) {
  const workflowId = depositWorkflowId(d.id);
  return {
    ...presentDeposit(d, history),
    account_id: d.accountId,
    provider_ref: d.providerRef,
    workflow_id: workflowId,
    workflow_url: workflowUrl(services, workflowId),
  };
}
