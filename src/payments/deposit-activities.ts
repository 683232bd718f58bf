import { ApplicationFailure } from '@temporalio/activity';
import type { Services } from '../services.js';
import type { DepositStatus } from './deposit-status.js';
import type { CheckoutInfo, DepositWorkflowInput, PaymentEventPayload } from './deposit-types.js';
import { PaymentProviderError } from './payment-gateway.js';
import { toDepositEvent, toPayload } from './payment-event.js';
import { detachReplacedCard } from './card-removal.js';

type Deps = Pick<Services, 'payments' | 'owed' | 'logger' | 'accounts'>;

/**
 * The deposit workflow's I/O, one thing each, all safe to repeat: the provider calls carry the
 * deposit id as idempotency key (Stripe) or order id (Cryptomus), the database writes are
 * conditional and keyed, and the ledger credit has the deposit's unique key.
 */
export function createDepositActivities({ payments, owed, logger, accounts }: Deps) {
  const gateway = (method: 'card' | 'crypto') => payments.gateways[method];

  /** Who pays by card: the customer the provider already knows (a saved card's), else the account's email for the receipt. */
  async function payerOf(accountId: string): Promise<{ customerRef?: string; customerEmail?: string }> {
    const saved = await payments.savedCards.get(accountId);
    if (saved) return { customerRef: saved.customerRef };
    const email = (await accounts.get(accountId))?.email;
    return email ? { customerEmail: email } : {};
  }

  return {
    async openCheckout(input: DepositWorkflowInput): Promise<CheckoutInfo & { state: PaymentEventPayload }> {
      const payer = input.method === 'card' ? await payerOf(input.accountId) : {};
      const checkout = await providerCall(() =>
        gateway(input.method).createCheckout({
          depositId: input.depositId,
          amountNano: BigInt(input.amountNano),
          description: input.description,
          successUrl: input.successUrl,
          cancelUrl: input.cancelUrl,
          expiresAt: input.expiresAt,
          coin: input.coin,
          network: input.network,
          ...payer,
          ...(input.saveCard ? { saveCard: true } : {}),
        }),
      );
      await payments.deposits.checkoutOpened(input.depositId, {
        providerRef: checkout.providerRef,
        checkoutUrl: checkout.url,
        expiresAt: new Date(checkout.expiresAt * 1000),
      });
      return {
        providerRef: checkout.providerRef,
        checkoutUrl: checkout.url,
        expiresAt: checkout.expiresAt,
        state: toPayload(checkout.state, 'poll'),
      };
    },

    /** Reads the checkout from the provider; with `close`, first stops it from taking payment. */
    async checkCheckout(ref: { depositId: string; method: 'card' | 'crypto'; providerRef: string; close: boolean }): Promise<PaymentEventPayload> {
      const g = gateway(ref.method);
      const at = { depositId: ref.depositId, providerRef: ref.providerRef };
      const checkout = await providerCall(() => (ref.close ? g.closeCheckout(at) : g.retrieveCheckout(at)));
      return toPayload(checkout.state, 'poll');
    },

    async recordPaymentEvent(x: { depositId: string; event: PaymentEventPayload; status: DepositStatus }): Promise<{ status: DepositStatus }> {
      const { status } = await payments.deposits.recordEvent(x.depositId, toDepositEvent(x.event), x.status);
      return { status };
    },

    /**
     * After the credit: stores the receipt link on the deposit, and the card when the customer asked
     * to save it. Reads only; repeating it writes the same values.
     */
    async recordPaymentDetails(x: { depositId: string; accountId: string; method: 'card' | 'crypto'; providerRef: string; saveCard: boolean }): Promise<{ receipt: boolean; cardSaved: boolean }> {
      const g = gateway(x.method);
      if (!g.paymentDetails) return { receipt: false, cardSaved: false };
      const details = await providerCall(() => g.paymentDetails!({ providerRef: x.providerRef }));
      if (details.receiptUrl) await payments.deposits.setReceiptUrl(x.depositId, details.receiptUrl);
      const card = x.saveCard ? details.savedCard : null;
      if (card) {
        // Detached before the save replaces it: once replaced, nothing here remembers the old card.
        await detachReplacedCard({ cards: payments.savedCards, gateway: g, logger }, x.accountId, card.paymentMethodRef);
        await payments.savedCards.save({ accountId: x.accountId, provider: 'stripe', depositId: x.depositId, ...card });
      }
      return { receipt: details.receiptUrl !== null, cardSaved: card !== null };
    },

    /**
     * Credits once: the ledger refuses a second entry for the deposit, whatever retries or races.
     * What the account owes (owed.ts) is paid from the deposit first, in the same transaction.
     */
    async creditDeposit(x: { depositId: string; accountId: string; amountNano: string; event: PaymentEventPayload }): Promise<{ replayed: boolean }> {
      const amount = BigInt(x.amountNano);
      const deposit = await payments.deposits.get(x.depositId);
      const { credited, owedPaid, replayed } = await owed.creditDeposit({
        accountId: x.accountId,
        amount,
        depositId: x.depositId,
        reason: `${deposit?.tier ?? 'deposit'} via ${deposit?.provider ?? 'provider'} ${x.event.providerRef}`,
        actor: deposit?.provider ?? 'provider',
      });
      await payments.deposits.markCredited(x.depositId, credited, toDepositEvent(x.event));
      if (owedPaid > 0n) logger.info({ depositId: x.depositId, owedPaid: owedPaid.toString() }, 'deposit paid money owed first');
      if (deposit && amount !== deposit.amount) {
        logger.warn({ depositId: x.depositId, requested: deposit.amount.toString(), credited: amount.toString() }, 'deposit credited for another amount than requested');
      }
      return { replayed };
    },
  };
}

/** A provider's refusal that no retry can fix fails the activity for good; anything else is retried. */
async function providerCall<T>(fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (err) {
    if (err instanceof PaymentProviderError && !err.retryable) {
      throw ApplicationFailure.nonRetryable(err.message, 'PaymentProviderError');
    }
    throw err;
  }
}
