import type { Knex } from 'knex';

/**
 * The low-balance crossing detector of migration 0800, without a cost for accounts that set no
 * threshold. 0800 ran a statement trigger with OLD and NEW transition tables on every UPDATE of
 * `accounts`; the ledger's batch function (`ledger_apply_holds`) updates `accounts` once per hold
 * and capture, so every operation of every account paid for building both tables and probing
 * `balance_thresholds`. Now whether an account has thresholds is copied onto its row (kept by a
 * trigger on `balance_thresholds`), and a row trigger on the money columns runs the detector only
 * WHEN the row has them: for the others the condition is evaluated inline, one column read.
 * The detector's rules are unchanged: below an armed threshold disarms it and queues the crossing
 * in the same transaction (the account row is locked by the statement that spent, so concurrent
 * spends see one crossing); a credit that leaves available at or above it arms it again.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER accounts_detect_balance_crossings ON accounts;
    DROP FUNCTION detect_balance_crossings();

    ALTER TABLE accounts ADD COLUMN has_balance_thresholds boolean NOT NULL DEFAULT false;
    UPDATE accounts a SET has_balance_thresholds = true WHERE EXISTS (SELECT 1 FROM balance_thresholds t WHERE t.account_id = a.id);

    CREATE FUNCTION copy_balance_threshold_presence() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE acct text := CASE WHEN TG_OP = 'DELETE' THEN OLD.account_id ELSE NEW.account_id END;
    BEGIN
      UPDATE accounts a SET has_balance_thresholds = EXISTS (SELECT 1 FROM balance_thresholds t WHERE t.account_id = acct)
       WHERE a.id = acct;
      RETURN NULL;
    END $$;
    CREATE TRIGGER balance_thresholds_presence AFTER INSERT OR DELETE ON balance_thresholds
      FOR EACH ROW EXECUTE FUNCTION copy_balance_threshold_presence();

    CREATE FUNCTION detect_balance_crossing() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      WITH fired AS (
        UPDATE balance_thresholds t SET armed = false, crossings = t.crossings + 1
         WHERE t.account_id = NEW.id AND t.armed AND NEW.balance - NEW.held < t.threshold
        RETURNING t.account_id, t.purpose, t.crossings, t.threshold
      )
      INSERT INTO balance_crossings (account_id, purpose, seq, available, threshold)
      SELECT account_id, purpose, crossings, NEW.balance - NEW.held, threshold FROM fired;
      IF NEW.balance > OLD.balance THEN
        UPDATE balance_thresholds t SET armed = true
         WHERE t.account_id = NEW.id AND NOT t.armed AND NEW.balance - NEW.held >= t.threshold;
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER accounts_detect_balance_crossing AFTER UPDATE OF balance, held ON accounts
      FOR EACH ROW WHEN (NEW.has_balance_thresholds)
      EXECUTE FUNCTION detect_balance_crossing();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER accounts_detect_balance_crossing ON accounts;
    DROP FUNCTION detect_balance_crossing();
    DROP TRIGGER balance_thresholds_presence ON balance_thresholds;
    DROP FUNCTION copy_balance_threshold_presence();
    ALTER TABLE accounts DROP COLUMN has_balance_thresholds;

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
