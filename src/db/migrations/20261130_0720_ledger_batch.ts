import type { Knex } from 'knex';

/**
 * `ledger_apply_holds`: a group-commit batch of hold operations (place, capture, release) applied
 * by one statement, so a batch costs one round trip and one durable commit instead of
 * BEGIN + one statement per operation + COMMIT. The caller orders the batch by account id, which is
 * the order the row locks are taken in (the same order in every process, so batches never
 * deadlock each other). Each operation is exactly the conditional statement PostgresLedger runs
 * for it alone; one that does not apply (insufficient funds, a replay, a settled hold) returns a
 * row with a null hold id and changes nothing, and the caller works out why with its own reads.
 * A database error (e.g. a concurrent duplicate key from another process) fails the statement as
 * a whole; the caller then re-runs each operation alone, which idempotency keys make safe.
 *
 * A hold counted against an API key's spend limit (`p_api_key`) can be refused by the key-budget
 * trigger on `holds` (SQLSTATE CK402, migration 0710): that hold alone runs in a block with an
 * exception handler (a subtransaction, paid only by keys with a limit), so its refusal undoes it
 * alone and comes back as `k_refused` (the trigger's DETAIL) while the rest of the batch applies.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION ledger_apply_holds(
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
      new_balance bigint;
    BEGIN
      FOR k IN 1 .. coalesce(array_length(p_op, 1), 0) LOOP
        h := NULL;
        e_id := NULL; e_balance_after := NULL; e_created_at := NULL; k_refused := NULL;
        IF p_op[k] = 'hold' AND p_api_key[k] IS NOT NULL THEN
          BEGIN
            UPDATE accounts a SET held = a.held + p_amount[k]
             WHERE a.id = p_account[k] AND a.balance - a.held >= p_amount[k]
               AND NOT EXISTS (SELECT 1 FROM holds x WHERE x.idempotency_key = p_key[k]);
            IF FOUND THEN
              INSERT INTO holds (id, account_id, amount, purpose, request_id, generation_id, idempotency_key, expires_at, lease_id, api_key_id)
              VALUES (p_hold[k], p_account[k], p_amount[k], p_purpose[k], p_request[k], p_generation[k], p_key[k], p_expires[k], p_lease[k], p_api_key[k])
              RETURNING * INTO h;
            END IF;
          EXCEPTION WHEN SQLSTATE 'CK402' THEN
            GET STACKED DIAGNOSTICS k_refused = PG_EXCEPTION_DETAIL;
            h := NULL;
          END;
        ELSIF p_op[k] = 'hold' THEN
          UPDATE accounts a SET held = a.held + p_amount[k]
           WHERE a.id = p_account[k] AND a.balance - a.held >= p_amount[k]
             AND NOT EXISTS (SELECT 1 FROM holds x WHERE x.idempotency_key = p_key[k]);
          IF FOUND THEN
            INSERT INTO holds (id, account_id, amount, purpose, request_id, generation_id, idempotency_key, expires_at, lease_id)
            VALUES (p_hold[k], p_account[k], p_amount[k], p_purpose[k], p_request[k], p_generation[k], p_key[k], p_expires[k], p_lease[k])
            RETURNING * INTO h;
          END IF;
        ELSIF p_op[k] = 'capture' THEN
          UPDATE holds x SET status = 'captured', captured_amount = p_amount[k], settled_at = now()
           WHERE x.id = p_hold[k] AND x.status = 'pending' AND x.amount >= p_amount[k]
          RETURNING * INTO h;
          IF h.id IS NOT NULL THEN
            UPDATE accounts a SET held = a.held - h.amount, balance = a.balance - p_amount[k]
             WHERE a.id = h.account_id
            RETURNING a.balance INTO new_balance;
            INSERT INTO ledger_entries AS e (account_id, kind, amount, balance_after, idempotency_key, hold_id, request_id, generation_id)
            VALUES (h.account_id, p_kind[k], -p_amount[k], new_balance, h.id || ':capture', h.id, h.request_id, h.generation_id)
            RETURNING e.id, e.balance_after, e.created_at INTO e_id, e_balance_after, e_created_at;
          END IF;
        ELSIF p_op[k] = 'release' THEN
          UPDATE holds x SET status = p_status[k], settled_at = now()
           WHERE x.id = p_hold[k] AND x.status = 'pending'
          RETURNING * INTO h;
          IF h.id IS NOT NULL THEN
            UPDATE accounts a SET held = a.held - h.amount WHERE a.id = h.account_id;
          END IF;
        ELSE
          RAISE EXCEPTION 'ledger_apply_holds: unknown operation %', p_op[k];
        END IF;
        i := k;
        h_id := h.id; h_account_id := h.account_id; h_amount := h.amount; h_status := h.status;
        h_captured_amount := h.captured_amount; h_purpose := h.purpose; h_request_id := h.request_id;
        h_generation_id := h.generation_id; h_idempotency_key := h.idempotency_key;
        h_expires_at := h.expires_at; h_created_at := h.created_at; h_settled_at := h.settled_at;
        RETURN NEXT;
      END LOOP;
    END $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP FUNCTION ledger_apply_holds(text[], text[], text[], bigint[], text[], text[], text[], text[], timestamptz[], text[], text[], text[], text[])`);
}
