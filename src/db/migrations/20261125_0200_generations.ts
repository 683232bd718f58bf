import type { Knex } from 'knex';

/**
 * What the generation workflows record beyond the core table: how many images were asked for,
 * the provider's job handle (for ops), the delivered assets and what was charged for them.
 * `rejected` marks a request refused at the hold (402): it never became a generation the user sees.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE generations
      ADD COLUMN n             integer NOT NULL DEFAULT 1 CHECK (n BETWEEN 1 AND 10),
      ADD COLUMN request_id    text,
      ADD COLUMN provider_job  text,
      ADD COLUMN assets        jsonb NOT NULL DEFAULT '[]',
      ADD COLUMN cost          bigint NOT NULL DEFAULT 0 CHECK (cost >= 0),
      ADD COLUMN started_at    timestamptz,
      ADD CONSTRAINT generations_status CHECK (status IN ('queued', 'in_progress', 'completed', 'failed', 'rejected'));
    CREATE INDEX generations_account_kind_time ON generations (account_id, kind, created_at DESC, id DESC) WHERE deleted_at IS NULL;
    CREATE INDEX holds_pending_generation ON holds (created_at) WHERE status = 'pending' AND purpose = 'generation';
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX holds_pending_generation;
    DROP INDEX generations_account_kind_time;
    ALTER TABLE generations
      DROP CONSTRAINT generations_status,
      DROP COLUMN started_at, DROP COLUMN cost, DROP COLUMN assets,
      DROP COLUMN provider_job, DROP COLUMN request_id, DROP COLUMN n;
  `);
}
