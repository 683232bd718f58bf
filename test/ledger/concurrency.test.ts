import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/connection.js';
import { InsufficientFunds, parseUsd, PostgresLedger } from '../../src/ledger/index.js';
import { startHarness, type Harness } from '../support/harness.js';

/** Small deterministic PRNG so a failure replays the same operation mix. */
function mulberry32(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

describe.each([
  ['one statement per commit', undefined, 1],
  ['group commit', { lanes: 4, maxBatch: 64 }, 1],
  // Two API processes on one database: each its own lane and batches, over the same accounts; a capture's
  // retry may land on the other process, as an activity retry can land on another worker.
  ['group commit, two processes', { lanes: 1, maxBatch: 64 }, 2],
] as const)('ledger under concurrency (%s)', (_mode, groupCommit, processes) => {
  let h: Harness;
  let db: Db;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
    db = createDb(h.databaseUrl, { poolMax: 32 });
  });
  afterAll(async () => {
    await db?.destroy();
    await h?.close();
  });

  it('keeps every invariant and exact totals through 4,000 mixed operations from 32 connections on 3 accounts', async () => {
    const ledgers = Array.from({ length: processes }, () => new PostgresLedger(db, { groupCommit }));
    const rnd = mulberry32(20261125);
    const accounts: string[] = [];
    for (let i = 0; i < 3; i++) accounts.push((await h.services.accounts.create({ name: `C${i}`, email: 'c@example.com' })).id);
    const expected = new Map(accounts.map((a) => [a, 0n]));
    const add = (a: string, v: bigint) => expected.set(a, expected.get(a)! + v);
    let refused = 0;
    let replays = 0;

    const op = async (i: number) => {
      const ledger = ledgers[i % processes]!;
      const other = ledgers[(i + 1) % processes]!;
      const acct = accounts[Math.floor(rnd() * accounts.length)]!;
      const roll = rnd();
      const amount = BigInt(1 + Math.floor(rnd() * 300_000_000)); // up to $0.30
      try {
        if (roll < 0.15) {
          // Deposit, posted twice concurrently (a duplicated webhook).
          const dep = `dep_c${i}`;
          const input = { accountId: acct, amount, kind: 'deposit' as const, idempotencyKey: `${dep}:credit`, depositId: dep };
          const [a, b] = await Promise.all([ledger.post(input), other.post(input)]);
          expect([a.replayed, b.replayed].sort()).toEqual([false, true]);
          replays++;
          add(acct, amount);
        } else if (roll < 0.5) {
          await ledger.post({ accountId: acct, amount: -amount, kind: 'usage', idempotencyKey: `use_${i}`, requestId: `req_${i}` });
          add(acct, -amount);
        } else {
          const { value: hold } = await ledger.placeHold({
            accountId: acct,
            amount,
            idempotencyKey: `hold_${i}`,
            purpose: 'chat',
            expiresAt: new Date(Date.now() + 600_000),
          });
          if (rnd() < 0.7) {
            const charge = BigInt(Math.floor(rnd() * Number(amount)));
            // Capture retried concurrently, as an activity retry would.
            const [a, b] = await Promise.all([
              ledger.captureHold({ holdId: hold.id, amount: charge, kind: 'usage' }),
              other.captureHold({ holdId: hold.id, amount: charge, kind: 'usage' }),
            ]);
            expect([a.replayed, b.replayed].sort()).toEqual([false, true]);
            add(acct, -charge);
          } else {
            await ledger.releaseHold({ holdId: hold.id });
          }
        }
      } catch (err) {
        if (!(err instanceof InsufficientFunds)) throw err;
        refused++;
      }
    };

    // Seed each account so there is something to spend from the start.
    for (const a of accounts) {
      await ledgers[0]!.post({ accountId: a, amount: parseUsd('50'), kind: 'adjustment', idempotencyKey: `${a}:seed` });
      add(a, parseUsd('50'));
    }
    const total = 4000;
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < total) await op(next++);
      }),
    );

    await Promise.all(ledgers.map((l) => l.close()));
    for (const a of accounts) {
      const bal = await new PostgresLedger(db).balance(a);
      expect(bal.balance, a).toBe(expected.get(a));
      expect(bal.held, a).toBe(0n);
      expect(bal.available >= 0n).toBe(true);
    }
    const report = await h.audit();
    expect(report.checks.filter((c) => !c.ok)).toEqual([]);
    // The mix must actually have exercised both paths.
    expect(replays).toBeGreaterThan(400);
    expect(refused).toBeGreaterThan(0);
  });
});
