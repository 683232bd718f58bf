import { requestRow, requestRowsOfBatch, type RequestRecord } from '../chat/request-log.js';

/**
 * Chat allowances: the `chat_allowances` table's statements (its one owner; PostgresLedger runs them).
 *
 * A chat hold lives a few milliseconds inside one process, yet as a row it is the largest part of a
 * request's database work: a round trip of its own, an insert with five index entries and two
 * foreign-key checks, then a non-HOT update at its capture. An allowance replaces those rows with one
 * amount per account and process lease, held on the account (`accounts.held` counts it) and taken
 * from in memory by the process that holds it. A request then costs the database one operation, its
 * charge, batched as captures are. Measured in BENCHMARKS.md ("The chat hold as an allowance").
 *
 * - **reserve** grows an allowance, under the same condition as a hold (available ≥ amount), and only
 *   for a live lease: a process whose lease lapsed must not take from memory what the sweep freed.
 *   Synchronous, so a database crash never takes an allowance its process goes on spending.
 * - **charge** takes a request's cost from the balance. The allowance stays for the next request,
 *   shrunk only by what the balance can no longer cover (`held` never exceeds `balance`), so in a
 *   steady stream nothing but charges reach the database. A charge whose allowance is gone (swept
 *   after its lease lapsed) applies only if the available balance covers it: customer money is never
 *   overdrawn, and what cannot be charged is lost as our revenue.
 * - **release** gives a whole allowance back (an idle account, a clean shutdown, a lapsed lease).
 *
 * Locks: an account before its allowance, as the hold statements lock an account before its holds.
 */

export interface ChargeInput {
  accountId: string;
  /** The lease whose allowance the request's worst case was taken from. */
  leaseId: string;
  amount: bigint;
  idempotencyKey: string;
  requestId: string;
  /** The request's log row, written by the charge's own statement when it applies. */
  request?: RequestRecord;
}

/** One charge's outcome: `e_id` null when it did not apply (short of cover, or an unknown account). */
export interface ChargeRow {
  i: number;
  e_id: bigint | null;
  e_balance_after: bigint | null;
  e_created_at: Date | null;
  /** The allowance after the batch (0 when there is none). */
  allowance: bigint | null;
  /**
   * What the batch took off the allowance (the account's shortfall, on its last charge in the batch). A process
   * keeps its own count of an allowance by adding what it reserved and subtracting this, which holds
   * in whatever order the answers arrive.
   */
  shrunk: bigint | null;
}

type Statement = { name: string; text: string };

/**
 * $1 accounts, $2 leases, $3 amounts, $4 idempotency keys, $5 request ids (aligned arrays, in account
 * order, one lease per account: see `chargeRounds`); `recording` adds $6, the request rows as a JSON
 * array. Per account the batch is one change: the balance falls by the sum of its charges, and the
 * allowance and `held` by the shortfall d = min(allowance, max(0, held − (balance − sum))), which
 * leaves `held` ≤ `balance` whenever the allowance covers it; when it does not, none of the account's
 * charges apply and the caller re-runs each alone. Applied one by one they would end the same.
 * `locked` and `al` take the locks and read the rows as last committed (a waiting FOR UPDATE re-reads
 * them), so the plan never rests on an allowance a concurrent release already took.
 */
function chargeText(recording: boolean): string {
  return `WITH o AS (
      SELECT x.account_id, x.lease_id, x.amount, x.idempotency_key, x.request_id, x.i::int AS i
        FROM unnest($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[])
             WITH ORDINALITY AS x(account_id, lease_id, amount, idempotency_key, request_id, i)),
    per AS (SELECT account_id, min(lease_id) AS lease_id, sum(amount) AS total FROM o GROUP BY account_id),
    locked AS MATERIALIZED (
      SELECT a.id, a.balance, a.held, per.lease_id, per.total
        FROM accounts a JOIN per ON per.account_id = a.id
       ORDER BY a.id FOR UPDATE OF a),
    al AS MATERIALIZED (
      SELECT c.account_id, c.amount FROM chat_allowances c JOIN locked l ON c.account_id = l.id AND c.lease_id = l.lease_id
       ORDER BY c.account_id FOR UPDATE OF c),
    plan AS MATERIALIZED (
      SELECT l.id, l.balance, l.held, l.lease_id, l.total, al.amount AS allowance,
             LEAST(COALESCE(al.amount, 0), GREATEST(0, l.held - (l.balance - l.total))) AS d
        FROM locked l LEFT JOIN al ON al.account_id = l.id),
    ok AS MATERIALIZED (SELECT * FROM plan WHERE balance - total >= held - d),
    acct AS (
      UPDATE accounts a SET balance = a.balance - ok.total, held = a.held - ok.d
        FROM ok WHERE a.id = ok.id
      RETURNING a.id),
    shrunk AS (
      UPDATE chat_allowances c SET amount = c.amount - ok.d
        FROM ok WHERE ok.d > 0 AND c.account_id = ok.id AND c.lease_id = ok.lease_id
      RETURNING c.account_id),
    e AS (
      INSERT INTO ledger_entries AS e (account_id, kind, amount, balance_after, idempotency_key, request_id)
      SELECT o.account_id, 'usage', -o.amount, ok.balance - SUM(o.amount) OVER (PARTITION BY o.account_id ORDER BY o.i),
             o.idempotency_key, o.request_id
        FROM o JOIN ok ON ok.id = o.account_id ORDER BY o.i
      RETURNING e.id, e.idempotency_key, e.balance_after, e.created_at),
    -- h_id: what requestRowsOfBatch reads as "this operation applied".
    applied AS MATERIALIZED (
      SELECT o.i, e.id AS h_id, e.id AS e_id, e.balance_after AS e_balance_after, e.created_at AS e_created_at,
             COALESCE(p.allowance, 0) - CASE WHEN e.id IS NULL THEN 0 ELSE p.d END AS allowance,
             CASE WHEN e.id IS NOT NULL AND o.i = max(o.i) OVER (PARTITION BY o.account_id) THEN p.d ELSE 0 END AS shrunk
        FROM o LEFT JOIN plan p ON p.id = o.account_id LEFT JOIN e ON e.idempotency_key = o.idempotency_key)
    ${recording ? `, request_rows AS (SELECT $6::jsonb AS j), recorded AS (${requestRowsOfBatch('applied', 'request_rows')})` : ''}
    SELECT i, e_id, e_balance_after, e_created_at, allowance, shrunk FROM applied ORDER BY i`;
}

const CHARGE: Statement = { name: 'ledger_allowance_charge', text: chargeText(false) };
const RECORDING_CHARGE: Statement = { name: 'ledger_allowance_charge_recording', text: chargeText(true) };

/** The statement and parameters charging `charges` (in account order, one lease per account) together. */
export function chargeStatement(charges: ChargeInput[]): { statement: Statement; values: unknown[] } {
  const recording = charges.some((c) => c.request !== undefined);
  const values: unknown[] = [
    charges.map((c) => c.accountId),
    charges.map((c) => c.leaseId),
    charges.map((c) => c.amount.toString()),
    charges.map((c) => c.idempotencyKey),
    charges.map((c) => c.requestId),
  ];
  if (recording) values.push(JSON.stringify(charges.map((c) => (c.request ? requestRow(c.request) : null))));
  return { statement: recording ? RECORDING_CHARGE : CHARGE, values };
}

/**
 * Splits a batch's charges into rounds with one lease per account each (a process's charges name
 * one lease, but a lease replaced mid-stream leaves a few under the old one), keeping their order.
 */
export function chargeRounds<T extends { accountId: string; leaseId: string }>(charges: T[]): T[][] {
  const rounds: { lease: Map<string, string>; items: T[] }[] = [];
  for (const c of charges) {
    let round = rounds.find((r) => (r.lease.get(c.accountId) ?? c.leaseId) === c.leaseId);
    if (!round) rounds.push((round = { lease: new Map(), items: [] }));
    round.lease.set(c.accountId, c.leaseId);
    round.items.push(c);
  }
  return rounds.map((r) => r.items);
}

/**
 * Grows an allowance by :amount if the account's available balance covers it and the lease is live.
 * `allowance` is null when it did not apply; `lease_live` tells the two refusals apart.
 */
export const RESERVE = `
  WITH lease AS (SELECT id FROM process_leases WHERE id = :leaseId AND expires_at > now()),
  acct AS (
    UPDATE accounts SET held = held + :amount
     WHERE id = :accountId AND balance - held >= :amount AND EXISTS (SELECT 1 FROM lease)
    RETURNING id),
  al AS (
    INSERT INTO chat_allowances (account_id, lease_id, amount) SELECT id, :leaseId, :amount FROM acct
    ON CONFLICT (account_id, lease_id) DO UPDATE SET amount = chat_allowances.amount + EXCLUDED.amount
    RETURNING amount)
  SELECT (SELECT amount FROM al) AS allowance, EXISTS (SELECT 1 FROM lease) AS lease_live`;

/** Gives an allowance back whole: `released` is what it held (0 when there was none). */
export const RELEASE = `
  WITH locked AS MATERIALIZED (SELECT id FROM accounts WHERE id = :accountId FOR UPDATE),
  al AS (
    DELETE FROM chat_allowances c USING locked
     WHERE c.account_id = locked.id AND c.lease_id = :leaseId
    RETURNING c.amount),
  acct AS (
    UPDATE accounts a SET held = a.held - al.amount FROM al
     WHERE a.id = :accountId AND al.amount > 0
    RETURNING a.id)
  SELECT COALESCE((SELECT amount FROM al), 0) AS released`;

/** Allowances held now, largest first, with their process and its lease (the ops view). */
export const OPEN = `
  SELECT c.account_id, c.lease_id, c.amount, l.host, l.pid, l.expires_at, l.expires_at < now() AS lapsed
    FROM chat_allowances c LEFT JOIN process_leases l ON l.id = c.lease_id
   WHERE (:accountId::text IS NULL OR c.account_id = :accountId) AND c.amount > 0
   ORDER BY c.amount DESC, c.account_id, c.lease_id LIMIT :limit`;

/** An allowance held now (the ops view); the lease fields are null when its lease row is gone. */
export interface OpenAllowance {
  accountId: string;
  leaseId: string;
  amount: bigint;
  host: string | null;
  pid: number | null;
  leaseExpiresAt: Date | null;
  /** Its process is gone or stalled past its lease: the hold sweep releases it. */
  lapsed: boolean;
}

/** Allowances whose lease lapsed: their process is gone (or stalled past its lease) and never gives them back. */
export const LAPSED = `
  SELECT c.account_id, c.lease_id FROM chat_allowances c JOIN process_leases l ON l.id = c.lease_id
   WHERE l.expires_at < now() ORDER BY c.account_id LIMIT :limit`;
