import { type Request, type Response, Router } from 'express';
import type { DepositMethod } from '../../payments/deposit-repository.js';
import { receivePaymentWebhook } from '../../payments/payment-webhook.js';
import type { Services } from '../../services.js';
import { openapi } from '../openapi.js';

/**
 * Payment confirmations (src/payments/payment-webhook.ts): 2xx once the event is handed to its
 * deposit's workflow or known to concern none, 400 for a bad signature, 503 to have it delivered again.
 */
export function webhookRoutes(services: Services): Router {
  const router = Router();
  for (const [path, method, provider] of [
    ['/webhooks/stripe', 'card', 'Stripe'],
    ['/webhooks/cryptomus', 'crypto', 'Cryptomus'],
  ] as const) {
    openapi.add({ method: 'post', path, summary: `${provider} payment notifications (signature verified)`, tag: 'webhooks', auth: 'webhook_signature' });
    router.post(path, (req, res) => receive(services, method, req, res));
  }
  return router;
}

async function receive(services: Services, method: DepositMethod, req: Request, res: Response): Promise<void> {
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  await receivePaymentWebhook(services, method, raw, { signature: req.get('stripe-signature'), sourceIp: req.ip });
  res.json({ received: true });
}
