/**
 * Ops' account view is one snapshot: a change that commits while it is being read shows either in
 * full or not at all. The read is paused deterministically after its first statement by a lock on
 * the table it reads next (payment_reversals), while a balance change and a suspension commit.
 */
import { describe, expect, it } from 'vitest';
import { suspendAccount } from '../../src/accounts/suspension.js';
import { reviewAccount } from '../../src/payments/account-standing.js';
import type { Harness } from '../support/harness.js';
import { startHarness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';

let h: Harness;
useHarness(() => startHarness({ worker: false }), (started) => (h = started));

const waitersOn = async (table: string) =>
  Number(
    (await h.services.db.raw(`SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation
        WHERE l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND c.relname = ? AND NOT l.granted`, [table])).rows[0].n,
  );

describe('reviewAccount', () => {
  it('reads the account, its keys, owed, suspension and disputes in one snapshot', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '10.00' });
    const lock = await h.services.db.transaction();
    try {
      await lock.raw('LOCK TABLE payment_reversals IN ACCESS EXCLUSIVE MODE');
      const review = reviewAccount(h.services, accountId);
      // The review has read the account row (its snapshot is taken) and now waits for payment_reversals.
      while ((await waitersOn('payment_reversals')) === 0) await new Promise((r) => setTimeout(r, 20));
      await h.services.ledger.post({ accountId, amount: 5_000_000_000n, kind: 'adjustment', idempotencyKey: `snapshot-test:${accountId}`, reason: 'committed mid-read', actor: 'admin' });
      await suspendAccount(h.services.db, accountId, 'committed mid-read');
      await lock.rollback();
      const seen = (await review)!;
      expect(seen.account.balance).toBe(10_000_000_000n);
      expect(seen.standing.suspension).toBeNull();
      expect(seen.keys).toHaveLength(1);
    } finally {
      if (!lock.isCompleted()) await lock.rollback();
    }
    const after = (await reviewAccount(h.services, accountId))!;
    expect(after.account.balance).toBe(15_000_000_000n);
    expect(after.standing.suspension).toMatchObject({ reason: 'committed mid-read' });
  });

  it('is null for an account that does not exist', async () => {
    expect(await reviewAccount(h.services, 'acct_missing')).toBeNull();
  });
});
