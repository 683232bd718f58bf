import type { Knex } from 'knex';

/**
 * Deposits: what the customer chose (tier, coin), and the deposit's history: every provider
 * notification, poll result and status change, once each (the unique event id also dedupes
 * webhooks that arrive more than once).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE deposits
      ADD COLUMN tier text,
      ADD COLUMN coin text,
      ADD CONSTRAINT deposits_status_known CHECK (
        status IN ('creating', 'pending', 'processing', 'credited', 'failed', 'expired', 'needs_review')),
      ADD CONSTRAINT deposits_credited_consistent CHECK (
        (status = 'credited') = (credited_at IS NOT NULL) AND (credited_at IS NULL) = (credited_amount IS NULL));

    CREATE TABLE deposit_events (
      id               bigserial PRIMARY KEY,
      deposit_id       text NOT NULL REFERENCES deposits(id),
      event_id         text NOT NULL,
      source           text NOT NULL CHECK (source IN ('api', 'webhook', 'poll', 'workflow')),
      outcome          text,
      provider_status  text,
      status           text NOT NULL,
      amount           bigint,
      note             text,
      created_at       timestamptz NOT NULL DEFAULT now(),
      UNIQUE (deposit_id, event_id)
    );
    CREATE INDEX deposit_events_deposit ON deposit_events (deposit_id, id);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP TABLE deposit_events;
    ALTER TABLE deposits DROP CONSTRAINT deposits_credited_consistent, DROP CONSTRAINT deposits_status_known,
      DROP COLUMN coin, DROP COLUMN tier;
  `);
}
