/**
 * Ops' view of an account: its balance and keys, what it owes, whether it is suspended, and its
 * disputes and refunds. A dispute commits its debit, owed, suspension and row together, so all of
 * them are read in one snapshot (a read-only REPEATABLE READ transaction): the view never shows a
 * dispute half applied, e.g. listed while the balance still holds the disputed credit.
 */
import type { Account, ApiKeyRecord } from '../accounts/repository.js';
import { suspensionOf, type Suspension } from '../accounts/suspension.js';
import type { Services } from '../services.js';
import type { Reversal } from './reversal-repository.js';

export interface AccountStanding {
  owed: bigint;
  suspension: Suspension | null;
  /** Newest first. */
  reversals: Reversal[];
}

export interface AccountReview {
  account: Account;
  keys: ApiKeyRecord[];
  standing: AccountStanding;
}

/** The account, its keys and its standing as of one moment; null when there is no such account. */
export async function reviewAccount(services: Services, accountId: string): Promise<AccountReview | null> {
  return services.db.transaction(
    async (trx) => {
      const account = await services.accounts.get(accountId, trx);
      if (!account) return null;
      const reversals = await services.payments.reversals.forAccount(account.id, trx);
      const keys = await services.accounts.listKeys(account.id, {}, trx);
      const owed = await services.owed.owed(account.id, trx);
      const suspension = await suspensionOf(trx, account.id);
      return { account, keys, standing: { owed, suspension, reversals } };
    },
    { isolationLevel: 'repeatable read', readOnly: true },
  );
}
