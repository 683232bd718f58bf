/**
 * Disputes and refunds in PostgreSQL (`payment_reversals`, and the `reversal` column of deposits).
 * The row of a reversal is written in the same transaction as the balance change it records (the
 * OwedLedger's `also`), so the audit can hold them to each other.
 */
import type { Knex } from 'knex';
import type { PaymentProvider } from './payment-gateway.js';

export type ReversalStatus = 'open' | 'won' | 'lost' | 'refunded';
export type DepositReversal = 'disputed' | 'dispute_won' | 'dispute_lost' | 'refunded';

export interface Reversal {
  id: string;
  kind: 'dispute' | 'refund';
  provider: PaymentProvider;
  depositId: string;
  accountId: string;
  status: ReversalStatus;
  /** Disputed amount, or cumulative refunded amount. */
  amount: bigint;
  debited: bigint;
  owed: bigint;
  reason: string | null;
  createdAt: Date;
  updatedAt: Date;
  closedAt: Date | null;
}

export interface NewReversal {
  id: string;
  kind: 'dispute' | 'refund';
  provider: PaymentProvider;
  depositId: string;
  accountId: string;
  amount: bigint;
  reason: string;
}

export class ReversalRepository {
  constructor(private readonly db: Knex) {}

  async get(id: string, q: Knex = this.db): Promise<Reversal | null> {
    const row = await q('payment_reversals').where({ id }).first();
    return row ? toReversal(row) : null;
  }

  async forAccount(accountId: string, q: Knex = this.db): Promise<Reversal[]> {
    return (await q('payment_reversals').where({ account_id: accountId }).orderBy('created_at', 'desc')).map(toReversal);
  }

  async forDeposit(depositId: string): Promise<Reversal[]> {
    return (await this.db('payment_reversals').where({ deposit_id: depositId }).orderBy('created_at')).map(toReversal);
  }

  /** Newest first, optionally only disputes in one status (the ops queue of open disputes). */
  async list(opts: { kind?: 'dispute' | 'refund'; status?: ReversalStatus; limit: number }): Promise<Reversal[]> {
    const q = this.db('payment_reversals').orderBy('created_at', 'desc').limit(opts.limit);
    if (opts.kind) q.where({ kind: opts.kind });
    if (opts.status) q.where({ status: opts.status });
    return (await q).map(toReversal);
  }

  /** Other disputes of the account still open: the suspension stays while any is. */
  async openDisputesOf(trx: Knex, accountId: string, except: string): Promise<number> {
    const [row] = await trx('payment_reversals').where({ account_id: accountId, kind: 'dispute', status: 'open' }).whereNot({ id: except }).count<{ n: string }[]>({ n: '*' });
    return Number(row!.n);
  }

  /** Records a new dispute or refund with what its first balance change did. */
  async insert(trx: Knex, r: NewReversal, applied: { debited: bigint; owed: bigint }): Promise<void> {
    await trx('payment_reversals').insert({
      id: r.id,
      kind: r.kind,
      provider: r.provider,
      deposit_id: r.depositId,
      account_id: r.accountId,
      status: r.kind === 'dispute' ? 'open' : 'refunded',
      amount: r.amount.toString(),
      debited: applied.debited.toString(),
      owed: applied.owed.toString(),
      reason: r.reason,
    });
    await this.markDeposit(trx, r.depositId, r.kind === 'dispute' ? 'disputed' : 'refunded');
  }

  /** Adds a later balance change (a collection, a re-credit, a further refund) to the reversal's totals. */
  async addApplied(trx: Knex, id: string, applied: { debited: bigint; owed: bigint }, change: { status?: ReversalStatus; amount?: bigint } = {}): Promise<void> {
    await trx('payment_reversals')
      .where({ id })
      .update({
        debited: trx.raw('debited + ?::bigint', [applied.debited.toString()]),
        owed: trx.raw('owed + ?::bigint', [applied.owed.toString()]),
        ...(change.status ? { status: change.status } : {}),
        ...(change.status && change.status !== 'open' && change.status !== 'refunded' ? { closed_at: trx.fn.now() } : {}),
        ...(change.amount !== undefined ? { amount: change.amount.toString() } : {}),
        updated_at: trx.fn.now(),
      });
  }

  async markDeposit(trx: Knex, depositId: string, reversal: DepositReversal): Promise<void> {
    await trx('deposits').where({ id: depositId }).update({ reversal, updated_at: trx.fn.now() });
  }
}

const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(v as string));

function toReversal(r: Record<string, any>): Reversal {
  return {
    id: r.id,
    kind: r.kind,
    provider: r.provider,
    depositId: r.deposit_id,
    accountId: r.account_id,
    status: r.status,
    amount: big(r.amount),
    debited: big(r.debited),
    owed: big(r.owed),
    reason: r.reason,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    closedAt: r.closed_at,
  };
}
