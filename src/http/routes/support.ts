import { Router } from 'express';
import { z } from 'zod';
import { RequestLog } from '../../chat/request-log.js';
import { formatUsd } from '../../ledger/money.js';
import type { Services } from '../../services.js';
import { startCustomDeposit } from '../../support/custom-deposit.js';
import { changeSupportRequest, getSupportRequest, listSupportRequests, recordSupportRequest } from '../../support/support-repository.js';
import { accountOf, requireAdmin } from '../auth.js';
import { invalidRequest, notFound } from '../errors.js';
import { presentDeposit } from './deposits.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';
import { usdAmount } from '../usd-schema.js';

const SupportRequest = z.strictObject({
  kind: z.enum(['custom_amount', 'disputed_deduction', 'other']),
  message: z.string().trim().min(5).max(5000),
  amount_usd: usdAmount.optional().describe('custom_amount: the top-up you would like'),
  request_ids: z.array(z.string().min(1).max(200)).max(100).optional().describe('disputed_deduction: the affected request ids'),
});

const SupportQuery = z.strictObject({
  status: z.enum(['open', 'answered', 'closed']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});
const CustomerChange = z.strictObject({ status: z.enum(['open', 'closed']).describe('close your request, or reopen it') });
const OpsChange = z
  .strictObject({
    status: z.enum(['open', 'answered', 'closed']).optional(),
    reply: z.string().trim().min(1).max(5000).optional().describe('shown to the customer; a reply alone answers the request'),
  })
  .refine((b) => b.status !== undefined || b.reply !== undefined, 'Give a status, a reply, or both.');
const CustomDeposit = z.strictObject({
  amount_usd: usdAmount.describe('$5.00 to $10,000.00, whole cents'),
  method: z.enum(['card', 'crypto']),
  support_request_id: z.string().min(1).max(64),
});

/**
 * The contact form: custom top-up amounts and disputed deductions, queued for ops, with statuses
 * both sides see (open → answered → closed; support-status.ts says who may move what), and ops'
 * checkout for an approved custom amount.
 */
export function supportRoutes(services: Services): Router {
  const router = Router();
  const { db } = services;
  const requests = new RequestLog(db);

  defineRoute(
    router,
    {
      method: 'post',
      path: '/v1/billing/support',
      summary: 'Ask for a custom top-up amount, or dispute deductions (with the request ids)',
      tag: 'billing',
      auth: 'api_key',
      body: SupportRequest,
      responses: { 201: { description: 'The recorded support request' } },
    },
    async ({ body }, _req, res) => {
      const accountId = accountOf(res);
      if (body.kind === 'custom_amount' && !(body.amount_usd && body.amount_usd > 0n)) {
        throw invalidRequest('A custom_amount request needs a positive amount_usd.', 'amount_usd');
      }
      const requestIds = [...new Set(body.request_ids ?? [])];
      if (body.kind === 'disputed_deduction') {
        if (requestIds.length === 0) throw invalidRequest('A disputed_deduction needs the affected request_ids.', 'request_ids');
        const known = await requests.knownIds(accountId, requestIds);
        const unknown = requestIds.filter((id) => !known.has(id));
        if (unknown.length) throw invalidRequest(`Unknown request ids for this account: ${unknown.join(', ')}.`, 'request_ids');
      }
      const row = await recordSupportRequest(
        db,
        { accountId, kind: body.kind, message: body.message, amount: body.amount_usd ?? null, requestIds },
        services.config.support.maxOpenPerAccount,
      );
      services.logger.info({ supportRequestId: row.id, accountId, kind: body.kind }, 'support request recorded');
      res.status(201).json(presentSupport(row));
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/v1/billing/support', summary: 'Your support requests with their status and our reply, newest first', tag: 'billing', auth: 'api_key', query: SupportQuery },
    async ({ query }, _req, res) => {
      const accountId = accountOf(res);
      res.json({ object: 'list', data: (await listSupportRequests(db, { ...query, accountId })).map(presentSupport) });
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/v1/billing/support/:id', summary: 'One of your support requests', tag: 'billing', auth: 'api_key' },
    async ({ params }, _req, res) => {
      const row = await getSupportRequest(db, params.id!, accountOf(res));
      if (!row) throw notFound(`No support request with id '${params.id}'.`, 'id');
      res.json(presentSupport(row));
    },
  );

  defineRoute(
    router,
    { method: 'patch', path: '/v1/billing/support/:id', summary: 'Close your support request, or reopen it', tag: 'billing', auth: 'api_key', body: CustomerChange },
    async ({ body, params }, _req, res) => {
      const accountId = accountOf(res);
      const row = await changeSupportRequest(db, params.id!, { actor: 'customer', status: body.status, accountId }, services.config.support.maxOpenPerAccount);
      if (!row) throw notFound(`No support request with id '${params.id}'.`, 'id');
      res.json(presentSupport(row));
    },
  );

  router.use('/admin/support', requireAdmin(services));
  router.use('/admin/accounts', requireAdmin(services));
  defineRoute(
    router,
    { method: 'get', path: '/admin/support', summary: 'The support queue (custom amounts, disputes)', tag: 'admin', auth: 'admin', query: SupportQuery },
    async ({ query }, _req, res) => {
      res.json({ object: 'list', data: (await listSupportRequests(db, query)).map(presentSupport) });
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/admin/support/:id', summary: 'One support request', tag: 'admin', auth: 'admin' },
    async ({ params }, _req, res) => {
      const row = await getSupportRequest(db, params.id!);
      if (!row) throw notFound(`No support request with id '${params.id}'.`, 'id');
      res.json(presentSupport(row));
    },
  );

  defineRoute(
    router,
    { method: 'patch', path: '/admin/support/:id', summary: 'Answer (reply), close or reopen a support request', tag: 'admin', auth: 'admin', body: OpsChange },
    async ({ body, params }, _req, res) => {
      const row = await changeSupportRequest(db, params.id!, { actor: 'ops', ...body }, services.config.support.maxOpenPerAccount);
      if (!row) throw notFound(`No support request with id '${params.id}'.`, 'id');
      res.json(presentSupport(row));
    },
  );

  defineRoute(
    router,
    {
      method: 'post',
      path: '/admin/accounts/:id/deposits',
      summary: 'Open a checkout for the custom amount of a support request (idempotent per request)',
      tag: 'admin',
      auth: 'admin',
      body: CustomDeposit,
      responses: { 201: { description: 'The deposit, with its checkout_url' }, 200: { description: 'The deposit already opened for this request' } },
    },
    async ({ body, params }, _req, res) => {
      const account = await services.accounts.get(params.id!);
      if (!account) throw notFound(`No account with id '${params.id}'.`, 'id');
      // A checkout the provider refused or Temporal did not confirm maps to 502 / 503 in errors.ts;
      // repeating the call is safe (idempotent per support request).
      const result = await startCustomDeposit(services, { accountId: account.id, amount: body.amount_usd, method: body.method, supportRequestId: body.support_request_id });
      if (!result.created) res.setHeader('idempotent-replayed', 'true');
      res.status(result.created ? 201 : 200).json(presentDeposit(result.deposit));
    },
  );

  return router;
}

function presentSupport(r: Record<string, any>) {
  return {
    id: r.id,
    object: 'support_request',
    account_id: r.account_id,
    kind: r.kind,
    status: r.status,
    message: r.message,
    amount_usd: r.amount === null ? null : formatUsd(BigInt(r.amount)),
    request_ids: r.request_ids ?? [],
    reply: r.reply,
    deposit_id: r.deposit_id,
    created_at: unix(r.created_at),
    answered_at: unix(r.answered_at),
    closed_at: unix(r.closed_at),
  };
}
