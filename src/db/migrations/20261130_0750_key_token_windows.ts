import type { Knex } from 'knex';

/**
 * Tokens per minute (api_keys.tpm) are enforced on the same one-row-per-key window as rpm: the row
 * also counts the tokens (prompt + completion) of the requests settled in its minute. Tokens are
 * added after settlement, batched, by an upsert that may open a minute no request has counted into
 * yet, hence a window of zero requests is now valid.
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE api_key_rate_windows
      ADD COLUMN tokens bigint NOT NULL DEFAULT 0 CHECK (tokens >= 0),
      DROP CONSTRAINT api_key_rate_windows_requests_check,
      ADD CONSTRAINT api_key_rate_windows_requests_check CHECK (requests >= 0);
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`
    DELETE FROM api_key_rate_windows WHERE requests = 0;
    ALTER TABLE api_key_rate_windows
      DROP CONSTRAINT api_key_rate_windows_requests_check,
      ADD CONSTRAINT api_key_rate_windows_requests_check CHECK (requests > 0),
      DROP COLUMN tokens;
  `);
}
