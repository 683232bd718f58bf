import { type Request, type Response, Router } from 'express';
import type { DepositMethod } from '../../payments/deposit-repository.js';
import { deliverPaymentEvent } from '../../payments/deposit-workflows.js';
import { InvalidWebhookSignature, type PaymentEvent } from '../../payments/payment-gateway.js';
import { toSignal } from '../../payments/payment-signal.js';
import type { Services } from '../../services.js';
import { ApiError } from '../errors.js';
import { openapi } from '../openapi.js';

/**
 * Payment confirmations. The signature is checked over the raw bytes before anything else (a bad
 * or missing one is a 400 and nothing happens); a verified event is handed to the deposit's
 * workflow before we answer 2xx, so an acknowledged webhook is never lost. Duplicates are
 * acknowledged too: the workflow and the ledger make them harmless.
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
  const gateway = services.payments.gateways[method];
  const raw = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
  const signature = req.get('stripe-signature');
  let event: PaymentEvent | null;
  try {
    event = gateway.parseWebhook(raw, { signature, sourceIp: req.ip });
  } catch (err) {
    if (!(err instanceof InvalidWebhookSignature)) throw err;
    services.logger.warn({ provider: gateway.provider, reason: err.message, ip: req.ip }, 'webhook rejected');
    throw new ApiError(400, 'invalid_request_error', 'invalid_signature', 'Webhook signature verification failed.');
  }
  if (event) {
    const deposit = await services.payments.deposits.get(event.depositId);
    if (deposit && deposit.provider === gateway.provider) {
      try {
        // The signed webhook travels with the event: the workflow verifies it again before believing it.
        const webhook = { body: raw.toString('utf8'), ...(signature ? { signature } : {}), ...(req.ip ? { sourceIp: req.ip } : {}) };
        await deliverPaymentEvent(services, deposit, { ...toSignal(event, 'webhook'), webhook });
      } catch (err) {
        // Not acknowledged, so the provider delivers it again; nothing was lost or applied twice.
        services.logger.error({ provider: gateway.provider, depositId: deposit.id, eventId: event.eventId, error: (err as Error).message }, 'webhook not handed to its workflow');
        throw new ApiError(503, 'api_error', 'temporarily_unavailable', 'The event could not be recorded right now; deliver it again later.', null, { 'retry-after': '5' });
      }
    } else {
      // Signed by our provider account but for no deposit of this service (another environment?).
      services.logger.warn({ provider: gateway.provider, depositId: event.depositId, eventId: event.eventId }, 'webhook for an unknown deposit');
    }
  }
  res.json({ received: true });
}
