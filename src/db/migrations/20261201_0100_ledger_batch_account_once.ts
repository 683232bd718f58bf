import type { Knex } from 'knex';
import * as ledgerBatch from './20261130_0720_ledger_batch.js';

/**
 * `ledger_apply_holds` writes an account's row once per batch instead of once per operation.
 *
 * A batch is ordered by account id, so one account's operations are consecutive. Before, each
 * hold, capture and release ran its own `UPDATE accounts`: on a busy account a batch of n
 * operations left n new versions of the same row inside one transaction, each later update
 * (and each foreign-key check from `holds` and `ledger_entries`) walking that growing chain, and
 * the lane's one backend was the hot account's limit (BENCHMARKS.md, 2026-12-01). Now the first
 * operation to touch an account in the batch runs its update as before, which locks the row and
 * returns its figures; the account's later operations in the batch move those figures in
 * variables, written back once when the batch moves on. An account touched once costs what it did.
 *
 * Nothing else changes: the same conditions decide each operation (available ≥ amount, no hold
 * with the key yet, a pending hold covering the capture), in the same order, under the same row
 * lock for the rest of the transaction; every entry's `balance_after` is the running balance; a
 * key-limit refusal (CK402) still undoes that hold alone (the variables move only after its insert
 * survived). Triggers on `accounts` see one update per account per batch: a threshold alert
 * compares the batch's end state, so a dip that the same batch undid no longer raises one.
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
    BEGIN
      FOR k IN 1 .. coalesce(array_length(p_op, 1), 0) LOOP
        h := NULL;
        e_id := NULL; e_balance_after := NULL; e_created_at := NULL; k_refused := NULL;

        IF p_op[k] = 'hold' THEN
          target := p_account[k];
        ELSIF p_op[k] = 'capture' THEN
          UPDATE holds x SET status = 'captured', captured_amount = p_amount[k], settled_at = now()
           WHERE x.id = p_hold[k] AND x.status = 'pending' AND x.amount >= p_amount[k]
          RETURNING * INTO h;
          target := h.account_id;
        ELSIF p_op[k] = 'release' THEN
          UPDATE holds x SET status = p_status[k], settled_at = now()
           WHERE x.id = p_hold[k] AND x.status = 'pending'
          RETURNING * INTO h;
          target := h.account_id;
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
        ELSIF h.id IS NOT NULL THEN
          -- A capture or release that applied: its hold leaves held; a capture's charge leaves the balance.
          IF loaded THEN
            acct_held := acct_held - h.amount;
            IF p_op[k] = 'capture' THEN acct_balance := acct_balance - p_amount[k]; END IF;
            acct_dirty := true;
          ELSE
            UPDATE accounts a SET held = a.held - h.amount,
                   balance = a.balance - CASE WHEN p_op[k] = 'capture' THEN p_amount[k] ELSE 0 END
             WHERE a.id = h.account_id
            RETURNING a.balance, a.held INTO acct_balance, acct_held;
            loaded := true;
          END IF;
          IF p_op[k] = 'capture' THEN
            INSERT INTO ledger_entries AS e (account_id, kind, amount, balance_after, idempotency_key, hold_id, request_id, generation_id)
            VALUES (h.account_id, p_kind[k], -p_amount[k], acct_balance, h.id || ':capture', h.id, h.request_id, h.generation_id)
            RETURNING e.id, e.balance_after, e.created_at INTO e_id, e_balance_after, e_created_at;
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

/** Back to one account update per operation (migration 0720's body). */
export async function down(knex: Knex): Promise<void> {
  await ledgerBatch.down(knex);
  await ledgerBatch.up(knex);
}
