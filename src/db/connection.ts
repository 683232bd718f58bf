import knex, { type Knex } from 'knex';
import pg from 'pg';
import { migrationSource } from './migrations/index.js';
import { parseTimestamptz } from './timestamptz.js';

// BIGINT columns carry nano-dollars: parse them to bigint, never to a (lossy) JS number.
pg.types.setTypeParser(pg.types.builtins.INT8, (v: string) => BigInt(v));
pg.types.setTypeParser(pg.types.builtins.TIMESTAMPTZ, parseTimestamptz);

export type Db = Knex;

export interface DbOptions {
  poolMax?: number;
  /** Server-side limit on any one statement, lock waits included (ms). Default 30 s. */
  statementTimeoutMs?: number;
}

/**
 * Every connection is bounded in time, so one unlucky call cannot hold a pool slot (and the row
 * locks behind it) forever:
 *  - `statement_timeout`: the server cancels a statement that runs or waits on a lock too long;
 *  - `query_timeout`: the client gives up a little later still, for a server that stopped
 *    answering at all (the cancel above would then never arrive);
 *  - `idle_in_transaction_session_timeout`: a transaction its client abandoned is ended by the
 *    server, releasing its locks;
 *  - `connectionTimeoutMillis` and the pool's acquire timeout: neither connecting nor waiting for
 *    a free connection hangs;
 *  - TCP keepalive: a peer that vanished (failover, a dropped NAT entry) is noticed and the
 *    connection discarded instead of waiting on a dead socket.
 */
export function createDb(url: string, opts: DbOptions = {}): Db {
  const statementTimeoutMs = opts.statementTimeoutMs ?? 30_000;
  return knex({
    client: 'pg',
    connection: {
      connectionString: url,
      statement_timeout: statementTimeoutMs,
      query_timeout: statementTimeoutMs + 5_000,
      idle_in_transaction_session_timeout: 60_000,
      connectionTimeoutMillis: 10_000,
      keepAlive: true,
      keepAliveInitialDelayMillis: 10_000,
    } as Knex.PgConnectionConfig,
    pool: { min: 0, max: opts.poolMax ?? 20 },
    acquireConnectionTimeout: 15_000,
  });
}

export async function migrateLatest(db: Db): Promise<void> {
  await db.migrate.latest({ migrationSource });
}
