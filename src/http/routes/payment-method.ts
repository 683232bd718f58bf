import { Router } from 'express';
import { z } from 'zod';
import { disableAutoTopup } from '../../payments/auto-topup.js';
import type { SavedCard } from '../../payments/saved-cards.js';
import type { Services } from '../../services.js';
import { accountOf } from '../auth.js';
import { unix } from '../present.js';
import { defineRoute } from '../route.js';

const paymentMethod = z.object({
  object: z.literal('payment_method'),
  saved: z.boolean(),
  type: z.literal('card').nullable(),
  brand: z.string().nullable(),
  last4: z.string().nullable(),
  deposit_id: z.string().nullable().describe('The deposit the card was saved with'),
  saved_at: z.number().int().nullable(),
});

const present = (c: SavedCard | null) => ({
  object: 'payment_method' as const,
  saved: c !== null,
  type: c ? ('card' as const) : null,
  brand: c?.brand ?? null,
  last4: c?.last4 ?? null,
  deposit_id: c?.depositId ?? null,
  saved_at: c ? unix(c.savedAt) : null,
});

/** The card kept for off-session charges (saved with `save_card: true` on a card deposit). */
export function paymentMethodRoutes(services: Services): Router {
  const router = Router();
  const cards = services.payments.savedCards;

  defineRoute(
    router,
    {
      method: 'get',
      path: '/v1/billing/payment-method',
      summary: 'The saved card (brand and last 4 digits), if any',
      tag: 'billing',
      auth: 'api_key',
      responses: { 200: { description: 'saved: false when no card is kept', schema: paymentMethod } },
    },
    async (_input, _req, res) => {
      res.json(present(await cards.get(accountOf(res))));
    },
  );

  defineRoute(
    router,
    {
      method: 'delete',
      path: '/v1/billing/payment-method',
      summary: 'Forget the saved card (auto top-up stops: it needs one)',
      tag: 'billing',
      auth: 'api_key',
      responses: { 200: { description: 'deleted: false when no card was kept', schema: z.object({ object: z.literal('payment_method'), deleted: z.boolean() }) } },
    },
    async (_input, _req, res) => {
      const accountId = accountOf(res);
      const forgotten = await cards.forget(accountId);
      // Auto top-up charges this card: it stops with it (PUT /v1/billing/auto-topup after saving another).
      if (forgotten) await disableAutoTopup(services.db, accountId, 'The saved card was removed.');
      res.json({ object: 'payment_method', deleted: forgotten !== null });
    },
  );
  return router;
}
