/**
 * A provider's payment notification, from raw bytes to the deposit's workflow. The signature is
 * checked over the raw bytes before anything else (InvalidWebhookSignature: nothing happens); a
 * verified event must then be about the checkout stored on the deposit it names (matchDeposit),
 * and is handed to the deposit's workflow before the caller acknowledges it, so an acknowledged
 * webhook is never lost. Duplicates are accepted too: the workflow and the ledger make them harmless.
 */
import type { Services } from '../services.js';
import type { ReversalEvent } from './reversal.js';
import { deliverReversal } from './reversal-workflows.js';
import { deliverPaymentEvent } from './deposit-client.js';
import type { Deposit, DepositMethod } from './deposit-repository.js';
import { InvalidWebhookSignature, type PaymentEvent, type WebhookMeta } from './payment-gateway.js';
import { toPayload } from './payment-event.js';

/** The webhook is genuine but cannot be taken now; the provider must deliver it again later. */
export class WebhookNotTaken extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'WebhookNotTaken';
  }
}

export async function receivePaymentWebhook(
  services: Services,
  method: DepositMethod,
  raw: Buffer,
  meta: Pick<WebhookMeta, 'signature' | 'sourceIp'>,
): Promise<void> {
  const gateway = services.payments.gateways[method];
  let event: PaymentEvent | null;
  try {
    event = gateway.parseWebhook(raw, meta);
  } catch (err) {
    if (err instanceof InvalidWebhookSignature) services.logger.warn({ provider: gateway.provider, reason: err.message, ip: meta.sourceIp }, 'webhook rejected');
    throw err;
  }
  // A dispute or refund goes to its reversal workflow (reversal-workflows.ts); its deposit is
  // matched there, through the provider's own records.
  const reversal = gateway.parseReversal?.(raw, meta) ?? null;
  if (reversal) await receiveReversal(services, method, reversal, raw, meta);
  if (!event) return;
  const deposit = await services.payments.deposits.get(event.depositId);
  const match = matchDeposit(deposit, gateway.provider, event);
  if (match === 'match') {
    try {
      // The signed webhook travels with the event: the workflow verifies it again before believing it.
      const webhook = { body: raw.toString('utf8'), ...(meta.signature ? { signature: meta.signature } : {}), ...(meta.sourceIp ? { sourceIp: meta.sourceIp } : {}) };
      await deliverPaymentEvent(services, deposit!, { ...toPayload(event, 'webhook'), webhook });
    } catch (err) {
      // Not acknowledged, so the provider delivers it again; nothing was lost or applied twice.
      services.logger.error({ provider: gateway.provider, depositId: deposit!.id, eventId: event.eventId, error: (err as Error).message }, 'webhook not handed to its workflow');
      throw new WebhookNotTaken('The event could not be recorded right now; deliver it again later.');
    }
  } else if (match === 'checkout_not_recorded') {
    // The checkout exists at the provider but its id is not stored yet (the activity that opened
    // it is being retried): we cannot tell this event is about it, so ask for it again later.
    services.logger.warn({ provider: gateway.provider, depositId: event.depositId, eventId: event.eventId }, 'webhook before its checkout was recorded');
    throw new WebhookNotTaken('The checkout of this deposit is not recorded yet; deliver the event again later.');
  } else {
    // Signed by our provider account, but not about a checkout we opened for that deposit (another
    // environment sharing the account, or an event naming someone else's deposit). Acknowledged
    // so the provider stops redelivering (it never becomes true), and changes nothing; the
    // warning is for ops.
    services.logger.warn(
      { provider: gateway.provider, depositId: event.depositId, providerRef: event.providerRef, eventId: event.eventId, reason: match },
      'webhook does not match the deposit it names; ignored',
    );
  }
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

async function receiveReversal(services: Services, method: DepositMethod, reversal: ReversalEvent, raw: Buffer, meta: Pick<WebhookMeta, 'signature' | 'sourceIp'>): Promise<void> {
  try {
    await deliverReversal(services, method, reversal, { body: raw.toString('utf8'), ...(meta.signature ? { signature: meta.signature } : {}), ...(meta.sourceIp ? { sourceIp: meta.sourceIp } : {}) });
  } catch (err) {
    services.logger.error({ provider: reversal.provider, reversalId: reversal.reversalId, eventId: reversal.eventId, error: (err as Error).message }, 'reversal webhook not handed to its workflow');
    throw new WebhookNotTaken('The event could not be recorded right now; deliver it again later.');
  }
}
