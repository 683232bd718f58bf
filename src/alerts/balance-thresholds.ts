/**
 * The crossing detector: thresholds on an account's available credit, and the crossings the
 * database records when available falls below one (trigger of migration 0800). Owner of
 * `balance_thresholds` and `balance_crossings`. Low-balance alerts and auto top-up each keep one
 * threshold per account under their own purpose, and each gets its own crossings.
 */
import type { Knex } from 'knex';

export type ThresholdPurpose = 'alert' | 'auto_topup';

export interface Threshold {
  threshold: bigint;
  /** False from a crossing until a credit lifts available to the threshold again. */
  armed: boolean;
}

/** One fall below a threshold, numbered per account and purpose (the number names its workflow). */
export interface Crossing {
  accountId: string;
  purpose: ThresholdPurpose;
  seq: bigint;
  available: bigint;
  threshold: bigint;
  createdAt: Date;
}

/** Sets (or moves) the threshold and arms it: the next fall below it is a crossing. */
export async function setThreshold(db: Knex, accountId: string, purpose: ThresholdPurpose, threshold: bigint): Promise<void> {
  await db.raw(
    `INSERT INTO balance_thresholds (account_id, purpose, threshold, armed) VALUES (?, ?, ?, true)
     ON CONFLICT (account_id, purpose) DO UPDATE SET threshold = EXCLUDED.threshold, armed = true`,
    [accountId, purpose, threshold.toString()],
  );
}

export async function clearThreshold(db: Knex, accountId: string, purpose: ThresholdPurpose): Promise<void> {
  await db('balance_thresholds').where({ account_id: accountId, purpose }).delete();
}

export async function thresholdOf(db: Knex, accountId: string, purpose: ThresholdPurpose): Promise<Threshold | null> {
  const row = await db('balance_thresholds').where({ account_id: accountId, purpose }).first('threshold', 'armed');
  return row ? { threshold: row.threshold as bigint, armed: row.armed as boolean } : null;
}

/**
 * Hands the crossings no one has dispatched yet to `dispatch`, marking each dispatched once it
 * returned. Rows are locked with SKIP LOCKED, so several workers drain the outbox side by side
 * without taking the same crossing; a dispatch that throws leaves its crossing for the next round.
 */
export async function drainCrossings(db: Knex, dispatch: (c: Crossing) => Promise<void>, batch = 20): Promise<number> {
  return db.transaction(async (trx) => {
    const { rows } = await trx.raw(
      `SELECT account_id, purpose, seq, available, threshold, created_at FROM balance_crossings
        WHERE dispatched_at IS NULL ORDER BY created_at LIMIT ? FOR UPDATE SKIP LOCKED`,
      [batch],
    );
    let done = 0;
    for (const r of rows as Array<Record<string, unknown>>) {
      const crossing: Crossing = {
        accountId: r.account_id as string,
        purpose: r.purpose as ThresholdPurpose,
        seq: r.seq as bigint,
        available: r.available as bigint,
        threshold: r.threshold as bigint,
        createdAt: r.created_at as Date,
      };
      await dispatch(crossing);
      await trx('balance_crossings').where({ account_id: crossing.accountId, purpose: crossing.purpose, seq: crossing.seq }).update({ dispatched_at: trx.fn.now() });
      done++;
    }
    return done;
  });
}
