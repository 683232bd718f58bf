import { Router } from 'express';
import type { Services } from '../services.js';

/**
 * The embedded payment providers, when no credentials are configured: local servers speaking
 * Stripe's and Cryptomus' protocols with hosted checkout pages. Mounted before the app's body
 * parsers, because they read (and Cryptomus signs) the raw request bodies themselves.
 */
export function sandboxRoutes(services: Services): Router {
  const router = Router();
  const { stripe, cryptomus } = services.payments.sandboxes();
  if (stripe) router.use('/sandbox/stripe', stripe.router);
  if (cryptomus) router.use('/sandbox/cryptomus', cryptomus.router);
  return router;
}
