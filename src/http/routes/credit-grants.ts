import { Router } from 'express';
import { creditSummary } from '../../ledger/credit-summary.js';
import { creditGrants } from '../../ledger/credit-totals.js';
import { usdNumber } from '../../ledger/money.js';
import type { Services } from '../../services.js';
import { accountOf, requireApiKey } from '../auth.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';

/** GET /v1/dashboard/billing/credit_grants in OpenAI's legacy credit_summary shape. */
export function creditGrantRoutes(services: Services): Router {
  const router = Router();
  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/dashboard/billing/credit_grants',
      summary: 'Balance: granted, used and available credit (USD)',
      tag: 'billing',
      auth: 'api_key',
    },
    async (_input, _req, res) => {
      const accountId = accountOf(res);
      const [balance, grants] = await Promise.all([services.ledger.balance(accountId), creditGrants(services.db, accountId)]);
      const summary = creditSummary({ balance: balance.balance, held: balance.held, grants });
      res.json({
        object: 'credit_summary',
        total_granted: usdNumber(summary.totalGranted),
        total_used: usdNumber(summary.totalUsed),
        total_available: usdNumber(summary.totalAvailable),
        total_held: usdNumber(summary.totalHeld),
        grants: {
          object: 'list',
          data: summary.grants.map((g) => ({
            object: 'credit_grant',
            id: g.id,
            grant_amount: usdNumber(g.grantAmount),
            used_amount: usdNumber(g.usedAmount),
            effective_at: unix(g.effectiveAt),
            expires_at: null,
          })),
        },
      });
    },
  );
  return router;
}

