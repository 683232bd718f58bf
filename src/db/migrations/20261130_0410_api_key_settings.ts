import type { Knex } from 'knex';

/**
 * What a customer can set on each of their keys, and the per-key rate-limit window.
 *  - `manage`: the key may create, change and delete the account's keys. The account's first key
 *    gets it, so every existing account can manage its keys from day one.
 *  - `spend_limit` (nano-dollars) and `limit_reset` are stored and reported now; enforcement with
 *    holds comes later, so the shape is fixed here. A reset period needs a limit to reset.
 *  - `models`: allow-list of catalog ids (NULL = every model).
 *  - `rpm` is enforced through `api_key_rate_windows`; `tpm` is stored and reported.
 * `api_key_rate_windows` keeps one row per key: the current fixed one-minute window and its count,
 * updated by a single upsert per request so every API process shares the same counter.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE api_keys
      ADD COLUMN manage       boolean NOT NULL DEFAULT false,
      ADD COLUMN spend_limit  bigint CHECK (spend_limit >= 0),
      ADD COLUMN limit_reset  text CHECK (limit_reset IN ('daily', 'weekly', 'monthly')),
      ADD COLUMN models       text[],
      ADD COLUMN rpm          integer CHECK (rpm > 0),
      ADD COLUMN tpm          integer CHECK (tpm > 0),
      ADD COLUMN expires_at   timestamptz,
      ADD CONSTRAINT api_keys_reset_needs_limit CHECK (limit_reset IS NULL OR spend_limit IS NOT NULL);

    UPDATE api_keys SET manage = true
     WHERE id IN (SELECT DISTINCT ON (account_id) id FROM api_keys WHERE revoked_at IS NULL ORDER BY account_id, created_at, id);

    CREATE TABLE api_key_rate_windows (
      api_key_id    text PRIMARY KEY REFERENCES api_keys(id) ON DELETE CASCADE,
      window_start  timestamptz NOT NULL,
      requests      integer NOT NULL CHECK (requests > 0)
    );

    CREATE INDEX requests_key_time ON requests (api_key_id, created_at) WHERE api_key_id IS NOT NULL;
    CREATE INDEX generations_key_time ON generations (api_key_id, created_at) WHERE api_key_id IS NOT NULL;
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DROP INDEX generations_key_time;
    DROP INDEX requests_key_time;
    DROP TABLE api_key_rate_windows;
    ALTER TABLE api_keys
      DROP CONSTRAINT api_keys_reset_needs_limit,
      DROP COLUMN expires_at, DROP COLUMN tpm, DROP COLUMN rpm, DROP COLUMN models,
      DROP COLUMN limit_reset, DROP COLUMN spend_limit, DROP COLUMN manage;
  `);
}
