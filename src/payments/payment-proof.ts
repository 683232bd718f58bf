/**
 * Why a deposit may believe a signalled payment outcome. Temporal signals carry no sender: anyone
 * who reaches the Temporal frontend can send `paymentEvent {"kind":"paid",…}`. So a credit rests
 * only on a fact verified with the provider: an outcome the workflow fetched itself from the
 * provider's API (openCheckout, checkCheckout), or a webhook whose provider signature this activity
 * verifies again from the signed body the route forwarded in the signal.
 *
 * Re-verifying the signed webhook was chosen over re-reading the checkout from the provider's API
 * because only the webhook carries everything the credit needs: Cryptomus reports the USD value of
 * an underpayment (`wrong_amount`, credited as received) in its webhook alone, not in payment info.
 * It also costs no provider call per webhook and works while the provider's API is down.
 */
import type { Logger } from 'pino';
import type { PaymentEventPayload, ProofRequest } from './deposit-types.js';
import { InvalidWebhookSignature } from './payment-gateway.js';
import type { Payments } from './payment-services.js';
import { toPayload } from './payment-event.js';

export function createPaymentProofActivities({ payments, logger }: { payments: Pick<Payments, 'gateways'>; logger: Logger }) {
  return {
    /**
     * The outcome the signed webhook states, when its signature holds and it concerns this deposit's
     * checkout; null otherwise (a forged or misdirected signal, which changes nothing). CPU only, so
     * it runs as a local activity.
     */
    async verifySignedWebhook(req: ProofRequest): Promise<PaymentEventPayload | null> {
      const gateway = payments.gateways[req.method];
      let event;
      try {
        event = gateway.parseWebhook(req.webhook.body, { signature: req.webhook.signature, sourceIp: req.webhook.sourceIp, anyAge: true });
      } catch (err) {
        if (!(err instanceof InvalidWebhookSignature)) throw err;
        logger.warn({ depositId: req.depositId, reason: err.message }, 'payment signal with an invalid webhook signature ignored');
        return null;
      }
      if (!event || event.depositId !== req.depositId || event.providerRef !== req.providerRef) {
        logger.warn({ depositId: req.depositId, about: event?.depositId, providerRef: event?.providerRef }, 'payment signal about another checkout ignored');
        return null;
      }
      return toPayload(event, 'webhook');
    },
  };
}
