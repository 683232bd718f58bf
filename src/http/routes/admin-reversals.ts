import { Router } from 'express';
import { z } from 'zod';
import { liftSuspension, type Suspension } from '../../accounts/suspension.js';
import { formatUsd } from '../../ledger/money.js';
import { reviewAccount, type AccountStanding } from '../../payments/account-standing.js';
import type { Reversal } from '../../payments/reversal-repository.js';
import { reversalWorkflowId } from '../../payments/reversal-workflows.js';
import type { Services } from '../../services.js';
import { requireAdmin } from '../auth.js';
import { notFound } from '../errors.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';
import { workflowUrl } from '../workflow-link.js';

const ReversalQuery = z.strictObject({
  kind: z.enum(['dispute', 'refund']).optional(),
  status: z.enum(['open', 'won', 'lost', 'refunded']).optional(),
  limit: z.coerce.number().int().min(1).max(200).default(50),
});

/** Ops' view of disputes, refunds, money owed and suspensions (the customer's side is in deposits.ts). */
export function adminReversalRoutes(services: Services): Router {
  const router = Router();
  router.use('/admin', requireAdmin(services));
  const { reversals } = services.payments;

  defineRoute(
    router,
    { method: 'get', path: '/admin/disputes', summary: 'Disputes and refunds of deposits, newest first (filter by kind and status)', tag: 'admin', auth: 'admin', query: ReversalQuery },
    async ({ query }, _req, res) => {
      res.json({ object: 'list', data: (await reversals.list(query)).map((r) => presentReversal(r, services)) });
    },
  );

  defineRoute(
    router,
    { method: 'get', path: '/admin/accounts/:id/standing', summary: 'What an account owes, whether it is suspended, and its disputes and refunds', tag: 'admin', auth: 'admin' },
    async ({ params }, _req, res) => {
      const review = await reviewAccount(services, params.id!);
      if (!review) throw notFound(`No account with id '${params.id}'.`, 'id');
      res.json(presentStanding(review.standing, services));
    },
  );

  defineRoute(
    router,
    { method: 'delete', path: '/admin/accounts/:id/suspension', summary: 'Lift an account suspension (e.g. after a lost dispute was settled)', tag: 'admin', auth: 'admin' },
    async ({ params }, _req, res) => {
      const account = await services.accounts.get(params.id!);
      if (!account) throw notFound(`No account with id '${params.id}'.`, 'id');
      const lifted = await liftSuspension(services.db, account.id);
      services.logger.info({ accountId: account.id, lifted }, 'suspension lifted by ops');
      res.json({ ...presentStanding((await reviewAccount(services, account.id))!.standing, services), lifted });
    },
  );

  return router;
}

/** Owed, suspension and reversals of an account: shown on GET /admin/accounts/{id} too. */
export function presentStanding(standing: AccountStanding, services: Services) {
  return {
    owed_usd: formatUsd(standing.owed),
    suspension: presentSuspension(standing.suspension),
    disputes: standing.reversals.map((r) => presentReversal(r, services)),
  };
}

const presentSuspension = (s: Suspension | null) => (s ? { suspended_at: unix(s.suspendedAt), reason: s.reason } : null);

export function presentReversal(r: Reversal, services: Services) {
  const workflowId = reversalWorkflowId(r.kind, r.id);
  return {
    id: r.id,
    object: r.kind === 'dispute' ? 'billing.dispute' : 'billing.refund',
    kind: r.kind,
    provider: r.provider,
    status: r.status,
    deposit_id: r.depositId,
    account_id: r.accountId,
    amount_usd: formatUsd(r.amount),
    debited_usd: formatUsd(r.debited),
    owed_usd: formatUsd(r.owed),
    reason: r.reason,
    created_at: unix(r.createdAt),
    updated_at: unix(r.updatedAt),
    closed_at: unix(r.closedAt),
    workflow_id: workflowId,
    workflow_url: workflowUrl(services, workflowId),
  };
}
