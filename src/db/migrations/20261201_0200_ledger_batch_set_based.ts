import type { Knex } from 'knex';

const SIGNATURE = `text[], text[], text[], bigint[], text[], text[], text[], text[], timestamptz[], text[], text[], text[], text[]`;

/**
 * `ledger_apply_holds_together` applies a batch like `ledger_apply_holds` (migration 0100), with a
 * handful of statements for the whole batch instead of a few per operation. The ledger sends it the
 * larger batches (postgres-ledger.ts); a batch of a few operations costs less one by one.
 *
 * A profile of the database backend under `bench:ledger` (1,000 accounts, one lane) showed it
 * busy the whole time, and a third of its time not moving money but starting statements: each
 * statement the loop runs re-reads its table's CHECK constraints and trigger WHEN clauses from
 * their stored text and compiles them (`pg_strtok`, `ExecInitExpr`), about thirty times per hold
 * and capture pair. A statement over the whole batch pays that once per batch.
 *
 * The set-based path gives exactly the loop's results, because it is taken only for a batch in
 * which the order of operations cannot change any outcome:
 *  - every account the batch touches exists, and, once locked (in account id order), has
 *    available ≥ the sum of all the batch's new holds on it: captures and releases only ever
 *    raise available, so every hold then passes its funds check wherever it stands in the batch;
 *  - no hold carries a key spend limit (whose refusal undoes that hold alone, which only the loop
 *    can do);
 *  - no two operations name the same hold and no two holds share an idempotency key (the loop
 *    lets the earlier one win; one statement would see neither).
 * Anything else (an account short of money, a key with a limit, an unknown operation) is handed to
 * `ledger_apply_holds`, the loop, in the same transaction.
 *
 * The set-based statement keeps what the loop guarantees: each account's row is written once per
 * batch, after its lock was taken and before any of its entries, so entry ids rise in batch
 * order and every `balance_after` is the running balance; a hold key that exists already is a
 * replay (no row); a key inserted concurrently elsewhere fails the whole statement, whose
 * operations the caller then re-runs one by one (group-commit.ts).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE FUNCTION ledger_apply_holds_together(
      p_op text[], p_account text[], p_hold text[], p_amount bigint[], p_key text[], p_purpose text[],
      p_request text[], p_generation text[], p_expires timestamptz[], p_lease text[], p_kind text[], p_status text[],
      p_api_key text[])
    RETURNS TABLE (
      i integer, h_id text, h_account_id text, h_amount bigint, h_status text, h_captured_amount bigint,
      h_purpose text, h_request_id text, h_generation_id text, h_idempotency_key text,
      h_expires_at timestamptz, h_created_at timestamptz, h_settled_at timestamptz,
      e_id bigint, e_balance_after bigint, e_created_at timestamptz, k_refused text)
    LANGUAGE plpgsql
    -- The planner sees the batch's arrays and CTEs as a few rows, and would join CTEs to each other by
    -- nested loops (quadratic in the batch) and might scan a small table whole. Every table access here
    -- names its keys (= ANY of the batch's ids), so with these off each one is an index lookup and
    -- each join between CTEs a hash join. Plans stay generic: a custom plan would re-plan the big
    -- statement for every batch. These apply while this function runs (its triggers and the loop
    -- included, all single-row lookups) and are restored when it returns.
    SET enable_seqscan = off SET enable_nestloop = off SET plan_cache_mode = force_generic_plan
    AS $$
    DECLARE
      plain boolean;
      accts text[];
      fits boolean;
    BEGIN
      SELECT coalesce(bool_and(o.op IN ('hold', 'capture', 'release') AND (o.op <> 'hold' OR o.api_key IS NULL)), false)
             AND count(DISTINCT o.hold) = count(*)
             AND count(DISTINCT o.key) = count(o.key)
        INTO plain
        FROM unnest(p_op, p_hold, p_key, p_api_key) AS o(op, hold, key, api_key);

      IF plain THEN
        SELECT array_agg(DISTINCT a) INTO accts FROM (
          SELECT o.account AS a FROM unnest(p_op, p_account) AS o(op, account) WHERE o.op = 'hold'
          UNION ALL
          SELECT x.account_id FROM holds x WHERE x.id = ANY (p_hold)) t;
        -- Locks the accounts in id order (byte order, as the ledger sorts a batch), then checks each
        -- against the batch's new holds on it.
        SELECT count(*) = coalesce(cardinality(accts), 0) AND coalesce(bool_and(a.balance - a.held >= coalesce(n.need, 0)), true)
          INTO fits
          FROM (SELECT x.id, x.balance, x.held FROM accounts x WHERE x.id = ANY (accts) ORDER BY x.id COLLATE "C" FOR UPDATE) a
          LEFT JOIN (SELECT o.account, sum(o.amount) AS need FROM unnest(p_op, p_account, p_amount) AS o(op, account, amount)
                      WHERE o.op = 'hold' GROUP BY o.account) n ON n.account = a.id;
        plain := fits;
      END IF;

      IF NOT plain THEN
        RETURN QUERY SELECT * FROM ledger_apply_holds(
          p_op, p_account, p_hold, p_amount, p_key, p_purpose, p_request, p_generation, p_expires, p_lease, p_kind,
          p_status, p_api_key);
        RETURN;
      END IF;

      RETURN QUERY
      WITH o AS (
        SELECT * FROM unnest(p_op, p_account, p_hold, p_amount, p_key, p_purpose, p_request, p_generation, p_expires,
                             p_lease, p_kind, p_status)
          WITH ORDINALITY AS o(op, account, hold, amount, key, purpose, request, generation, expires, lease, kind, status, k)),
      settled AS (
        UPDATE holds x SET status = CASE WHEN o.op = 'capture' THEN 'captured' ELSE o.status END,
               captured_amount = CASE WHEN o.op = 'capture' THEN o.amount END,
               settled_at = now()
          FROM o
         WHERE o.op <> 'hold' AND x.id = ANY (p_hold) AND x.id = o.hold AND x.status = 'pending' AND (o.op = 'release' OR x.amount >= o.amount)
        RETURNING o.k, o.op, o.kind, x.*),
      placed AS (
        INSERT INTO holds (id, account_id, amount, purpose, request_id, generation_id, idempotency_key, expires_at, lease_id)
        SELECT o.hold, o.account, o.amount, o.purpose, o.request, o.generation, o.key, o.expires, o.lease FROM o
         WHERE o.op = 'hold' AND o.key <> ALL (ARRAY(SELECT x.idempotency_key FROM holds x WHERE x.idempotency_key = ANY (p_key)))
         ORDER BY o.k
        RETURNING *),
      moved AS (
        SELECT d.account_id, sum(d.placed) AS placed, sum(d.freed) AS freed, sum(d.charged) AS charged FROM (
          SELECT p.account_id, p.amount AS placed, 0::bigint AS freed, 0::bigint AS charged FROM placed p
          UNION ALL
          SELECT s.account_id, 0, s.amount, coalesce(s.captured_amount, 0) FROM settled s) d
        GROUP BY d.account_id),
      acct AS (
        UPDATE accounts a SET held = a.held + m.placed - m.freed, balance = a.balance - m.charged
          FROM moved m WHERE a.id = ANY (accts) AND a.id = m.account_id
        RETURNING a.id, a.balance + m.charged AS opening),
      entries AS (
        INSERT INTO ledger_entries AS e (account_id, kind, amount, balance_after, idempotency_key, hold_id, request_id, generation_id)
        SELECT s.account_id, s.kind, -s.captured_amount,
               acct.opening - sum(s.captured_amount) OVER (PARTITION BY s.account_id ORDER BY s.k),
               s.id || ':capture', s.id, s.request_id, s.generation_id
          FROM settled s JOIN acct ON acct.id = s.account_id
         WHERE s.op = 'capture'
         ORDER BY s.k
        RETURNING e.id, e.hold_id, e.balance_after, e.created_at)
      SELECT o.k::integer, h.id, h.account_id, h.amount, h.status, h.captured_amount, h.purpose, h.request_id,
             h.generation_id, h.idempotency_key, h.expires_at, h.created_at, h.settled_at,
             e.id, e.balance_after, e.created_at, NULL::text
        FROM o
        LEFT JOIN (SELECT s.k, s.id, s.account_id, s.amount, s.status, s.captured_amount, s.purpose, s.request_id,
                          s.generation_id, s.idempotency_key, s.expires_at, s.created_at, s.settled_at FROM settled s
                   UNION ALL
                   SELECT q.k, p.id, p.account_id, p.amount, p.status, p.captured_amount, p.purpose, p.request_id,
                          p.generation_id, p.idempotency_key, p.expires_at, p.created_at, p.settled_at
                     FROM placed p JOIN o q ON q.op = 'hold' AND q.hold = p.id) h ON h.k = o.k
        LEFT JOIN entries e ON e.hold_id = h.id AND o.op = 'capture'
       ORDER BY o.k;
    END $$;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP FUNCTION ledger_apply_holds_together(${SIGNATURE});
  `);
}
