import { RequestLog } from '../chat/request-log.js';
import type { Db } from '../db/connection.js';
import { periodStart } from './key-settings.js';

export interface KeySpend {
  total: bigint;
  daily: bigint;
  weekly: bigint;
  monthly: bigint;
}

/** The starts of the current UTC day, week and month. */
export interface SpendPeriods {
  day: Date;
  week: Date;
  month: Date;
}

/**
 * What a key has spent (nano-dollars), all time and in the current UTC day, week and month: the
 * cost in the request log, which has one row with the key id and the exact amount the ledger took
 * for every chat, embedding and generation (a generation's own row must not be added again).
 */
export async function keySpend(db: Db, keyId: string, now = new Date()): Promise<KeySpend> {
  const since: SpendPeriods = { day: periodStart('daily', now), week: periodStart('weekly', now), month: periodStart('monthly', now) };
  return new RequestLog(db).spendOfKey(keyId, since);
}
