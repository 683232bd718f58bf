import type { Db } from '../db/connection.js';
import { periodStart } from './key-settings.js';

export interface KeySpend {
  total: bigint;
  daily: bigint;
  weekly: bigint;
  monthly: bigint;
}

/**
 * What a key has spent (nano-dollars), all time and in the current UTC day, week and month: the
 * cost in the request log, which has one row with the key id and the exact amount the ledger took
 * for every chat, embedding and generation (a generation's own row must not be added again).
 */
export async function keySpend(db: Db, keyId: string, now = new Date()): Promise<KeySpend> {
  const { rows } = await db.raw(
    `SELECT coalesce(sum(cost), 0) AS total,
            coalesce(sum(cost) FILTER (WHERE at >= :day), 0) AS daily,
            coalesce(sum(cost) FILTER (WHERE at >= :week), 0) AS weekly,
            coalesce(sum(cost) FILTER (WHERE at >= :month), 0) AS monthly
       FROM (SELECT cost, created_at AS at FROM requests WHERE api_key_id = :keyId AND cost > 0) AS spent`,
    { keyId, day: periodStart('daily', now), week: periodStart('weekly', now), month: periodStart('monthly', now) },
  );
  const r = rows[0];
  return { total: BigInt(r.total), daily: BigInt(r.daily), weekly: BigInt(r.weekly), monthly: BigInt(r.monthly) };
}
