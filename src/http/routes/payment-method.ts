import { Router } from 'express';
import { z } from 'zod';
import { removeSavedCard } from '../../payments/card-removal.js';
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
  const removal = { db: services.db, cards, gateway: services.payments.gateways.card, logger: services.logger };

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
      summary: 'Remove the saved card: detached at the payment provider, so it can never be charged again, then forgotten (auto top-up stops: it needs one)',
      tag: 'billing',
      auth: 'api_key',
      responses: {
        200: { description: 'deleted: false when no card was kept', schema: z.object({ object: z.literal('payment_method'), deleted: z.boolean() }) },
        502: { description: 'payment_provider_unavailable: the provider would not detach the card; it is still saved, try again' },
      },
    },
    async (_input, _req, res) => {
      const removed = await removeSavedCard(removal, accountOf(res));
      res.json({ object: 'payment_method', deleted: removed !== null });
    },
  );
  return router;
}
