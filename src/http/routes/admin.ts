import { Router } from 'express';
import { z } from 'zod';
import { newId } from '../../ids.js';
import { auditLedger } from '../../ledger/index.js';
import { reviewAccount } from '../../payments/account-standing.js';
import type { Services } from '../../services.js';
import { requireAdmin } from '../auth.js';
import { invalidRequest, notFound } from '../errors.js';
import { idempotencyKeyOf } from '../idempotency.js';
import { presentAccount, presentEntry, presentKey } from '../present.js';
import { defineRoute } from '../route.js';
import { adminOpsRoutes } from './admin-ops.js';
import { presentReversal, presentStanding } from './admin-reversals.js';
import { presentDepositForOps } from './deposits.js';
import { usdAmount } from '../usd-schema.js';

const CreateAccount = z.strictObject({
  name: z.string().trim().min(1).max(200),
  email: z.email().max(320),
});
const AccountSearch = z.strictObject({
  q: z.string().trim().min(1).max(200).optional().describe('an account id, or part of a name or email'),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
const CreateKey = z.strictObject({ name: z.string().trim().min(1).max(200).default('default') });
const Adjustment = z.strictObject({
  amount_usd: usdAmount,
  reason: z.string().trim().min(3).max(1000),
  request_ids: z.array(z.string().min(1).max(200)).max(100).optional(),
});

export function adminRoutes(services: Services): Router {
  const router = Router();
  router.use('/admin', requireAdmin(services));
  router.use(adminOpsRoutes(services));

  defineRoute(
    router,
    { method: 'post', path: '/admin/accounts', summary: 'Create an account', tag: 'admin', auth: 'admin', body: CreateAccount },
    async ({ body }, _req, res) => {
      const account = await services.accounts.create(body);
      res.status(201).json(presentAccount(account));
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/admin/accounts', summary: 'Find accounts by id, name or email (ops view)', tag: 'admin', auth: 'admin', query: AccountSearch },
    async ({ query }, _req, res) => {
      const accounts = await services.accounts.search(query.q, query.limit);
      res.json({ object: 'list', data: accounts.map((a) => presentAccount(a)) });
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/admin/accounts/:id', summary: 'Account with balance, held, available, money owed, suspension and disputes', tag: 'admin', auth: 'admin' },
    async ({ params }, _req, res) => {
      const review = await reviewAccount(services, params.id!);
      if (!review) throw notFound(`No account with id '${params.id}'.`, 'id');
      res.json({ ...presentAccount(review.account, review.keys), ...presentStanding(review.standing, services) });
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/admin/deposits/:id', summary: 'A deposit with its history, provider reference and Temporal workflow (ops view)', tag: 'admin', auth: 'admin' },
    async ({ params }, _req, res) => {
      const deposit = await services.payments.deposits.get(params.id!);
      if (!deposit) throw notFound(`No deposit with id '${params.id}'.`, 'id');
      const reversals = await services.payments.reversals.forDeposit(deposit.id);
      res.json({
        ...presentDepositForOps(deposit, services, await services.payments.deposits.history(deposit.id)),
        disputes: reversals.map((r) => presentReversal(r, services)),
      });
    },
  );

  defineRoute(
    router,
    { method: 'post', path: '/admin/accounts/:id/keys', summary: 'Issue an API key (shown once)', tag: 'admin', auth: 'admin', body: CreateKey },
    async ({ body, params }, _req, res) => {
      const account = await services.accounts.get(params.id!);
      if (!account) throw notFound(`No account with id '${params.id}'.`, 'id');
      const { record, key } = await services.accounts.createKey(account.id, body.name);
      res.status(201).json({ ...presentKey(record), key });
    },
  );

  defineRoute(
    router,
    { method: 'delete', path: '/admin/keys/:id', summary: 'Revoke an API key', tag: 'admin', auth: 'admin' },
    async ({ params }, _req, res) => {
      const record = await services.accounts.revokeKey(params.id!);
      if (!record) throw notFound(`No API key with id '${params.id}'.`, 'id');
      services.apiKeys.forget(record.id);
      res.json({ ...presentKey(record), revoked: true });
    },
  );

  defineRoute(
    router,
    {
      method: 'post',
      path: '/admin/accounts/:id/adjustments',
      summary: 'Credit (positive) or debit (negative) an account, with a reason and the disputed request ids',
      tag: 'admin',
      auth: 'admin',
      body: Adjustment,
    },
    async ({ body, params }, req, res) => {
      const amount = body.amount_usd;
      if (amount === 0n) throw invalidRequest('amount_usd must not be zero.', 'amount_usd', 'invalid_amount');
      const account = await services.accounts.get(params.id!);
      if (!account) throw notFound(`No account with id '${params.id}'.`, 'id');
      const clientKey = idempotencyKeyOf(req);
      const result = await services.ledger.post({
        accountId: account.id,
        amount,
        kind: 'adjustment',
        idempotencyKey: clientKey ? `adjustment:${account.id}:${clientKey}` : `adjustment:${newId('adj')}`,
        reason: body.reason,
        actor: 'admin',
        requestIds: body.request_ids,
      });
      if (result.replayed) res.setHeader('idempotent-replayed', 'true');
      res.status(201).json(presentEntry(result.value));
    },
  );

  defineRoute(
    router,
    { method: 'post', path: '/admin/reconcile', summary: 'Check every ledger invariant and report discrepancies', tag: 'admin', auth: 'admin' },
    async (_input, _req, res) => {
      res.json(await auditLedger(services.db));
    },
  );

  return router;
}
