import type { Db } from '../db/connection.js';
import type { Grant } from './credit-summary.js';

export interface CreditTotals {
  /** Every credit the account received: deposits and positive adjustments. */
  credits: bigint;
  /** Everything taken from those credits since: credits − balance (settled spend and debits). */
  usage: bigint;
}

/** OpenRouter's credits/usage pair, read from the ledger in one statement. */
export async function creditTotals(db: Db, accountId: string): Promise<CreditTotals | null> {
  const { rows } = await db.raw(
    `SELECT a.balance,
            coalesce((SELECT sum(amount) FROM ledger_entries e
                       WHERE e.account_id = a.id AND (e.kind = 'deposit' OR (e.kind = 'adjustment' AND e.amount > 0))), 0) AS credits
       FROM accounts a WHERE a.id = ?`,
    [accountId],
  );
  if (!rows[0]) return null;
  const credits = BigInt(rows[0].credits);
  return { credits, usage: credits - BigInt(rows[0].balance) };
}

/** The account's grants in ledger order: each deposit (named by its deposit id) and each positive adjustment. */
export async function creditGrants(db: Db, accountId: string): Promise<Grant[]> {
  const rows: { id: string | bigint; amount: bigint; deposit_id: string | null; created_at: Date }[] = await db('ledger_entries')
    .select('id', 'amount', 'deposit_id', 'created_at')
    .where('account_id', accountId)
    .andWhere((q) => q.where('kind', 'deposit').orWhere((q2) => q2.where('kind', 'adjustment').andWhere('amount', '>', 0)))
    .orderBy('id');
  return rows.map((r) => ({ id: r.deposit_id ?? `adj_${r.id}`, amount: r.amount, effectiveAt: r.created_at }));
}
