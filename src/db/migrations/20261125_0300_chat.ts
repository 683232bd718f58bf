import type { Knex } from 'knex';

/**
 * What a chat request's row needs beyond the core columns, for disputes: the output limit actually
 * sent upstream (lowered when the balance could not cover the caller's) and whether its tokens are
 * the upstream's own count or our estimate (a stream cut before the upstream reported usage).
 */
export async function up(knex: Knex): Promise<void> {
  await knex.raw(`
    ALTER TABLE requests
      ADD COLUMN max_tokens   integer,
      ADD COLUMN usage_source text CHECK (usage_source IN ('upstream', 'estimated'));
  `);
}

export async function down(knex: Knex): Promise<void> {
  await knex.raw(`ALTER TABLE requests DROP COLUMN max_tokens, DROP COLUMN usage_source;`);
}
