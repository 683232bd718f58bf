import { type Request, type Response, Router } from 'express';
import type { Deposit, DepositMethod } from '../../payments/deposit-repository.js';
import { deliverPaymentEvent } from '../../payments/deposit-workflows.js';
import { InvalidWebhookSignature, type PaymentEvent } from '../../payments/payment-gateway.js';
import { toSignal } from '../../payments/payment-signal.js';
import type { ReversalEvent } from '../../payments/reversal.js';
import { deliverReversal } from '../../payments/reversal-workflows.js';
import type { Services } from '../../services.js';
import { ApiError } from '../errors.js';
import { openapi } from '../openapi.js';

/**
 * Payment confirmations. The signature is checked over the raw bytes before anything else (a bad
 * or missing one is a 400 and nothing happens); a verified event must then be about the checkout
 * stored on the deposit it names (matchDeposit), and is handed to the deposit's workflow before we
 * answer 2xx, so an acknowledged webhook is never lost. Duplicates are acknowledged too: the
 * workflow and the ledger make them harmless.
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
  const reversal = gateway.parseReversal?.(raw, { signature, sourceIp: req.ip }) ?? null;
  if (reversal) await receiveReversal(services, method, reversal, raw, signature, req.ip);
  if (event) {
    const deposit = await services.payments.deposits.get(event.depositId);
    const match = matchDeposit(deposit, gateway.provider, event);
    if (match === 'match') {
      try {
        // The signed webhook travels with the event: the workflow verifies it again before believing it.
        const webhook = { body: raw.toString('utf8'), ...(signature ? { signature } : {}), ...(req.ip ? { sourceIp: req.ip } : {}) };
        await deliverPaymentEvent(services, deposit!, { ...toSignal(event, 'webhook'), webhook });
      } catch (err) {
        // Not acknowledged, so the provider delivers it again; nothing was lost or applied twice.
        services.logger.error({ provider: gateway.provider, depositId: deposit!.id, eventId: event.eventId, error: (err as Error).message }, 'webhook not handed to its workflow');
        throw retryLater('The event could not be recorded right now; deliver it again later.');
      }
    } else if (match === 'checkout_not_recorded') {
      // The checkout exists at the provider but its id is not stored yet (the activity that opened
      // it is being retried): we cannot tell this event is about it, so ask for it again later.
      services.logger.warn({ provider: gateway.provider, depositId: event.depositId, eventId: event.eventId }, 'webhook before its checkout was recorded');
      throw retryLater('The checkout of this deposit is not recorded yet; deliver the event again later.');
    } else {
      // Signed by our provider account, but not about a checkout we opened for that deposit (another
      // environment sharing the account, or an event naming someone else's deposit). Acknowledged
      // with 2xx so the provider stops redelivering (it never becomes true), and changes nothing;
      // the warning is for ops.
      services.logger.warn(
        { provider: gateway.provider, depositId: event.depositId, providerRef: event.providerRef, eventId: event.eventId, reason: match },
        'webhook does not match the deposit it names; ignored',
      );
    }
  }
  res.json({ received: true });
}

type Match = 'match' | 'unknown_deposit' | 'other_provider' | 'other_checkout' | 'checkout_not_recorded';

/**
 * A verified event counts only for the checkout we opened: same provider, same session id / invoice
 * uuid as the one stored on the deposit. The signature proves the provider sent it, not that it
 * concerns this deposit's checkout.
 */
function matchDeposit(deposit: Deposit | null, provider: Deposit['provider'], event: PaymentEvent): Match {
  if (!deposit) return 'unknown_deposit';
  if (deposit.provider !== provider) return 'other_provider';
  if (deposit.providerRef === null) return 'checkout_not_recorded';
  return deposit.providerRef === event.providerRef ? 'match' : 'other_checkout';
}

/**
 * A dispute or refund (signature already verified above) goes to its reversal workflow, which
 * matches it with the credited deposit through the provider's own records before acting.
 */
async function receiveReversal(services: Services, method: DepositMethod, reversal: ReversalEvent, raw: Buffer, signature: string | undefined, ip: string | undefined): Promise<void> {
  try {
    await deliverReversal(services, method, reversal, { body: raw.toString('utf8'), ...(signature ? { signature } : {}), ...(ip ? { sourceIp: ip } : {}) });
  } catch (err) {
    services.logger.error({ provider: reversal.provider, reversalId: reversal.reversalId, eventId: reversal.eventId, error: (err as Error).message }, 'reversal webhook not handed to its workflow');
    throw retryLater('The event could not be recorded right now; deliver it again later.');
  }
}

const retryLater = (message: string) => new ApiError(503, 'api_error', 'temporarily_unavailable', message, null, { 'retry-after': '5' });
