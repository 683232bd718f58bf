import type { Knex } from 'knex';

/**
 * Auto top-up (src/payments/auto-topup.ts owns `auto_topups`): the tier charged to the saved card
 * when available credit falls below the account's 'auto_topup' threshold (balance_thresholds,
 * migration 0800). A declined charge disables it (`disabled_reason`) and removes the threshold, so
 * a card that declines is never tried again until the customer sets auto top-up again.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE auto_topups (
      account_id       text PRIMARY KEY REFERENCES accounts(id),
      tier             text NOT NULL,
      disabled_reason  text,
      disabled_at      timestamptz,
      updated_at       timestamptz NOT NULL DEFAULT now(),
      CONSTRAINT disabled_has_reason CHECK ((disabled_at IS NULL) = (disabled_reason IS NULL))
    );
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE auto_topups;`);
}
