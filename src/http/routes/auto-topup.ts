import { Router } from 'express';
import { z } from 'zod';
import { formatUsd } from '../../ledger/money.js';
import { deleteAutoTopup, getAutoTopup, putAutoTopup, type AutoTopup } from '../../payments/auto-topup.js';
import { type Tier, TIER_NAMES } from '../../payments/tiers.js';
import type { Services } from '../../services.js';
import { accountOf } from '../auth.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';
import { usdAmount } from '../usd-schema.js';

const AutoTopupPut = z.strictObject({
  threshold_usd: usdAmount.refine((v) => v > 0n, 'must be more than 0').describe('Top up when available credit falls below this (USD)'),
  tier: z.enum(TIER_NAMES as [Tier, ...Tier[]]).describe('The tier charged to the saved card each time'),
});

const autoTopupObject = z.object({
  object: z.literal('auto_topup'),
  enabled: z.boolean().describe('Set and not stopped by a decline'),
  threshold_usd: z.string().nullable(),
  tier: z.enum(TIER_NAMES as [Tier, ...Tier[]]).nullable(),
  armed: z.boolean().describe('False from a top-up until a credit lifts available credit to the threshold again'),
  disabled_reason: z.string().nullable().describe('Why auto top-up stopped (a declined card); PUT enables it again'),
  disabled_at: z.number().int().nullable(),
});

const present = (a: AutoTopup | null) => ({
  object: 'auto_topup' as const,
  enabled: a !== null && a.disabledReason === null,
  threshold_usd: a?.threshold != null ? formatUsd(a.threshold) : null,
  tier: a?.tier ?? null,
  armed: a?.armed ?? false,
  disabled_reason: a?.disabledReason ?? null,
  disabled_at: a ? unix(a.disabledAt) : null,
});

/** Auto top-up: charge the saved card one tier when available credit falls below a threshold. */
export function autoTopupRoutes(services: Services): Router {
  const router = Router();

  defineRoute(
    router,
    { method: 'get', path: '/v1/billing/auto-topup', summary: 'The account\u2019s auto top-up', tag: 'billing', auth: 'api_key', responses: { 200: { description: 'enabled: false when none is set or a decline stopped it', schema: autoTopupObject } } },
    async (_input, _req, res) => {
      res.json(present(await getAutoTopup(services.db, accountOf(res))));
    },
  );

  defineRoute(
    router,
    {
      method: 'put',
      path: '/v1/billing/auto-topup',
      summary: 'Set auto top-up (needs a saved card): when available credit falls below threshold_usd, the saved card is charged the tier off-session, once per crossing',
      tag: 'billing',
      auth: 'api_key',
      body: AutoTopupPut,
      responses: { 200: { description: 'The auto top-up', schema: autoTopupObject }, 400: { description: 'no_saved_card: save a card first (save_card on a card deposit)' } },
    },
    async ({ body }, _req, res) => {
      res.json(present(await putAutoTopup(services.db, accountOf(res), { threshold: body.threshold_usd, tier: body.tier })));
    },
  );

  defineRoute(
    router,
    { method: 'delete', path: '/v1/billing/auto-topup', summary: 'Stop auto top-up', tag: 'billing', auth: 'api_key', responses: { 200: { description: 'deleted: false when none was set', schema: z.object({ object: z.literal('auto_topup'), deleted: z.boolean() }) } } },
    async (_input, _req, res) => {
      res.json({ object: 'auto_topup', deleted: await deleteAutoTopup(services.db, accountOf(res)) });
    },
  );
  return router;
}
