import { Router } from 'express';
import { z } from 'zod';
import { formatUsd } from '../../ledger/money.js';
import type { Services } from '../../services.js';
import { recordSupportRequest } from '../../support/support-repository.js';
import { accountOf, requireAdmin } from '../auth.js';
import { invalidRequest } from '../errors.js';
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
  status: z.enum(['open', 'resolved']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** The contact form: custom top-up amounts and disputed deductions, queued for ops. */
export function supportRoutes(services: Services): Router {
  const router = Router();
  const { db } = services;

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
        const known = new Set(
          (await db('requests').where({ account_id: accountId }).whereIn('id', requestIds).pluck('id')) as string[],
        );
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

  router.use('/admin/support', requireAdmin(services));
  defineRoute(
    router,
    { method: 'get', path: '/admin/support', summary: 'The support queue (custom amounts, disputes)', tag: 'admin', auth: 'admin', query: SupportQuery },
    async ({ query }, _req, res) => {
      const q = db('support_requests').orderBy('created_at', 'desc').limit(query.limit);
      if (query.status) q.where({ status: query.status });
      res.json({ object: 'list', data: (await q).map(presentSupport) });
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
    resolution: r.resolution,
    created_at: unix(r.created_at),
    resolved_at: unix(r.resolved_at),
  };
}
