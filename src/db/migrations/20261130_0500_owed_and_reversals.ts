import type { Knex } from 'knex';

/**
 * Money owed, account suspension, and payment reversals (disputes and refunds).
 *  - `accounts.owed`: what the account owes us beyond its balance (a dispute or refund larger than
 *    the credit left). Never negative; the balance itself still never goes below `held`.
 *  - `owed_entries`: every change of `owed`, append-only, each idempotency key applied once, so
 *    the audit can check owed = Σ owed entries just as balance = Σ ledger entries.
 *  - `accounts.suspended_at`: a suspended account's keys answer 403 account_suspended.
 *  - `payment_reversals`: one row per provider dispute, and one per refunded payment (`amount` is
 *    the cumulative refunded amount), with what was debited and what was recorded as owed for it.
 *  - `deposits.reversal`: the deposit's latest reversal state, shown with the deposit.
 * Numbered 05xx so this area's migrations do not clash with the other areas' of the same day.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE accounts
      ADD COLUMN owed               bigint NOT NULL DEFAULT 0,
      ADD COLUMN suspended_at       timestamptz,
      ADD COLUMN suspension_reason  text,
      ADD CONSTRAINT owed_not_negative CHECK (owed >= 0),
      ADD CONSTRAINT suspension_has_reason CHECK ((suspended_at IS NULL) = (suspension_reason IS NULL));

    CREATE TABLE owed_entries (
      id               bigserial PRIMARY KEY,
      account_id       text NOT NULL REFERENCES accounts(id),
      amount           bigint NOT NULL CHECK (amount <> 0),
      owed_after       bigint NOT NULL CHECK (owed_after >= 0),
      idempotency_key  text NOT NULL UNIQUE,
      reason           text NOT NULL,
      deposit_id       text,
      created_at       timestamptz NOT NULL DEFAULT now()
    );
    CREATE INDEX owed_entries_account ON owed_entries (account_id, id);
    CREATE TRIGGER owed_entries_append_only BEFORE UPDATE OR DELETE ON owed_entries
      FOR EACH ROW EXECUTE FUNCTION ledger_entries_append_only();

    CREATE TABLE payment_reversals (
      id           text PRIMARY KEY,
      kind         text NOT NULL CHECK (kind IN ('dispute', 'refund')),
      provider     text NOT NULL,
      deposit_id   text NOT NULL REFERENCES deposits(id),
      account_id   text NOT NULL REFERENCES accounts(id),
      status       text NOT NULL CHECK (status IN ('open', 'won', 'lost', 'refunded')),
      amount       bigint NOT NULL CHECK (amount > 0),
      -- Net effect of this reversal's own entries (keys 'reversal:<id>:…'): taken from credit, and
      -- still owed. A won dispute can leave debited negative: it returns what a later deposit paid.
      debited      bigint NOT NULL DEFAULT 0,
      owed         bigint NOT NULL DEFAULT 0 CHECK (owed >= 0),
      reason       text,
      created_at   timestamptz NOT NULL DEFAULT now(),
      updated_at   timestamptz NOT NULL DEFAULT now(),
      closed_at    timestamptz,
      CONSTRAINT refunds_are_refunded CHECK ((kind = 'refund') = (status = 'refunded'))
    );
    CREATE INDEX payment_reversals_account ON payment_reversals (account_id, created_at DESC);
    CREATE INDEX payment_reversals_deposit ON payment_reversals (deposit_id);

    ALTER TABLE deposits
      ADD COLUMN reversal text CHECK (reversal IN ('disputed', 'dispute_won', 'dispute_lost', 'refunded'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE deposits DROP COLUMN reversal;
    DROP TABLE payment_reversals;
    DROP TABLE owed_entries;
    ALTER TABLE accounts DROP CONSTRAINT suspension_has_reason, DROP CONSTRAINT owed_not_negative,
      DROP COLUMN suspension_reason, DROP COLUMN suspended_at, DROP COLUMN owed;
  `);
}
