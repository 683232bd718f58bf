import type { Knex } from 'knex';

/**
 * The console's Billing page follows deposits the way it follows the balance: a deposit that
 * expires or fails moves no money, and a card deposit's receipt and saved card are recorded just
 * after its credit, so without these the page would have to poll for them. A change to a watched
 * account's deposit (status, receipt), saved card or auto top-up announces the account on the
 * feed's `balance_changed` channel (src/console/balance-feed.ts), and the open console re-reads.
 * These tables change a few times per payment, never on the ledger's hot path; the watch is the
 * one migration 0740 copies onto the account row.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION notify_watched_billing() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
      IF EXISTS (SELECT 1 FROM accounts WHERE id = NEW.account_id AND balance_watched_until > now()) THEN
        PERFORM pg_notify('balance_changed', NEW.account_id);
      END IF;
      RETURN NULL;
    END $$;
    CREATE TRIGGER deposits_notify_watched AFTER INSERT OR UPDATE OF status, receipt_url ON deposits
      FOR EACH ROW EXECUTE FUNCTION notify_watched_billing();
    CREATE TRIGGER saved_payment_methods_notify_watched AFTER INSERT OR UPDATE ON saved_payment_methods
      FOR EACH ROW EXECUTE FUNCTION notify_watched_billing();
    CREATE TRIGGER auto_topups_notify_watched AFTER INSERT OR UPDATE ON auto_topups
      FOR EACH ROW EXECUTE FUNCTION notify_watched_billing();
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TRIGGER auto_topups_notify_watched ON auto_topups;
    DROP TRIGGER saved_payment_methods_notify_watched ON saved_payment_methods;
    DROP TRIGGER deposits_notify_watched ON deposits;
    DROP FUNCTION notify_watched_billing();
  `);
}
