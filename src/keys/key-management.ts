import type { AccountRepository, ApiKeyRecord } from '../accounts/repository.js';
import type { Db } from '../db/connection.js';
import type { Catalog } from '../pricing/catalog.js';
import { ApiKeyNotFound, InvalidKeySettings, ManagementKeyRequired } from './errors.js';
import { restartKeyBudget } from './key-budget.js';
import { settingsProblem, type KeySettings } from './key-settings.js';

/**
 * The customer's key management: only a management key may use it, settings are checked against
 * the catalog and the clock, and the account always keeps one active management key (enforced by
 * the repository under a lock). A key may delete itself unless it is that last one, as with
 * OpenRouter's and LiteLLM's key APIs, where any key id of the account can be deleted.
 */
export interface KeyManagementDeps {
  accounts: AccountRepository;
  catalog: Pick<Catalog, 'get'>;
  db: Db;
  now?: () => Date;
}

/**
 * Who manages keys: a management key, or the account's person signed in to the console (who
 * may always manage the account's keys).
 */
export type KeyManager = Pick<ApiKeyRecord, 'accountId' | 'manage'>;

function requireManager(caller: KeyManager): void {
  if (!caller.manage) throw new ManagementKeyRequired();
}

function checker(deps: KeyManagementDeps) {
  return (s: Pick<KeySettings, 'spendLimit' | 'limitReset' | 'models' | 'expiresAt'>) => {
    const problem = settingsProblem(s, (id) => deps.catalog.get(id) !== undefined, deps.now?.() ?? new Date());
    if (problem) throw new InvalidKeySettings(problem.message, problem.param);
  };
}

export async function listKeys(deps: KeyManagementDeps, caller: KeyManager): Promise<ApiKeyRecord[]> {
  requireManager(caller);
  return deps.accounts.listKeys(caller.accountId, { activeOnly: true });
}

export async function createKey(deps: KeyManagementDeps, caller: KeyManager, settings: KeySettings): Promise<{ record: ApiKeyRecord; key: string }> {
  requireManager(caller);
  checker(deps)(settings);
  return deps.accounts.issueKey(caller.accountId, settings);
}

export async function updateKey(deps: KeyManagementDeps, caller: KeyManager, id: string, change: Partial<KeySettings>): Promise<ApiKeyRecord> {
  requireManager(caller);
  const updated = await deps.accounts.changeKey(caller.accountId, id, change, checker(deps));
  if (!updated) throw new ApiKeyNotFound(id);
  // A new limit or period counts what the key already spent in that period.
  if ((change.spendLimit !== undefined || change.limitReset !== undefined) && updated.spendLimit !== null) await restartKeyBudget(deps.db, id);
  return updated;
}

export async function deleteKey(deps: KeyManagementDeps, caller: KeyManager, id: string): Promise<ApiKeyRecord> {
  requireManager(caller);
  const revoked = await deps.accounts.changeKey(caller.accountId, id, { revoke: true });
  if (!revoked) throw new ApiKeyNotFound(id);
  return revoked;
}
