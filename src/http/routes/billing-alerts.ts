import { Router } from 'express';
import { z } from 'zod';
import { alertDeps, deleteAlert, getAlert, putAlert, type AlertSettings } from '../../alerts/alert-settings.js';
import { formatUsd } from '../../ledger/money.js';
import type { Services } from '../../services.js';
import { accountOf } from '../auth.js';
import { defineRoute } from '../route.js';
import { usdAmount } from '../usd-schema.js';

const AlertPut = z.strictObject({
  threshold_usd: usdAmount.refine((v) => v > 0n, 'must be more than 0').describe('Alert when available credit falls below this (USD)'),
  webhook_url: z.string().min(1).max(2000).describe('Where the signed balance.low event is POSTed; a public https URL in production'),
});

const alertObject = z.object({
  object: z.literal('billing_alert'),
  enabled: z.boolean(),
  threshold_usd: z.string().nullable().describe('Exact USD'),
  webhook_url: z.string().nullable(),
  armed: z.boolean().describe('False from a crossing until a credit lifts available credit to the threshold again'),
});

const present = (s: AlertSettings | null) => ({
  object: 'billing_alert' as const,
  enabled: s !== null,
  threshold_usd: s ? formatUsd(s.threshold) : null,
  webhook_url: s?.webhookUrl ?? null,
  armed: s?.armed ?? false,
});

const EVENT_NOTE =
  'Event: POST {"id","type":"balance.low","account_id","available_usd","threshold_usd","created"} with header ' +
  'Cheapa-Signature: t=<unix>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" keyed with the secret>; once per crossing, retried with backoff for up to 3 days';

/** Low-balance alerts: a signed webhook when the account's available credit falls below a threshold. */
export function billingAlertRoutes(services: Services): Router {
  const router = Router();
  const deps = alertDeps(services.db, services.config, services.adminToken);

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/billing/alerts',
      summary: 'The account\u2019s low-balance alert',
      tag: 'billing',
      auth: 'api_key',
      responses: { 200: { description: 'The alert (enabled: false when none is set)', schema: alertObject } },
    },
    async (_input, _req, res) => {
      res.json(present(await getAlert(services.db, accountOf(res))));
    },
  );

  defineRoute(
    router,
    {
      method: 'put',
      path: '/v1/billing/alerts',
      summary: `Set the low-balance alert (threshold and webhook URL; arms it again). ${EVENT_NOTE}`,
      tag: 'billing',
      auth: 'api_key',
      body: AlertPut,
      responses: {
        200: {
          description: 'The alert; `secret` (whsec_…) appears only in the answer to the first PUT after none was set',
          schema: alertObject.extend({ secret: z.string().optional() }),
        },
        400: { description: 'invalid_webhook_url: not https, or not a public address (production)' },
      },
    },
    async ({ body }, _req, res) => {
      const { settings, secret } = await putAlert(deps, accountOf(res), { threshold: body.threshold_usd, webhookUrl: body.webhook_url });
      res.json({ ...present(settings), ...(secret ? { secret } : {}) });
    },
  );

  defineRoute(
    router,
    {
      method: 'delete',
      path: '/v1/billing/alerts',
      summary: 'Remove the low-balance alert and retire its signing secret',
      tag: 'billing',
      auth: 'api_key',
      responses: { 200: { description: 'deleted: false when no alert was set', schema: z.object({ object: z.literal('billing_alert'), deleted: z.boolean() }) } },
    },
    async (_input, _req, res) => {
      res.json({ object: 'billing_alert', deleted: await deleteAlert(services.db, accountOf(res)) });
    },
  );
  return router;
}
