import type { Knex } from 'knex';

/**
 * The prompt-cache split of a chat request, as the provider reported it: of `prompt_tokens`, those
 * read from its cache and those written to it, each priced at the catalog's own rate. NULL for
 * rows written before this column and for requests billed from our estimate (no provider report).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE requests
      ADD COLUMN cached_tokens      integer CHECK (cached_tokens >= 0),
      ADD COLUMN cache_write_tokens integer CHECK (cache_write_tokens >= 0)
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw('ALTER TABLE requests DROP COLUMN cached_tokens, DROP COLUMN cache_write_tokens');
}
