import type { Db } from '../db/connection.js';

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
