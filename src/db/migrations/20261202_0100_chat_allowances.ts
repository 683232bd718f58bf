import type { Knex } from 'knex';

/**
 * A chat allowance: part of an account's available balance held by one API process (its lease), from
 * which that process takes its chat requests' worst cases in memory instead of placing a hold row for
 * each (src/ledger/allowances.ts). An account's `held` is its pending holds plus its allowances.
 * Lapsed with its process's lease, an allowance is released by the sweep, as that process's holds are.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE chat_allowances (
      account_id  text NOT NULL REFERENCES accounts(id),
      lease_id    text NOT NULL REFERENCES process_leases(id),
      amount      bigint NOT NULL CHECK (amount >= 0),
      PRIMARY KEY (account_id, lease_id)
    );
    CREATE INDEX chat_allowances_lease ON chat_allowances (lease_id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`DROP TABLE chat_allowances`);
}
