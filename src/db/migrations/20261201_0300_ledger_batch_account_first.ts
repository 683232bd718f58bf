import type { Knex } from 'knex';
import * as ledgerBatchAccountOnce from './20261201_0100_ledger_batch_account_once.js';

/**
 * `ledger_apply_holds` locks a capture's or release's account before its hold.
 *
 * Every other writer of both locks accounts first: a credit or debit locks its one account, a hold
 * its account, and `ledger_apply_holds_together` all of a batch's accounts (in id order) before any
 * hold. The loop of migration 0100 alone updated a hold first and its account after. With two API
 * processes on one database that order could close a cycle: a capture retried on the other process
 * (an activity retry on another worker, a sweep releasing another process's hold) held the hold
 * row and waited on the account, which the first process's batch held while it waited on that hold,
 * or on a credit queued behind it. PostgreSQL breaks such a cycle only after `deadlock_timeout` (a
 * second), stalling a lane that long and failing one statement: a batch's operations are re-run
 * alone, but a credit or debit failed to its caller. `test/ledger/concurrency.test.ts` (two
 * processes) found it.
 *
 * Now a capture or release reads its hold's account and locks it (`FOR UPDATE OF a`, one statement),
 * then settles the hold. The account's figures move in variables and are written back once when
 * the batch moves on, as for holds since 0100; nothing else changes.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE OR REPLACE FUNCTION ledger_apply_holds(
      p_op text[], p_account text[], p_hold text[], p_amount bigint[], p_key text[], p_purpose text[],
      p_request text[], p_generation text[], p_expires timestamptz[], p_lease text[], p_kind text[], p_status text[],
      p_api_key text[])
    RETURNS TABLE (
      i integer, h_id text, h_account_id text, h_amount bigint, h_status text, h_captured_amount bigint,
      h_purpose text, h_request_id text, h_generation_id text, h_idempotency_key text,
      h_expires_at timestamptz, h_created_at timestamptz, h_settled_at timestamptz,
      e_id bigint, e_balance_after bigint, e_created_at timestamptz, k_refused text)
    LANGUAGE plpgsql AS $$
    DECLARE
      h holds%ROWTYPE;
      -- The account the batch is on, and (once loaded) its locked row's figures as of now.
      acct text := NULL;
      loaded boolean := false;
      acct_balance bigint;
      acct_held bigint;
      acct_dirty boolean := false;
      target text;
      -- A capture's or release's account as just locked (used when the batch moves onto it).
      target_balance bigint;
      target_held bigint;
    BEGIN
      FOR k IN 1 .. coalesce(array_length(p_op, 1), 0) LOOP
        h := NULL;
        e_id := NULL; e_balance_after := NULL; e_created_at := NULL; k_refused := NULL;

        IF p_op[k] = 'hold' THEN
          target := p_account[k];
        ELSIF p_op[k] IN ('capture', 'release') THEN
          -- The hold's account is locked before the hold itself, the order every writer of both keeps
          -- (accounts in id order, then their holds; ledger_apply_holds_together locks all of a batch's
          -- accounts first). Locking the hold first could wait on its account while another process's
          -- batch holds that account and waits on this hold: a deadlock, which PostgreSQL breaks only
          -- after deadlock_timeout, failing one of the two.
          target := NULL;
          SELECT a.id, a.balance, a.held INTO target, target_balance, target_held
            FROM holds x JOIN accounts a ON a.id = x.account_id
           WHERE x.id = p_hold[k]
             FOR UPDATE OF a;
        ELSE
          RAISE EXCEPTION 'ledger_apply_holds: unknown operation %', p_op[k];
        END IF;

        -- Moving to another account: write the one left behind back.
        IF target IS NOT NULL AND target IS DISTINCT FROM acct THEN
          IF acct_dirty THEN
            UPDATE accounts a SET balance = acct_balance, held = acct_held WHERE a.id = acct;
          END IF;
          acct := target;
          loaded := false;
          acct_dirty := false;
        END IF;

        IF p_op[k] = 'hold' AND loaded THEN
          IF acct_balance - acct_held >= p_amount[k] AND NOT EXISTS (SELECT 1 FROM holds x WHERE x.idempotency_key = p_key[k]) THEN
            IF p_api_key[k] IS NOT NULL THEN
              BEGIN
                INSERT INTO holds (id, account_id, amount, purpose, request_id, generation_id, idempotency_key, expires_at, lease_id, api_key_id)
                VALUES (p_hold[k], p_account[k], p_amount[k], p_purpose[k], p_request[k], p_generation[k], p_key[k], p_expires[k], p_lease[k], p_api_key[k])
                RETURNING * INTO h;
              EXCEPTION WHEN SQLSTATE 'CK402' THEN
                GET STACKED DIAGNOSTICS k_refused = PG_EXCEPTION_DETAIL;
                h := NULL;
              END;
            ELSE
              INSERT INTO holds (id, account_id, amount, purpose, request_id, generation_id, idempotency_key, expires_at, lease_id)
              VALUES (p_hold[k], p_account[k], p_amount[k], p_purpose[k], p_request[k], p_generation[k], p_key[k], p_expires[k], p_lease[k])
              RETURNING * INTO h;
            END IF;
            IF h.id IS NOT NULL THEN
              acct_held := acct_held + p_amount[k];
              acct_dirty := true;
            END IF;
          END IF;
        ELSIF p_op[k] = 'hold' THEN
          -- First touch: the conditional update itself locks the row and reads its figures.
          IF p_api_key[k] IS NOT NULL THEN
            BEGIN
              UPDATE accounts a SET held = a.held + p_amount[k]
               WHERE a.id = p_account[k] AND a.balance - a.held >= p_amount[k]
                 AND NOT EXISTS (SELECT 1 FROM holds x WHERE x.idempotency_key = p_key[k])
              RETURNING a.balance, a.held INTO acct_balance, acct_held;
              IF FOUND THEN
                INSERT INTO holds (id, account_id, amount, purpose, request_id, generation_id, idempotency_key, expires_at, lease_id, api_key_id)
                VALUES (p_hold[k], p_account[k], p_amount[k], p_purpose[k], p_request[k], p_generation[k], p_key[k], p_expires[k], p_lease[k], p_api_key[k])
                RETURNING * INTO h;
                loaded := true;
              END IF;
            EXCEPTION WHEN SQLSTATE 'CK402' THEN
              -- The block's update is undone with the insert; \`loaded\` was not set, so the figures
              -- it returned are not used.
              GET STACKED DIAGNOSTICS k_refused = PG_EXCEPTION_DETAIL;
              h := NULL;
            END;
          ELSE
            UPDATE accounts a SET held = a.held + p_amount[k]
             WHERE a.id = p_account[k] AND a.balance - a.held >= p_amount[k]
               AND NOT EXISTS (SELECT 1 FROM holds x WHERE x.idempotency_key = p_key[k])
            RETURNING a.balance, a.held INTO acct_balance, acct_held;
            IF FOUND THEN
              INSERT INTO holds (id, account_id, amount, purpose, request_id, generation_id, idempotency_key, expires_at, lease_id)
              VALUES (p_hold[k], p_account[k], p_amount[k], p_purpose[k], p_request[k], p_generation[k], p_key[k], p_expires[k], p_lease[k])
              RETURNING * INTO h;
              loaded := true;
            END IF;
          END IF;
        ELSIF target IS NOT NULL THEN
          -- A capture or release of an existing hold, whose account is locked above.
          IF NOT loaded THEN
            acct_balance := target_balance;
            acct_held := target_held;
            loaded := true;
          END IF;
          IF p_op[k] = 'capture' THEN
            UPDATE holds x SET status = 'captured', captured_amount = p_amount[k], settled_at = now()
             WHERE x.id = p_hold[k] AND x.status = 'pending' AND x.amount >= p_amount[k]
            RETURNING * INTO h;
          ELSE
            UPDATE holds x SET status = p_status[k], settled_at = now()
             WHERE x.id = p_hold[k] AND x.status = 'pending'
            RETURNING * INTO h;
          END IF;
          IF h.id IS NOT NULL THEN
            -- It applied: its hold leaves held; a capture's charge leaves the balance.
            acct_held := acct_held - h.amount;
            IF p_op[k] = 'capture' THEN acct_balance := acct_balance - p_amount[k]; END IF;
            acct_dirty := true;
            IF p_op[k] = 'capture' THEN
              INSERT INTO ledger_entries AS e (account_id, kind, amount, balance_after, idempotency_key, hold_id, request_id, generation_id)
              VALUES (h.account_id, p_kind[k], -p_amount[k], acct_balance, h.id || ':capture', h.id, h.request_id, h.generation_id)
              RETURNING e.id, e.balance_after, e.created_at INTO e_id, e_balance_after, e_created_at;
            END IF;
          END IF;
        END IF;

        i := k;
        h_id := h.id; h_account_id := h.account_id; h_amount := h.amount; h_status := h.status;
        h_captured_amount := h.captured_amount; h_purpose := h.purpose; h_request_id := h.request_id;
        h_generation_id := h.generation_id; h_idempotency_key := h.idempotency_key;
        h_expires_at := h.expires_at; h_created_at := h.created_at; h_settled_at := h.settled_at;
        RETURN NEXT;
      END LOOP;
      IF acct_dirty THEN
        UPDATE accounts a SET balance = acct_balance, held = acct_held WHERE a.id = acct;
      END IF;
    END $$;
  `);
}

/** Back to migration 0100's loop. */
export async function down(knex: Knex): Promise<void> {
  await ledgerBatchAccountOnce.up(knex);
}
