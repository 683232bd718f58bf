import { Router } from 'express';
import { z } from 'zod';
import { generationWorkflowId } from '../../generations/generation-client.js';
import { GenerationRepository, type GenerationRecord } from '../../generations/generation-repository.js';
import { formatUsd } from '../../ledger/money.js';
import type { OpenAllowance } from '../../ledger/allowances.js';
import type { Hold } from '../../ledger/types.js';
import type { Services } from '../../services.js';
import { notFound } from '../errors.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';
import { workflowUrl } from '../workflow-link.js';
import { presentDepositForOps } from './deposits.js';

/**
 * What the ops view reads beside the accounts: the holds and chat allowances still open across
 * accounts, and an account's deposits and generations, each with its workflow in the Temporal Web UI.
 */

const OpenQuery = z.strictObject({
  account_id: z.string().trim().min(1).max(100).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
});
const ListQuery = z.strictObject({ limit: z.coerce.number().int().min(1).max(100).default(20) });

export function adminOpsRoutes(services: Services): Router {
  const router = Router();
  const generations = new GenerationRepository(services.db);

  defineRoute(
    router,
    {
      method: 'get',
      path: '/admin/holds',
      summary: 'Pending holds across accounts (or of one), oldest first, with their age and what placed them (ops view)',
      tag: 'admin',
      auth: 'admin',
      query: OpenQuery,
    },
    async ({ query }, _req, res) => {
      const holds = await services.ledger.openHolds({ accountId: query.account_id, limit: query.limit });
      const now = Date.now();
      res.json({ object: 'list', data: holds.map((h) => presentOpenHold(h, now, services)) });
    },
  );

  defineRoute(
    router,
    {
      method: 'get',
      path: '/admin/allowances',
      summary: "Chat allowances held across accounts (or of one), largest first, with the API process holding each and whether its lease lapsed (ops view)",
      tag: 'admin',
      auth: 'admin',
      query: OpenQuery,
    },
    async ({ query }, _req, res) => {
      const allowances = await services.ledger.openAllowances({ accountId: query.account_id, limit: query.limit });
      res.json({ object: 'list', data: allowances.map(presentAllowance) });
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/admin/accounts/:id/deposits', summary: "An account's deposits, newest first, each with its workflow (ops view)", tag: 'admin', auth: 'admin', query: ListQuery },
    async ({ params, query }, _req, res) => {
      if (!(await services.accounts.get(params.id!))) throw notFound(`No account with id '${params.id}'.`, 'id');
      const page = await services.payments.deposits.list(params.id!, { limit: query.limit });
      res.json({ object: 'list', data: page.data.map((d) => presentDepositForOps(d, services)), has_more: page.hasMore });
    },
  );

  defineRoute(
    router,
    {
      method: 'get',
      path: '/admin/accounts/:id/generations',
      summary: "An account's image and video generations, newest first, each with its workflow (ops view)",
      tag: 'admin',
      auth: 'admin',
      query: ListQuery,
    },
    async ({ params, query }, _req, res) => {
      if (!(await services.accounts.get(params.id!))) throw notFound(`No account with id '${params.id}'.`, 'id');
      const page = { limit: query.limit, order: 'desc' as const };
      const [images, videos] = await Promise.all([generations.list(params.id!, 'image', page), generations.list(params.id!, 'video', page)]);
      const newest = [...images, ...videos].sort((a, b) => b.createdAt.getTime() - a.createdAt.getTime() || b.id.localeCompare(a.id)).slice(0, query.limit);
      res.json({ object: 'list', data: newest.map((g) => presentGenerationForOps(g, services)) });
    },
  );

  return router;
}

function presentOpenHold(h: Hold, now: number, services: Services) {
  const workflowId = h.generationId ? generationWorkflowId(h.generationId) : null;
  return {
    id: h.id,
    object: 'hold',
    account_id: h.accountId,
    purpose: h.purpose,
    request_id: h.requestId,
    generation_id: h.generationId,
    amount_usd: formatUsd(h.amount),
    created_at: unix(h.createdAt),
    expires_at: unix(h.expiresAt),
    age_seconds: Math.max(0, Math.floor((now - h.createdAt.getTime()) / 1000)),
    workflow_id: workflowId,
    workflow_url: workflowId ? workflowUrl(services, workflowId) : null,
  };
}

function presentAllowance(a: OpenAllowance) {
  return {
    object: 'chat_allowance',
    account_id: a.accountId,
    lease_id: a.leaseId,
    amount_usd: formatUsd(a.amount),
    process: a.host === null ? null : { host: a.host, pid: a.pid },
    lease_expires_at: unix(a.leaseExpiresAt),
    lapsed: a.lapsed,
  };
}

function presentGenerationForOps(g: GenerationRecord, services: Services) {
  const workflowId = generationWorkflowId(g.id);
  return {
    id: g.id,
    object: 'generation',
    kind: g.kind,
    model: g.model,
    status: g.status,
    cost_usd: formatUsd(g.cost),
    hold_id: g.holdId,
    request_id: g.requestId,
    created_at: unix(g.createdAt),
    completed_at: unix(g.completedAt),
    workflow_id: workflowId,
    workflow_url: workflowUrl(services, workflowId),
  };
}
