import type { Knex } from 'knex';

/**
 * The console's live balance (src/console/balance-feed.ts) without a cost on the ledger's hot path.
 * Migration 0700 announced watched accounts from a statement trigger on `accounts` that joined
 * every UPDATE's transition table against `balance_watches`: the ledger's batch function
 * (`ledger_apply_holds`) updates `accounts` once per operation, so every hold and capture paid for
 * building that table and the join (10–25 % of a hot account's pairs/s in bench:ledger).
 *
 * Now a watch is copied onto the account row (`balance_watched_until`, kept by a trigger on
 * `balance_watches`, which stays the feed's own table), and a row trigger fires only when money
 * columns change on a row whose watch is live: its WHEN clause is evaluated inline, so an unwatched
 * account costs one comparison. The payload is the account id (NOTIFY folds duplicates within a
 * transaction); the feed already reads comma-separated ids.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER accounts_notify_watched_balances ON accounts;
    DROP FUNCTION notify_watched_balances();

    ALTER TABLE accounts ADD COLUMN balance_watched_until timestamptz;
    UPDATE accounts a SET balance_watched_until = w.until FROM balance_watches w WHERE w.account_id = a.id AND w.until > now();

    CREATE FUNCTION copy_balance_watch() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF TG_OP = 'DELETE' THEN
        UPDATE accounts SET balance_watched_until = NULL WHERE id = OLD.account_id;
      ELSE
        UPDATE accounts SET balance_watched_until = NEW.until WHERE id = NEW.account_id
          AND balance_watched_until IS DISTINCT FROM NEW.until;
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER balance_watches_copy AFTER INSERT OR UPDATE OR DELETE ON balance_watches
      FOR EACH ROW EXECUTE FUNCTION copy_balance_watch();

    CREATE FUNCTION notify_watched_balance() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      PERFORM pg_notify('balance_changed', NEW.id);
      RETURN NULL;
    END $$;
    CREATE TRIGGER accounts_notify_watched_balance AFTER UPDATE OF balance, held, owed ON accounts
      FOR EACH ROW WHEN (NEW.balance_watched_until > now())
      EXECUTE FUNCTION notify_watched_balance();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER accounts_notify_watched_balance ON accounts;
    DROP FUNCTION notify_watched_balance();
    DROP TRIGGER balance_watches_copy ON balance_watches;
    DROP FUNCTION copy_balance_watch();
    ALTER TABLE accounts DROP COLUMN balance_watched_until;

    CREATE FUNCTION notify_watched_balances() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE ids text;
    BEGIN
      SELECT string_agg(DISTINCT n.id, ',') INTO ids
        FROM changed_accounts n JOIN balance_watches w ON w.account_id = n.id
       WHERE w.until > now();
      IF ids IS NOT NULL THEN
        PERFORM pg_notify('balance_changed', CASE WHEN length(ids) > 7900 THEN '*' ELSE ids END);
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER accounts_notify_watched_balances AFTER UPDATE ON accounts
      REFERENCING NEW TABLE AS changed_accounts
      FOR EACH STATEMENT EXECUTE FUNCTION notify_watched_balances();
  `);
}
