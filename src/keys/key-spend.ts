import { RequestLog } from '../chat/request-log.js';
import type { Db } from '../db/connection.js';
import { GenerationRepository } from '../generations/generation-repository.js';
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
 * cost recorded on the chat requests and the delivered generations made with it, each read from
 * the module that owns its table. Both carry the key id and the exact amount the ledger took.
 */
export async function keySpend(db: Db, keyId: string, now = new Date()): Promise<KeySpend> {
  const since: SpendPeriods = { day: periodStart('daily', now), week: periodStart('weekly', now), month: periodStart('monthly', now) };
  const [requests, generations] = await Promise.all([new RequestLog(db).spendOfKey(keyId, since), new GenerationRepository(db).spendOfKey(keyId, since)]);
  return {
    total: requests.total + generations.total,
    daily: requests.daily + generations.daily,
    weekly: requests.weekly + generations.weekly,
    monthly: requests.monthly + generations.monthly,
  };
}

/** What is left of the key's limit in its current period; null when the key has no limit. */
export function limitRemaining(key: { spendLimit: bigint | null; limitReset: 'daily' | 'weekly' | 'monthly' | null }, spend: KeySpend): bigint | null {
  if (key.spendLimit === null) return null;
  const spent = key.limitReset === null ? spend.total : spend[key.limitReset];
  return key.spendLimit > spent ? key.spendLimit - spent : 0n;
}
