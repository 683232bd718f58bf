/**
 * The card a customer asked Checkout to keep (save_card on a card deposit), for off-session charges
 * such as auto top-up. Owner of `saved_payment_methods`: one card per account; saving again
 * replaces it. Only the provider's ids and what the customer may see (brand, last 4) are kept.
 */
import type { Knex } from 'knex';

export interface SavedCard {
  accountId: string;
  provider: 'stripe';
  customerRef: string;
  paymentMethodRef: string;
  brand: string | null;
  last4: string | null;
  depositId: string;
  savedAt: Date;
}

export type NewSavedCard = Omit<SavedCard, 'savedAt'>;

export class SavedCards {
  constructor(private readonly db: Knex) {}

  async save(card: NewSavedCard): Promise<void> {
    await this.db('saved_payment_methods')
      .insert({
        account_id: card.accountId,
        provider: card.provider,
        customer_ref: card.customerRef,
        payment_method_ref: card.paymentMethodRef,
        brand: card.brand,
        last4: card.last4,
        deposit_id: card.depositId,
      })
      .onConflict('account_id')
      .merge({ customer_ref: card.customerRef, payment_method_ref: card.paymentMethodRef, brand: card.brand, last4: card.last4, deposit_id: card.depositId, saved_at: this.db.fn.now() });
  }

  async get(accountId: string): Promise<SavedCard | null> {
    const r = await this.db('saved_payment_methods').where({ account_id: accountId }).first();
    return r ? toCard(r) : null;
  }

  /** Forgets the account's card if it is still `paymentMethodRef` (card-removal.ts detached that one); returns it. */
  async forget(accountId: string, paymentMethodRef: string): Promise<SavedCard | null> {
    const [r] = await this.db('saved_payment_methods').where({ account_id: accountId, payment_method_ref: paymentMethodRef }).delete().returning('*');
    return r ? toCard(r) : null;
  }
}

function toCard(r: Record<string, any>): SavedCard {
  return {
    accountId: r.account_id,
    provider: r.provider,
    customerRef: r.customer_ref,
    paymentMethodRef: r.payment_method_ref,
    brand: r.brand,
    last4: r.last4,
    depositId: r.deposit_id,
    savedAt: r.saved_at,
  };
}
