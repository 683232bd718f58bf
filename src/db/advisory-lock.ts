import type { Knex } from 'knex';

/**
 * Serialises one kind of decision per account ("may this account open another deposit?") across
 * every process, for the rest of the transaction, without touching the account row the ledger
 * locks for every balance change. A count followed by an insert under this lock cannot be raced.
 */
export async function lockAccountScope(trx: Knex.Transaction, scope: 'deposits' | 'support', accountId: string): Promise<void> {
  await trx.raw('select pg_advisory_xact_lock(hashtext(?))', [`${scope}:${accountId}`]);
}
