import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/connection.js';
import { PostgresLedger } from '../../src/ledger/index.js';
import { startHarness, type Harness } from '../support/harness.js';

/**
 * Unlucky database calls replayed from issue 10 §4: a statement stuck behind a lock another
 * connection holds, and one hung connection in a group-commit lane. Real PostgreSQL, real locks.
 */

let h: Harness;
let db: Db;
beforeAll(async () => {
  h = await startHarness({ worker: false });
  db = createDb(h.databaseUrl, { poolMax: 8, statementTimeoutMs: 1_500 });
});
afterAll(async () => {
  await db?.destroy();
  await h?.close();
});

/** Holds the row lock of `accountId` on a connection of its own until `release` is called. */
async function lockAccount(accountId: string) {
  const locker = createDb(h.databaseUrl, { poolMax: 1 });
  const trx = await locker.transaction();
  await trx('accounts').where({ id: accountId }).forUpdate().first();
  return {
    async release() {
      await trx.commit();
      await locker.destroy();
    },
  };
}

const newAccount = async (name: string) => (await h.services.accounts.create({ name, email: 'db@example.com' })).id;
const credit = (ledger: PostgresLedger, accountId: string, key: string) =>
  ledger.post({ accountId, amount: 1_000_000_000n, kind: 'adjustment', idempotencyKey: key, reason: 'hung-db test', actor: 'test' });

describe('attack 4: unlucky database calls', () => {
  it('every connection carries statement, idle-in-transaction and TCP keepalive settings', async () => {
    const defaults = createDb(h.databaseUrl, { poolMax: 1 });
    try {
      const [st, idle] = await Promise.all([defaults.raw('show statement_timeout'), defaults.raw('show idle_in_transaction_session_timeout')]);
      expect(st.rows[0].statement_timeout).toBe('30s');
      expect(idle.rows[0].idle_in_transaction_session_timeout).toBe('1min');
      // The option reached the pg connection itself, not only knex's config.
      const conn = (await defaults.client.acquireConnection()) as { connection: { _keepAlive: boolean } };
      expect(conn.connection._keepAlive).toBe(true);
      await defaults.client.releaseConnection(conn);
    } finally {
      await defaults.destroy();
    }
  });

  it('a statement waiting on a lock another connection never releases is cancelled, and the pool recovers', async () => {
    const accountId = await newAccount('locked');
    const lock = await lockAccount(accountId);
    try {
      await expect(db('accounts').where({ id: accountId }).update({ name: 'changed' })).rejects.toMatchObject({ code: '57014' });
      expect((await db.raw('select 1 as ok')).rows[0].ok).toBe(1);
    } finally {
      await lock.release();
    }
    expect((await db('accounts').where({ id: accountId }).first()).name).toBe('locked');
  });

  it('a hung operation does not stall the other accounts of its group-commit lane, and lands once when unblocked', async () => {
    const ledger = new PostgresLedger(db, { groupCommit: { lanes: 1, maxBatch: 64, deadlineMs: 200 } });
    const stuck = await newAccount('stuck');
    const others = [await newAccount('o1'), await newAccount('o2'), await newAccount('o3')];
    const lock = await lockAccount(stuck);
    let stuckDone: Promise<unknown>;
    let stuckInBatch: Promise<unknown>;
    try {
      stuckDone = credit(ledger, stuck, 'stuck-1'); // a batch of one, hanging on the lock
      // These arrive while it hangs and are served as one batch with another hanging operation.
      stuckInBatch = credit(ledger, stuck, 'stuck-2');
      const served = await Promise.all(others.map((a) => credit(ledger, a, `other-${a}`)));
      expect(served.map((r) => r.value.amount)).toEqual([1_000_000_000n, 1_000_000_000n, 1_000_000_000n]);
    } finally {
      await lock.release();
    }
    await Promise.allSettled([stuckDone!, stuckInBatch!]);
    // Whatever timed out was re-run or retried: each credit is applied at most once, and a retry lands it.
    for (const key of ['stuck-1', 'stuck-2']) await credit(ledger, stuck, key);
    expect((await h.services.ledger.balance(stuck)).balance).toBe(2_000_000_000n);
    for (const a of others) expect((await h.services.ledger.balance(a)).balance).toBe(1_000_000_000n);
    await h.expectBooksBalanced();
  });
});
