import type { Db } from '../db/connection.js';
import type { KeySettings } from './key-settings.js';

/**
 * Per-key spend limits, read from the row the ledger enforces them with (`api_key_budgets`, kept
 * by the holds triggers, see src/ledger/key-budget.ts): what the key spent in its current period
 * and what its pending holds reserve. A limited key's holds carry its id (`budgetKeyOf`), so the
 * row is exact for every hold placed while the key had its limit.
 */
export interface KeyBudget {
  /** Captured in the current period. */
  spent: bigint;
  /** Reserved by the key's pending holds. */
  held: bigint;
}

/** The key id to place a hold under, so that the key's limit counts it; undefined for an unlimited key. */
export function budgetKeyOf(key: { id: string; spendLimit: bigint | null }): string | undefined {
  return key.spendLimit === null ? undefined : key.id;
}

/** `keyId` when that key has a spend limit (for code that knows only the id); undefined otherwise. */
export async function limitedKey(db: Db, keyId: string): Promise<string | undefined> {
  const row = await db('api_keys').select('id').where({ id: keyId }).whereNotNull('spend_limit').first();
  return row?.id;
}

/** What remains of the limit; null for an unlimited key. */
export function budgetRemaining(key: Pick<KeySettings, 'spendLimit'>, budget: KeyBudget): bigint | null {
  if (key.spendLimit === null) return null;
  const left = key.spendLimit - budget.spent - budget.held;
  return left > 0n ? left : 0n;
}

/** Budgets of these keys in their current periods (a key never charged under its limit has none: zero). */
export async function keyBudgets(db: Db, keyIds: string[]): Promise<Map<string, KeyBudget>> {
  const budgets = new Map<string, KeyBudget>();
  if (keyIds.length === 0) return budgets;
  const { rows } = await db.raw(
    `SELECT b.api_key_id,
            CASE WHEN b.period_start < key_period_start(k.limit_reset, now()) THEN 0 ELSE b.spent END AS spent,
            b.held
       FROM api_key_budgets b JOIN api_keys k ON k.id = b.api_key_id
      WHERE b.api_key_id = ANY(?::text[])`,
    [keyIds],
  );
  for (const r of rows) budgets.set(r.api_key_id, { spent: BigInt(r.spent), held: BigInt(r.held) });
  return budgets;
}

export async function keyBudget(db: Db, keyId: string): Promise<KeyBudget> {
  return (await keyBudgets(db, [keyId])).get(keyId) ?? { spent: 0n, held: 0n };
}

/**
 * Starts the key's budget over after its limit or period changed: `spent` becomes what the key was
 * charged since the start of its (new) period, from the request log (which records every chat,
 * embedding and delivered generation with its key and cost); what its pending holds reserve is kept. A charge committing during this one statement may be
 * missed once: the limit can then be passed by at most that request's cost.
 */
export async function restartKeyBudget(db: Db, keyId: string): Promise<void> {
  await db.raw(
    `WITH k AS (SELECT id, key_period_start(limit_reset, now()) AS p FROM api_keys WHERE id = :keyId),
          spent AS (SELECT coalesce(sum(cost), 0) AS total FROM requests, k WHERE api_key_id = k.id AND cost > 0 AND created_at >= k.p)
     INSERT INTO api_key_budgets AS b (api_key_id, period_start, spent, held)
     SELECT k.id, k.p, spent.total, 0 FROM k, spent
     ON CONFLICT (api_key_id) DO UPDATE SET period_start = EXCLUDED.period_start, spent = EXCLUDED.spent`,
    { keyId },
  );
}
