import type { Knex } from 'knex';
import { lockAccountScope } from '../db/advisory-lock.js';
import { newId } from '../ids.js';

export interface NewSupportRequest {
  accountId: string;
  kind: 'custom_amount' | 'disputed_deduction' | 'other';
  message: string;
  amount: bigint | null;
  requestIds: string[];
}

/** The account has `max` open requests: ops have not answered those yet, so more would only flood the queue. */
export class TooManyOpenSupportRequests extends Error {
  constructor(readonly max: number) {
    super(`This account already has ${max} open support requests. Please wait for an answer to those before sending another.`);
    this.name = 'TooManyOpenSupportRequests';
  }
}

/**
 * Records a support request unless the account already has `maxOpen` open ones. Count and insert
 * run under a per-account advisory lock, so a burst of concurrent requests cannot all pass.
 */
export async function recordSupportRequest(db: Knex, input: NewSupportRequest, maxOpen: number): Promise<Record<string, unknown>> {
  return db.transaction(async (trx) => {
    await lockAccountScope(trx, 'support', input.accountId);
    const open = await trx('support_requests').where({ account_id: input.accountId, status: 'open' }).count<{ n: string }[]>({ n: '*' });
    if (Number(open[0]!.n) >= maxOpen) throw new TooManyOpenSupportRequests(maxOpen);
    const [row] = await trx('support_requests')
      .insert({
        id: newId('sup'),
        account_id: input.accountId,
        kind: input.kind,
        message: input.message,
        amount: input.amount?.toString() ?? null,
        request_ids: input.requestIds.length ? input.requestIds : null,
      })
      .returning('*');
    return row;
  });
}
