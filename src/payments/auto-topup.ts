/**
 * Auto top-up settings: charge the saved card one tier when available credit falls below a
 * threshold. Owner of `auto_topups`; the threshold itself is the 'auto_topup' one of the crossing
 * detector (src/alerts/balance-thresholds.ts). Only with a saved card (saved-cards.ts).
 */
import type { Knex } from 'knex';
import { clearThreshold, setThreshold, thresholdOf } from '../alerts/balance-thresholds.js';
import type { Tier } from './tiers.js';

export interface AutoTopup {
  tier: Tier;
  /** Null while active; why it stopped otherwise (a declined card). */
  disabledReason: string | null;
  disabledAt: Date | null;
  /** The threshold while active (null once disabled). */
  threshold: bigint | null;
  armed: boolean;
}

/** Auto top-up needs a card saved with save_card: true on a card deposit. */
export class NoSavedCard extends Error {
  constructor() {
    super('Auto top-up charges a saved card: make a card deposit with "save_card": true first (see GET /v1/billing/payment-method).');
    this.name = 'NoSavedCard';
  }
}

/** Sets auto top-up (and enables it again after a decline); the threshold is armed. */
export async function putAutoTopup(db: Knex, accountId: string, x: { threshold: bigint; tier: Tier }): Promise<AutoTopup> {
  return db.transaction(async (trx) => {
    // Locked so a concurrent DELETE of the card cannot leave auto top-up without one.
    const card = await trx('saved_payment_methods').where({ account_id: accountId }).forUpdate().first('account_id');
    if (!card) throw new NoSavedCard();
    await trx('auto_topups')
      .insert({ account_id: accountId, tier: x.tier })
      .onConflict('account_id')
      .merge({ tier: x.tier, disabled_reason: null, disabled_at: null, updated_at: trx.fn.now() });
    await setThreshold(trx, accountId, 'auto_topup', x.threshold);
    return { tier: x.tier, disabledReason: null, disabledAt: null, threshold: x.threshold, armed: true };
  });
}

export async function getAutoTopup(db: Knex, accountId: string): Promise<AutoTopup | null> {
  const row = await db('auto_topups').where({ account_id: accountId }).first();
  if (!row) return null;
  const t = await thresholdOf(db, accountId, 'auto_topup');
  return { tier: row.tier, disabledReason: row.disabled_reason, disabledAt: row.disabled_at, threshold: t?.threshold ?? null, armed: t?.armed ?? false };
}

export async function deleteAutoTopup(db: Knex, accountId: string): Promise<boolean> {
  return db.transaction(async (trx) => {
    const n = await trx('auto_topups').where({ account_id: accountId }).delete();
    await clearThreshold(trx, accountId, 'auto_topup');
    return n > 0;
  });
}

/** Stops auto top-up after a failed charge: no threshold, so no further crossing tries the card. */
export async function disableAutoTopup(db: Knex, accountId: string, reason: string): Promise<void> {
  await db.transaction(async (trx) => {
    await trx('auto_topups').where({ account_id: accountId }).whereNull('disabled_at').update({ disabled_reason: reason, disabled_at: trx.fn.now(), updated_at: trx.fn.now() });
    await clearThreshold(trx, accountId, 'auto_topup');
  });
}
