import { KeyLimitExceeded } from './errors.js';

/**
 * The ledger's side of per-key spend limits. The budget itself (`api_key_budgets`) is kept by two
 * triggers on `holds` (migration 20261130_0710_key_budgets), so every statement that places or
 * settles a hold carrying `api_key_id` moves the key's budget in the same transaction, and one that
 * would pass the limit fails with SQLSTATE CK402, its DETAIL "<limit> <used> <reset>"; the batch
 * function `ledger_apply_holds` catches it for that hold alone and returns the DETAIL.
 */
export function keyLimitExceeded(keyId: string, err: { detail?: string }): KeyLimitExceeded {
  const [limit = '0', used = '0', reset = 'none'] = (err.detail ?? '').split(' ');
  return new KeyLimitExceeded(keyId, BigInt(limit), BigInt(used), reset === 'daily' || reset === 'weekly' || reset === 'monthly' ? reset : null);
}
