import type { Knex } from 'knex';

export interface InvariantCheck {
  name: string;
  description: string;
  ok: boolean;
  /** Offending rows, at most 100 per check. */
  discrepancies: Record<string, unknown>[];
}

/** The ledger audit: every invariant checked, and the rows that break one. Read-only; it repairs nothing. */
export interface AuditReport {
  ok: boolean;
  checkedAt: string;
  accounts: number;
  checks: InvariantCheck[];
}

const CHECKS: { name: string; description: string; sql: string }[] = [
  {
    name: 'balance_equals_entries',
    description: 'each account balance equals the sum of its ledger entries',
    sql: `SELECT a.id AS account_id, a.balance::text AS balance, COALESCE(e.total, 0)::text AS entries_total
          FROM accounts a LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM ledger_entries GROUP BY account_id) e
            ON e.account_id = a.id
          WHERE a.balance <> COALESCE(e.total, 0)`,
  },
  {
    name: 'held_equals_pending_holds',
    description: 'each account held amount equals the sum of its pending holds and its chat allowances',
    sql: `SELECT a.id AS account_id, a.held::text AS held, COALESCE(h.total, 0)::text AS pending_total, COALESCE(c.total, 0)::text AS allowances_total
          FROM accounts a LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM holds WHERE status = 'pending' GROUP BY account_id) h
            ON h.account_id = a.id
          LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM chat_allowances GROUP BY account_id) c
            ON c.account_id = a.id
          WHERE a.held <> COALESCE(h.total, 0) + COALESCE(c.total, 0)`,
  },
  {
    name: 'key_budget_held_equals_pending_holds',
    description: 'each key budget\'s held amount equals the sum of the key\'s pending holds',
    sql: `SELECT b.api_key_id, b.held::text AS held, COALESCE(h.total, 0)::text AS pending_total
          FROM api_key_budgets b LEFT JOIN (SELECT api_key_id, SUM(amount) AS total FROM holds WHERE status = 'pending' AND api_key_id IS NOT NULL GROUP BY api_key_id) h
            ON h.api_key_id = b.api_key_id
          WHERE b.held <> COALESCE(h.total, 0)`,
  },
  {
    name: 'available_not_negative',
    description: 'balance − held ≥ 0 and held ≥ 0 for every account',
    sql: `SELECT id AS account_id, balance::text, held::text FROM accounts WHERE held < 0 OR balance - held < 0`,
  },
  {
    name: 'captured_holds_charged_once',
    description: 'every captured hold has exactly one ledger entry, for exactly the captured amount',
    sql: `SELECT h.id AS hold_id, h.captured_amount::text, COUNT(e.id)::int AS entries, COALESCE(SUM(-e.amount), 0)::text AS charged
          FROM holds h LEFT JOIN ledger_entries e ON e.hold_id = h.id
          WHERE h.status = 'captured'
          GROUP BY h.id, h.captured_amount
          HAVING COUNT(e.id) <> 1 OR COALESCE(SUM(-e.amount), 0) <> h.captured_amount`,
  },
  {
    name: 'uncaptured_holds_not_charged',
    description: 'pending, released and expired holds have no ledger entry',
    sql: `SELECT h.id AS hold_id, h.status, e.id::text AS entry_id
          FROM holds h JOIN ledger_entries e ON e.hold_id = h.id
          WHERE h.status <> 'captured'`,
  },
  {
    name: 'no_pending_hold_of_a_dead_process',
    description: 'no hold stays pending more than 5 minutes after the lease of the process that placed it lapsed',
    // The sweep runs every minute; five leave room for a slow one without hiding a sweeper that stopped.
    sql: `SELECT h.id AS hold_id, h.account_id, h.lease_id, l.expires_at AS lease_expired_at
          FROM holds h JOIN process_leases l ON l.id = h.lease_id
          WHERE h.status = 'pending' AND l.expires_at < now() - interval '5 minutes'`,
  },
  {
    name: 'no_allowance_of_a_dead_process',
    description: 'no chat allowance holds anything more than 5 minutes after the lease of its process lapsed',
    sql: `SELECT c.account_id, c.lease_id, c.amount::text, l.expires_at AS lease_expired_at
          FROM chat_allowances c JOIN process_leases l ON l.id = c.lease_id
          WHERE c.amount > 0 AND l.expires_at < now() - interval '5 minutes'`,
  },
  {
    name: 'deposits_credited_at_most_once',
    description: 'no deposit has more than one credit',
    sql: `SELECT deposit_id, COUNT(*)::int AS credits, SUM(amount)::text AS credited
          FROM ledger_entries WHERE kind = 'deposit'
          GROUP BY deposit_id HAVING COUNT(*) > 1 OR deposit_id IS NULL`,
  },
  {
    name: 'entries_chain_per_account',
    description: 'each entry balance_after equals the running sum of that account entries',
    sql: `SELECT account_id, id::text AS entry_id, balance_after::text, running::text FROM (
            SELECT account_id, id, balance_after, SUM(amount) OVER (PARTITION BY account_id ORDER BY id) AS running
            FROM ledger_entries) x
          WHERE balance_after <> running`,
  },
  {
    name: 'owed_equals_owed_entries',
    description: 'each account owed amount equals the sum of its owed entries, and is never negative',
    sql: `SELECT a.id AS account_id, a.owed::text AS owed, COALESCE(o.total, 0)::text AS entries_total
          FROM accounts a LEFT JOIN (SELECT account_id, SUM(amount) AS total FROM owed_entries GROUP BY account_id) o
            ON o.account_id = a.id
          WHERE a.owed <> COALESCE(o.total, 0) OR a.owed < 0`,
  },
  {
    name: 'owed_entries_chain_per_account',
    description: 'each owed entry owed_after equals the running sum of that account owed entries, never negative',
    sql: `SELECT account_id, id::text AS entry_id, owed_after::text, running::text FROM (
            SELECT account_id, id, owed_after, SUM(amount) OVER (PARTITION BY account_id ORDER BY id) AS running
            FROM owed_entries) x
          WHERE owed_after <> running OR running < 0`,
  },
  {
    name: 'reversals_match_entries',
    description: 'what each dispute or refund says it debited and recorded as owed equals its ledger and owed entries',
    sql: `SELECT r.id AS reversal_id, r.debited::text, r.owed::text, COALESCE(e.total, 0)::text AS entries_debited, COALESCE(o.total, 0)::text AS entries_owed
          FROM payment_reversals r
          LEFT JOIN (SELECT split_part(idempotency_key, ':', 2) AS rid, -SUM(amount) AS total FROM ledger_entries
                      WHERE idempotency_key LIKE 'reversal:%' GROUP BY 1) e ON e.rid = r.id
          LEFT JOIN (SELECT split_part(idempotency_key, ':', 2) AS rid, SUM(amount) AS total FROM owed_entries
                      WHERE idempotency_key LIKE 'reversal:%' GROUP BY 1) o ON o.rid = r.id
          WHERE r.debited <> COALESCE(e.total, 0) OR r.owed <> COALESCE(o.total, 0)`,
  },
];

/**
 * Checks every ledger invariant of DESIGN.md §3 in one repeatable-read snapshot, so a report
 * taken while money moves is still consistent with itself.
 */
export async function auditLedger(db: Knex): Promise<AuditReport> {
  return db.transaction(
    async (trx) => {
      const checks: InvariantCheck[] = [];
      for (const c of CHECKS) {
        const { rows } = await trx.raw(`${c.sql} LIMIT 100`);
        checks.push({ name: c.name, description: c.description, ok: rows.length === 0, discrepancies: rows });
      }
      const { rows } = await trx.raw(`SELECT COUNT(*)::int AS n FROM accounts`);
      return { ok: checks.every((c) => c.ok), checkedAt: new Date().toISOString(), accounts: rows[0].n, checks };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}
