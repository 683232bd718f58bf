import type { Knex } from 'knex';

/**
 * Support requests get statuses both sides see: open → answered (ops' reply) → closed, reopened by
 * the customer; `resolved` rows of before become closed, their resolution the reply. A custom
 * amount request is turned by ops into a deposit, linked both ways (one deposit per request).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE support_requests
      ADD COLUMN reply        text,
      ADD COLUMN answered_at  timestamptz,
      ADD COLUMN closed_at    timestamptz,
      ADD COLUMN updated_at   timestamptz NOT NULL DEFAULT now(),
      ADD COLUMN deposit_id   text REFERENCES deposits(id);
    UPDATE support_requests SET status = 'closed', closed_at = COALESCE(resolved_at, now()), reply = resolution
     WHERE status <> 'open';
    ALTER TABLE support_requests
      ADD CONSTRAINT support_status_known CHECK (status IN ('open', 'answered', 'closed')),
      ADD CONSTRAINT support_closed_when_closed CHECK ((status = 'closed') = (closed_at IS NOT NULL)),
      ADD CONSTRAINT support_answered_has_reply CHECK (status <> 'answered' OR reply IS NOT NULL);
    CREATE INDEX support_requests_account ON support_requests (account_id, created_at DESC);

    ALTER TABLE deposits ADD COLUMN support_request_id text REFERENCES support_requests(id);
    CREATE UNIQUE INDEX deposits_one_per_support_request ON deposits (support_request_id) WHERE support_request_id IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX deposits_one_per_support_request;
    ALTER TABLE deposits DROP COLUMN support_request_id;
    DROP INDEX support_requests_account;
    ALTER TABLE support_requests
      DROP CONSTRAINT support_answered_has_reply, DROP CONSTRAINT support_closed_when_closed, DROP CONSTRAINT support_status_known;
    UPDATE support_requests SET status = 'resolved', resolved_at = closed_at, resolution = reply WHERE status <> 'open';
    ALTER TABLE support_requests
      DROP COLUMN deposit_id, DROP COLUMN updated_at, DROP COLUMN closed_at, DROP COLUMN answered_at, DROP COLUMN reply;
  `);
}
