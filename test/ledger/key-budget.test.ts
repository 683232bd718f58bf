import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDb, type Db } from '../../src/db/connection.js';
import { keyBudget } from '../../src/keys/key-budget.js';
import type { KeySettings } from '../../src/keys/key-settings.js';
import { InsufficientFunds, KeyLimitExceeded, PostgresLedger } from '../../src/ledger/index.js';
import { startHarness, type Harness } from '../support/harness.js';

const settings = (over: Partial<KeySettings>): KeySettings => ({
  name: 'k',
  manage: false,
  spendLimit: null,
  limitReset: null,
  models: null,
  rpm: null,
  tpm: null,
  expiresAt: null,
  ...over,
});

const expiry = () => new Date(Date.now() + 60_000);

describe.each([
  ['one statement per commit', undefined],
  ['group commit', { lanes: 2, maxBatch: 64 }],
] as const)('per-key spend limits in the ledger (%s)', (_mode, groupCommit) => {
  let h: Harness;
  // Two pools and two ledgers: two API processes sharing one database.
  let dbs: Db[];
  let ledgers: PostgresLedger[];
  beforeAll(async () => {
    h = await startHarness({ worker: false });
    dbs = [createDb(h.databaseUrl, { poolMax: 16 }), createDb(h.databaseUrl, { poolMax: 16 })];
    ledgers = dbs.map((db) => new PostgresLedger(db, { groupCommit }));
  });
  afterAll(async () => {
    await Promise.all(dbs?.map((db) => db.destroy()) ?? []);
    await h?.close();
  });

  async function accountWithKeys(balance: bigint, limit: bigint) {
    const account = await h.services.accounts.create({ name: 'K', email: 'k@example.com' });
    await ledgers[0]!.post({ accountId: account.id, amount: balance, kind: 'adjustment', idempotencyKey: `fund:${account.id}` });
    const limited = await h.services.accounts.issueKey(account.id, settings({ spendLimit: limit, limitReset: 'daily' }));
    return { accountId: account.id, limited: limited.record.id };
  }

  it('lets exactly the holds that fit the key\u2019s limit through 60 concurrent attempts from two processes, and no more', async () => {
    const { accountId, limited } = await accountWithKeys(1_000_000n, 10_000n);
    const outcomes = await Promise.allSettled(
      Array.from({ length: 60 }, (_, i) =>
        ledgers[i % 2]!.placeHold({ accountId, apiKeyId: limited, amount: 1_000n, idempotencyKey: `h${i}:${accountId}`, purpose: 'chat', expiresAt: expiry() }),
      ),
    );
    const placed = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(placed).toHaveLength(10);
    expect(refused).toHaveLength(50);
    for (const r of refused) {
      expect(r.reason).toBeInstanceOf(KeyLimitExceeded);
      expect(r.reason).toMatchObject({ keyId: limited, limit: 10_000n, reset: 'daily' });
    }
    expect(await keyBudget(h.services.db, limited)).toEqual({ spent: 0n, held: 10_000n });
    // A refused hold took nothing from the account: only the ten placed ones are held.
    expect((await ledgers[0]!.balance(accountId)).held).toBe(10_000n);

    // A hold of the account's other keys is not limited by it.
    const free = await ledgers[1]!.placeHold({ accountId, amount: 500_000n, idempotencyKey: `free:${accountId}`, purpose: 'chat', expiresAt: expiry() });
    await ledgers[1]!.releaseHold({ holdId: free.value.id });
    await h.expectBooksBalanced();
  });

  it('moves a capture to spent and frees a release, so the key can spend exactly what is left', async () => {
    const { accountId, limited } = await accountWithKeys(1_000_000n, 10_000n);
    const place = (i: number, amount: bigint) =>
      ledgers[i % 2]!.placeHold({ accountId, apiKeyId: limited, amount, idempotencyKey: `c${i}:${accountId}`, purpose: 'chat', expiresAt: expiry() });
    const a = (await place(1, 4_000n)).value;
    const b = (await place(2, 4_000n)).value;
    await expect(place(3, 4_000n)).rejects.toBeInstanceOf(KeyLimitExceeded);

    await ledgers[0]!.captureHold({ holdId: a.id, amount: 1_500n, kind: 'usage' });
    await ledgers[1]!.releaseHold({ holdId: b.id });
    expect(await keyBudget(h.services.db, limited)).toEqual({ spent: 1_500n, held: 0n });

    // 8,500 left: one hold of exactly that fits, then not a nano-dollar more.
    const c = (await place(4, 8_500n)).value;
    await expect(place(5, 1n)).rejects.toBeInstanceOf(KeyLimitExceeded);
    // A repeat of a placed hold is answered with it, not refused.
    expect((await place(4, 8_500n)).replayed).toBe(true);
    await ledgers[0]!.captureHold({ holdId: c.id, amount: 8_500n, kind: 'usage' });
    expect(await keyBudget(h.services.db, limited)).toEqual({ spent: 10_000n, held: 0n });

    // Expiry (the sweep of a dead process's holds) frees the key's budget too.
    await h.services.db('api_keys').where({ id: limited }).update({ spend_limit: '20000' });
    const d = (await place(6, 5_000n)).value;
    await ledgers[0]!.releaseHold({ holdId: d.id, status: 'expired' });
    expect(await keyBudget(h.services.db, limited)).toEqual({ spent: 10_000n, held: 0n });
    await h.expectBooksBalanced();
  });

  it('starts the period over: what was spent yesterday does not count today, holds still pending do', async () => {
    const { accountId, limited } = await accountWithKeys(1_000_000n, 10_000n);
    const place = (i: number, amount: bigint) =>
      ledgers[0]!.placeHold({ accountId, apiKeyId: limited, amount, idempotencyKey: `p${i}:${accountId}`, purpose: 'chat', expiresAt: expiry() });
    const a = (await place(1, 6_000n)).value;
    await ledgers[0]!.captureHold({ holdId: a.id, amount: 6_000n, kind: 'usage' });
    const pending = (await place(2, 3_000n)).value;
    await h.services.db('api_key_budgets').where({ api_key_id: limited }).update({ period_start: h.services.db.raw(`period_start - interval '1 day'`) });
    expect(await keyBudget(h.services.db, limited)).toEqual({ spent: 0n, held: 3_000n });
    await place(3, 7_000n);
    await expect(place(4, 1n)).rejects.toBeInstanceOf(KeyLimitExceeded);
    await ledgers[0]!.releaseHold({ holdId: pending.id });
    await h.expectBooksBalanced();
  });

  it('still refuses on the account\u2019s balance first when the key has room but the account has not', async () => {
    const { accountId, limited } = await accountWithKeys(2_000n, 10_000n);
    await expect(
      ledgers[0]!.placeHold({ accountId, apiKeyId: limited, amount: 3_000n, idempotencyKey: `poor:${accountId}`, purpose: 'chat', expiresAt: expiry() }),
    ).rejects.toBeInstanceOf(InsufficientFunds);
    expect(await keyBudget(h.services.db, limited)).toEqual({ spent: 0n, held: 0n });
    await h.expectBooksBalanced();
  });
});
