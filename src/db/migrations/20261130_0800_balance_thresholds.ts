import type { Knex } from 'knex';

/**
 * Low-balance thresholds and the crossings they detect (src/alerts/balance-thresholds.ts owns both
 * tables), and the low-balance alert settings (src/alerts/alert-settings.ts owns `billing_alerts`).
 *
 * A crossing is detected in the statement that moves the balance, without a query per request: a
 * statement-level trigger on `accounts` looks at the changed rows only when one of them has a
 * threshold (one index probe otherwise). An armed threshold whose account's available credit
 * (balance - held) is now below it is disarmed and its crossing counter bumped, and the crossing is
 * queued in `balance_crossings` (an outbox drained by the worker's crossing dispatcher), all in the
 * transaction that spent: the account row is locked by that statement, so concurrent spends of one
 * account see one crossing, never two. A credit (the balance rises) that leaves available at or
 * above the threshold arms it again; a released hold does not, so a hold that comes and goes
 * around the threshold cannot repeat the alert.
 * Numbered 08xx: this area's migrations of the day.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE balance_thresholds (
      account_id  text NOT NULL REFERENCES accounts(id),
      purpose     text NOT NULL CHECK (purpose IN ('alert', 'auto_topup')),
      threshold   bigint NOT NULL CHECK (threshold > 0),
      armed       boolean NOT NULL DEFAULT true,
      crossings   bigint NOT NULL DEFAULT 0,
      PRIMARY KEY (account_id, purpose)
    );

    CREATE TABLE balance_crossings (
      account_id     text NOT NULL REFERENCES accounts(id),
      purpose        text NOT NULL,
      seq            bigint NOT NULL,
      available      bigint NOT NULL,
      threshold      bigint NOT NULL,
      created_at     timestamptz NOT NULL DEFAULT now(),
      dispatched_at  timestamptz,
      PRIMARY KEY (account_id, purpose, seq)
    );
    CREATE INDEX balance_crossings_waiting ON balance_crossings (created_at) WHERE dispatched_at IS NULL;

    CREATE TABLE billing_alerts (
      account_id    text PRIMARY KEY REFERENCES accounts(id),
      webhook_url   text NOT NULL,
      -- The signing secret is derived from this and the install's key (never stored itself).
      secret_nonce  text NOT NULL,
      created_at    timestamptz NOT NULL DEFAULT now(),
      updated_at    timestamptz NOT NULL DEFAULT now()
    );

    CREATE FUNCTION detect_balance_crossings() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF NOT EXISTS (SELECT 1 FROM changed_accounts n JOIN balance_thresholds t ON t.account_id = n.id) THEN
        RETURN NULL;
      END IF;
      WITH fired AS (
        UPDATE balance_thresholds t SET armed = false, crossings = t.crossings + 1
          FROM changed_accounts n
         WHERE t.account_id = n.id AND t.armed AND n.balance - n.held < t.threshold
        RETURNING t.account_id, t.purpose, t.crossings, n.balance - n.held AS available, t.threshold
      )
      INSERT INTO balance_crossings (account_id, purpose, seq, available, threshold)
      SELECT account_id, purpose, crossings, available, threshold FROM fired;
      UPDATE balance_thresholds t SET armed = true
        FROM changed_accounts n JOIN previous_accounts o ON o.id = n.id
       WHERE t.account_id = n.id AND NOT t.armed AND n.balance > o.balance AND n.balance - n.held >= t.threshold;
      RETURN NULL;
    END $$;
    CREATE TRIGGER accounts_detect_balance_crossings AFTER UPDATE ON accounts
      REFERENCING OLD TABLE AS previous_accounts NEW TABLE AS changed_accounts
      FOR EACH STATEMENT EXECUTE FUNCTION detect_balance_crossings();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER accounts_detect_balance_crossings ON accounts;
    DROP FUNCTION detect_balance_crossings();
    DROP TABLE billing_alerts, balance_crossings, balance_thresholds;
  `);
}
