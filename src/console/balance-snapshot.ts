import { formatUsd } from '../ledger/money.js';
import type { PostgresLedger } from '../ledger/postgres-ledger.js';

/** What the console's live balance shows: exact decimal strings, as every money figure in the API. */
export async function accountSnapshot(ledger: Pick<PostgresLedger, 'balance'>, accountId: string) {
  const { balance, held } = await ledger.balance(accountId);
  return {
    balance_usd: formatUsd(balance),
    held_usd: formatUsd(held),
    available_usd: formatUsd(balance - held),
  };
}
