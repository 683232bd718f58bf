import { KeyLimitExceeded } from './errors.js';

/**
 * The ledger's side of per-key spend limits. The budget itself (`api_key_budgets`) is kept by two
 * triggers on `holds` (migration 20261130_0710_key_budgets), so every statement that places or
 * settles a hold carrying `api_key_id` moves the key's budget in the same transaction, and one that
 * would pass the limit fails as a whole with SQLSTATE CK402, its DETAIL "<limit> <used> <reset>".
 */
const KEY_LIMIT_SQLSTATE = 'CK402';

export function isKeyLimitRefusal(err: unknown): err is { code: string; detail?: string } {
  return (err as { code?: unknown } | null)?.code === KEY_LIMIT_SQLSTATE;
}

export function keyLimitExceeded(keyId: string, err: { detail?: string }): KeyLimitExceeded {
  const [limit = '0', used = '0', reset = 'none'] = (err.detail ?? '').split(' ');
  return new KeyLimitExceeded(keyId, BigInt(limit), BigInt(used), reset === 'daily' || reset === 'weekly' || reset === 'monthly' ? reset : null);
}
