import knex, { type Knex } from 'knex';
import pg from 'pg';
import { migrationSource } from './migrations/index.js';

// BIGINT columns carry nano-dollars: parse them to bigint, never to a (lossy) JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => BigInt(v));

export type Db = Knex;

export function createDb(url: string, opts: { poolMax?: number } = {}): Db {
  return knex({
    client: 'pg',
    connection: url,
    pool: { min: 0, max: opts.poolMax ?? 20 },
  });
}

export async function migrateLatest(db: Db): Promise<void> {
  await db.migrate.latest({ migrationSource });
}
