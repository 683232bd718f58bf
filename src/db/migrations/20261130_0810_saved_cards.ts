import type { Knex } from 'knex';

/**
 * Saved cards and receipts.
 *  - `deposits.save_card`: the customer asked Checkout to keep the card for later (off-session)
 *    charges; `deposits.receipt_url`: the provider's receipt (charge receipt or hosted invoice),
 *    recorded once the deposit is credited.
 *  - `saved_payment_methods` (src/payments/saved-cards.ts): one saved card per account: the
 *    provider's customer and payment method ids, and what the customer may see of the card.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE deposits
      ADD COLUMN save_card    boolean NOT NULL DEFAULT false,
      ADD COLUMN receipt_url  text;

    CREATE TABLE saved_payment_methods (
      account_id          text PRIMARY KEY REFERENCES accounts(id),
      provider            text NOT NULL CHECK (provider = 'stripe'),
      customer_ref        text NOT NULL,
      payment_method_ref  text NOT NULL,
      brand               text,
      last4               text,
      deposit_id          text NOT NULL,
      saved_at            timestamptz NOT NULL DEFAULT now()
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE saved_payment_methods;
    ALTER TABLE deposits DROP COLUMN receipt_url, DROP COLUMN save_card;
  `);
}
