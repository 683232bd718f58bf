/**
 * The auto top-up's steps, one I/O thing each and safe to repeat: the deposit is keyed by the
 * crossing (Idempotency-Key `auto-topup-<crossing>`), the charge by the deposit (Stripe
 * Idempotency-Key `auto-topup-<deposit>`), the credit by the deposit's unique ledger key.
 */
import { ApplicationFailure } from '@temporalio/activity';
import { alertTarget, alertDeps } from '../alerts/alert-settings.js';
import { startAutoTopupFailedAlert } from '../alerts/alert-client.js';
import type { Services } from '../services.js';
import { disableAutoTopup, getAutoTopup } from './auto-topup.js';
import type { AutoTopupCharge, AutoTopupDeposit, AutoTopupInput } from './auto-topup-types.js';
import { createDepositActivities } from './deposit-activities.js';
import { TooManyOpenDeposits } from './deposit-repository.js';
import { TIERS } from './tiers.js';

/** How long the deposit of an off-session charge counts as open (it settles within the charge call, or soon after). */
const OPEN_SECONDS = 3600;

export function createAutoTopupActivities(services: Services) {
  const { payments, logger } = services;
  const deposits = createDepositActivities(services);
  const card = () => payments.gateways.card;

  return {
    /** The crossing's deposit, or null when auto top-up is off or cannot run now (nothing is charged). */
    async openAutoTopupDeposit(x: AutoTopupInput): Promise<AutoTopupDeposit | null> {
      const settings = await getAutoTopup(services.db, x.accountId);
      const saved = await payments.savedCards.get(x.accountId);
      if (!settings || settings.disabledReason !== null || !saved || !card().chargeSavedCard) return null;
      try {
        const { deposit } = await payments.deposits.create({
          accountId: x.accountId,
          method: 'card',
          provider: 'stripe',
          tier: settings.tier,
          amount: TIERS[settings.tier],
          expiresAt: new Date(Date.now() + OPEN_SECONDS * 1000),
          idempotencyKey: `auto-topup-${x.seq}`,
        });
        return { depositId: deposit.id, amountNano: deposit.amount.toString(), customerRef: saved.customerRef, paymentMethodRef: saved.paymentMethodRef };
      } catch (err) {
        if (!(err instanceof TooManyOpenDeposits)) throw err;
        logger.warn({ accountId: x.accountId, seq: x.seq }, 'auto top-up skipped: too many open deposits');
        return null;
      }
    },

    async chargeAutoTopup(d: AutoTopupDeposit): Promise<AutoTopupCharge> {
      const result = await card().chargeSavedCard!({
        depositId: d.depositId,
        amountNano: BigInt(d.amountNano),
        description: `Cheapa API credit: auto top-up ${d.depositId}`,
        customerRef: d.customerRef,
        paymentMethodRef: d.paymentMethodRef,
        idempotencyKey: `auto-topup-${d.depositId}`,
      });
      if (result.paymentRef) {
        await payments.deposits.checkoutOpened(d.depositId, { providerRef: result.paymentRef, checkoutUrl: null, expiresAt: new Date(Date.now() + OPEN_SECONDS * 1000) });
      }
      return result.outcome === 'succeeded' ? { ...result, amountNano: result.amountNano.toString() } : result;
    },

    /**
     * A charge that answered `pending`, read again: throws (so Temporal retries with backoff) while
     * it is still open, and returns once it succeeded or failed.
     */
    async awaitAutoTopupCharge(x: { paymentRef: string }): Promise<AutoTopupCharge> {
      const result = await card().savedCardCharge!(x.paymentRef);
      if (result.outcome === 'pending') throw ApplicationFailure.retryable(`the off-session charge ${x.paymentRef} is still ${result.status}`, 'ChargePending');
      return result.outcome === 'succeeded' ? { ...result, amountNano: result.amountNano.toString() } : result;
    },

    /** Credits the charged amount once (the deposit's ledger key), then keeps the receipt. */
    async creditAutoTopup(x: { depositId: string; accountId: string; paymentRef: string; amountNano: string; receiptUrl: string | null }): Promise<void> {
      await deposits.creditDeposit({
        depositId: x.depositId,
        accountId: x.accountId,
        amountNano: x.amountNano,
        event: { eventId: `charge:${x.paymentRef}:succeeded`, kind: 'paid', providerStatus: 'payment_intent succeeded (off-session)', providerRef: x.paymentRef, amountNano: x.amountNano, source: 'poll' },
      });
      if (x.receiptUrl) await payments.deposits.setReceiptUrl(x.depositId, x.receiptUrl);
    },

    /** A declined card: the deposit fails, auto top-up stops (no retry of the card), and the customer's alert webhook is told. */
    async declineAutoTopup(x: { crossing: AutoTopupInput; depositId: string; paymentRef: string | null; code: string; message: string }): Promise<void> {
      await payments.deposits.recordEvent(
        x.depositId,
        { eventId: 'auto-topup-declined', source: 'poll', outcome: 'failed', providerStatus: x.code, note: x.message },
        'failed',
      );
      await disableAutoTopup(services.db, x.crossing.accountId, `The saved card was declined (${x.code}): ${x.message}`);
      const alerts = alertDeps(services.db, services.config, services.adminToken);
      if (await alertTarget(alerts, x.crossing.accountId)) await startAutoTopupFailedAlert(services, { ...x.crossing, reason: `${x.code}: ${x.message}` });
    },
  };
}
