import type { Db } from '../../src/db/connection.js';

/**
 * The database going away while a charge is captured: the PostgreSQL backend running a capture of
 * a listed account (a hold's, or a charge against a chat allowance) terminates itself, as a restart or a failover would, before the statement can
 * finish. `capture_faults` lists the accounts: `blips` captures fail (counted by the sequence
 * `capture_blips`, since the counting transaction itself dies), or all of them while `outage`.
 */
export async function installCaptureFaults(db: Db): Promise<void> {
  await db.raw(`
    CREATE TABLE capture_faults (account_id text PRIMARY KEY, blips integer NOT NULL DEFAULT 0, outage boolean NOT NULL DEFAULT false);
    CREATE SEQUENCE capture_blips;
    CREATE FUNCTION kill_capture_backend() RETURNS trigger LANGUAGE plpgsql AS $$
    DECLARE f capture_faults;
    BEGIN
      SELECT * INTO f FROM capture_faults WHERE account_id = NEW.account_id;
      IF FOUND AND (f.outage OR nextval('capture_blips') <= f.blips) THEN
        PERFORM pg_terminate_backend(pg_backend_pid());
        PERFORM pg_sleep(5);
      END IF;
      RETURN NEW;
    END $$;
    CREATE TRIGGER capture_fault BEFORE UPDATE ON holds FOR EACH ROW WHEN (NEW.status = 'captured')
      EXECUTE FUNCTION kill_capture_backend();
    -- A chat charge against an allowance has no hold row to capture: its usage entry is the capture.
    CREATE TRIGGER allowance_charge_fault BEFORE INSERT ON ledger_entries FOR EACH ROW
      WHEN (NEW.kind = 'usage' AND NEW.hold_id IS NULL) EXECUTE FUNCTION kill_capture_backend();
  `);
}
