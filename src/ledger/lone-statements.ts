import { requestRow, requestRowsOfBatch } from '../chat/request-log.js';
import type { HoldOp } from './postgres-ledger.js';

/**
 * A batch of one hold or one capture as a single SQL statement, instead of a call of the batch
 * function `ledger_apply_holds`. Under light load nearly every batch is one operation (one client:
 * all of them), and there the function's own cost is most of the database's part of a request: its
 * call and each of its statements started one by one. Measured on one account at one caller
 * (BENCHMARKS.md, "A lone operation as one statement"): 0.74 → 0.59 ms of PostgreSQL CPU per
 * hold-and-capture pair, and 1.2–1.4 → 1.0–1.1 ms of wall time through the ledger.
 *
 * Each statement does exactly what the function's loop does for that one operation, with the same
 * conditions, locks in the same order (an account before its holds), the same triggers, and the
 * same result columns (`i`, the hold as `h_*`, a capture's entry as `e_*`, `k_refused`), so the
 * ledger reads either the same way. An operation that did not apply (short of funds, a replayed key,
 * an unknown or settled hold) gives no row, as the function gives a row of nulls: the caller reads
 * why. A hold for a key with a spend limit, whose refusal by the key-budget trigger only the
 * function can undo alone, and a release (off the hot path) still go to the function.
 */

/** The hold's columns, as the batch functions name them. */
const HOLD_COLUMNS = `h.id AS h_id, h.account_id AS h_account_id, h.amount AS h_amount, h.status AS h_status,
       h.captured_amount AS h_captured_amount, h.purpose AS h_purpose, h.request_id AS h_request_id,
       h.generation_id AS h_generation_id, h.idempotency_key AS h_idempotency_key, h.expires_at AS h_expires_at,
       h.created_at AS h_created_at, h.settled_at AS h_settled_at`;

/**
 * $1 hold id, $2 account, $3 amount, $4 idempotency key, $5 purpose, $6 request id, $7 generation id,
 * $8 expires at, $9 lease. The account's conditional update takes its lock and checks its funds and
 * the key's novelty, as the function's first touch of an account does; the hold is inserted only if
 * it applied.
 */
const HOLD = `acct AS (
        UPDATE accounts a SET held = a.held + $3::bigint
         WHERE a.id = $2 AND a.balance - a.held >= $3::bigint
           AND NOT EXISTS (SELECT 1 FROM holds x WHERE x.idempotency_key = $4)
        RETURNING a.id),
      h AS (
        INSERT INTO holds (id, account_id, amount, purpose, request_id, generation_id, idempotency_key, expires_at, lease_id)
        SELECT $1, acct.id, $3::bigint, $5, $6, $7, $4, $8::timestamptz, $9 FROM acct
        RETURNING *)`;

const HOLD_RESULT = `1 AS i, ${HOLD_COLUMNS}, NULL::bigint AS e_id, NULL::bigint AS e_balance_after, NULL::timestamptz AS e_created_at, NULL::text AS k_refused`;

/**
 * $1 hold id, $2 amount, $3 entry kind. `a` locks the hold's account, and the hold's update reads
 * `a`, so the account is locked before the hold (the order of migration 0300); a hold settled
 * meanwhile by another transaction fails the update's re-check and nothing applies. The account's
 * update reads its row as locked and changed last (READ COMMITTED re-reads an updated row), so
 * `balance_after` is the running balance.
 */
const CAPTURE = `a AS (
        SELECT y.id FROM accounts y WHERE y.id = (SELECT x.account_id FROM holds x WHERE x.id = $1) FOR UPDATE),
      h AS (
        UPDATE holds x SET status = 'captured', captured_amount = $2::bigint, settled_at = now()
          FROM a WHERE x.id = $1 AND x.account_id = a.id AND x.status = 'pending' AND x.amount >= $2::bigint
        RETURNING x.*),
      acct AS (
        UPDATE accounts y SET balance = y.balance - $2::bigint, held = y.held - h.amount
          FROM h WHERE y.id = h.account_id
        RETURNING y.balance),
      e AS (
        INSERT INTO ledger_entries AS e (account_id, kind, amount, balance_after, idempotency_key, hold_id, request_id, generation_id)
        SELECT h.account_id, $3, -$2::bigint, acct.balance, h.id || ':capture', h.id, h.request_id, h.generation_id FROM h, acct
        RETURNING e.id, e.balance_after, e.created_at)`;

const CAPTURE_RESULT = `1 AS i, ${HOLD_COLUMNS}, e.id AS e_id, e.balance_after AS e_balance_after, e.created_at AS e_created_at, NULL::text AS k_refused`;

export type LoneStatement = { name: string; text: string };

export const LONE = {
  hold: { name: 'ledger_lone_hold', text: `WITH ${HOLD} SELECT ${HOLD_RESULT} FROM h` },
  // As a batch of chat holds (postgres-ledger.ts, `unflushed`): committed without waiting for its
  // WAL flush, which its capture's synchronous commit does.
  unflushedHold: {
    name: 'ledger_lone_hold_unflushed',
    text: `WITH relaxed AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS commit_mode), ${HOLD}
           SELECT ${HOLD_RESULT}, relaxed.commit_mode FROM h, relaxed`,
  },
  capture: { name: 'ledger_lone_capture', text: `WITH ${CAPTURE} SELECT ${CAPTURE_RESULT} FROM h, e` },
  // $4: the request's row, a JSON array of one (see request-log.ts), written only if the capture applied.
  recordingCapture: {
    name: 'ledger_lone_capture_recording',
    text: `WITH ${CAPTURE},
           applied AS (SELECT 1 AS i, h.id AS h_id FROM h),
           request_rows AS (SELECT $4::jsonb AS j),
           recorded AS (${requestRowsOfBatch('applied', 'request_rows')})
           SELECT ${CAPTURE_RESULT} FROM h, e`,
  },
} satisfies Record<string, LoneStatement>;

/**
 * The statement above for a batch of one operation, with its parameters, or null for one the batch
 * function must apply: a hold counted against a key's spend limit, a release. `unflushed`: the batch
 * commits without waiting for its flush, as postgres-ledger.ts decides for a batch of chat holds.
 */
export function loneStatementOf(op: HoldOp, unflushed: boolean): { statement: LoneStatement; values: unknown[] } | null {
  if (op.op === 'hold' && op.input.apiKeyId === undefined) {
    const h = op.input;
    return {
      statement: unflushed ? LONE.unflushedHold : LONE.hold,
      values: [op.holdId, h.accountId, h.amount.toString(), h.idempotencyKey, h.purpose, h.requestId ?? null, h.generationId ?? null, h.expiresAt, h.leaseId ?? null],
    };
  }
  if (op.op === 'capture') {
    return op.request
      ? { statement: LONE.recordingCapture, values: [op.holdId, op.amount.toString(), op.kind, JSON.stringify([requestRow(op.request)])] }
      : { statement: LONE.capture, values: [op.holdId, op.amount.toString(), op.kind] };
  }
  return null;
}
