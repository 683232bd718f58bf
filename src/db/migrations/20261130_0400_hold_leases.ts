import type { Knex } from 'knex';

/**
 * A lease per API process, renewed while it lives. A chat hold carries the lease of the process
 * serving its request, so when a process dies its holds can be released as soon as its lease
 * lapses (about a minute) instead of at the hold's own 3-hour deadline.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    CREATE TABLE process_leases (
      id          text PRIMARY KEY,
      host        text NOT NULL,
      pid         integer NOT NULL,
      started_at  timestamptz NOT NULL DEFAULT now(),
      renewed_at  timestamptz NOT NULL DEFAULT now(),
      expires_at  timestamptz NOT NULL,
      CONSTRAINT lease_expires_after_renewal CHECK (expires_at >= renewed_at)
    );
    CREATE INDEX process_leases_expiry ON process_leases (expires_at);

    ALTER TABLE holds ADD COLUMN lease_id text REFERENCES process_leases(id);
    CREATE INDEX holds_pending_lease ON holds (lease_id) WHERE status = 'pending' AND lease_id IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE holds DROP COLUMN lease_id; DROP TABLE process_leases;`);
}
