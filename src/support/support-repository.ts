import type { Knex } from 'knex';
import { lockAccountScope } from '../db/advisory-lock.js';
import { newId } from '../ids.js';
import { moveSupportRequest, type SupportActor, type SupportStatus } from './support-status.js';

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

/** A request as stored; `accountId` restricts the lookup to that account's requests (the customer's view). */
export async function getSupportRequest(db: Knex, id: string, accountId?: string): Promise<Record<string, any> | null> {
  const q = db('support_requests').where({ id });
  if (accountId) q.andWhere({ account_id: accountId });
  return (await q.first()) ?? null;
}

export async function listSupportRequests(db: Knex, opts: { accountId?: string; status?: SupportStatus; limit: number }): Promise<Record<string, any>[]> {
  const q = db('support_requests').orderBy([{ column: 'created_at', order: 'desc' }, { column: 'id', order: 'desc' }]).limit(opts.limit);
  if (opts.accountId) q.where({ account_id: opts.accountId });
  if (opts.status) q.where({ status: opts.status });
  return q;
}

/** A refused status change (moveSupportRequest said no). Answered 409. */
export class SupportMoveRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SupportMoveRefused';
  }
}

export interface SupportChange {
  actor: SupportActor;
  status?: SupportStatus;
  /** Ops' reply text; setting one without a status answers the request. */
  reply?: string;
  /** The customer may touch only their own requests. */
  accountId?: string;
}

/**
 * Moves a request (moveSupportRequest decides) and stores ops' reply, under the per-account lock
 * that also guards the cap of open requests: a customer's reopen counts against it like a new one.
 * Null when the request does not exist (for this account).
 */
export async function changeSupportRequest(db: Knex, id: string, change: SupportChange, maxOpen: number): Promise<Record<string, any> | null> {
  return db.transaction(async (trx) => {
    const found = await getSupportRequest(trx, id, change.accountId);
    if (!found) return null;
    await lockAccountScope(trx, 'support', found.account_id);
    const row = (await trx('support_requests').where({ id }).forUpdate().first())!;
    const to: SupportStatus = change.status ?? (change.reply !== undefined ? 'answered' : row.status);
    const move = moveSupportRequest(row.status, change.actor, to, (change.reply ?? row.reply) != null);
    if (!move.ok) throw new SupportMoveRefused(move.reason);
    if (move.status === 'open' && row.status !== 'open') {
      const open = await trx('support_requests').where({ account_id: row.account_id, status: 'open' }).count<{ n: string }[]>({ n: '*' });
      if (Number(open[0]!.n) >= maxOpen) throw new TooManyOpenSupportRequests(maxOpen);
    }
    const [updated] = await trx('support_requests')
      .where({ id })
      .update({
        status: move.status,
        ...(change.reply !== undefined ? { reply: change.reply } : {}),
        ...(move.status === 'answered' && (row.status !== 'answered' || change.reply !== undefined) ? { answered_at: trx.fn.now() } : {}),
        closed_at: move.status === 'closed' ? (row.closed_at ?? trx.fn.now()) : null,
        updated_at: trx.fn.now(),
      })
      .returning('*');
    return updated;
  });
}

/** Links the deposit ops opened for a custom amount to its request. */
export async function linkSupportDeposit(db: Knex, id: string, depositId: string): Promise<void> {
  await db('support_requests').where({ id }).whereNull('deposit_id').update({ deposit_id: depositId, updated_at: db.fn.now() });
}
