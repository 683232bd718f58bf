/**
 * Money owed: what an account owes beyond its credit, kept without a negative balance. A debit
 * that the available credit (balance − held) cannot cover takes what is available and records the
 * rest in `accounts.owed`, each change of which is an `owed_entries` row; a later deposit pays
 * what is owed before anything else. Invariants in the database: owed ≥ 0, available ≥ 0, each
 * idempotency key applied once per table; the audit (reconcile.ts) checks owed = Σ owed entries.
 *
 * Each operation is one transaction that first locks the account row: every balance change of
 * the account (the chat path's statements included) waits behind it, so the split between "taken
 * from credit" and "owed" is computed from the row as it is, and a replay (same key, looked up
 * after the lock, so a concurrent duplicate that committed first is seen) answers the first result.
 */
import type { Knex } from 'knex';
import { AccountNotFound, IdempotencyConflict } from './errors.js';

export interface OwedSplit {
  /** Taken from the account's credit (a ledger entry of −debited). */
  debited: bigint;
  /** Recorded as owed (an owed entry of +owed). */
  owed: bigint;
  replayed: boolean;
}

export interface DebitUpToInput {
  accountId: string;
  amount: bigint;
  /** The business key: the provider's dispute id, a refund step. */
  idempotencyKey: string;
  reason: string;
  depositId?: string;
  actor?: string;
}

interface LockedAccount {
  balance: bigint;
  held: bigint;
  owed: bigint;
}

async function lockAccount(trx: Knex.Transaction, accountId: string): Promise<LockedAccount> {
  const row = await trx('accounts').select('balance', 'held', 'owed').where('id', accountId).forUpdate().first();
  if (!row) throw new AccountNotFound(accountId);
  return { balance: BigInt(row.balance), held: BigInt(row.held), owed: BigInt(row.owed) };
}

/** What was applied under `key` earlier, from both tables; null when nothing was. */
async function appliedUnder(trx: Knex.Transaction, accountId: string, key: string): Promise<{ money: bigint; owed: bigint } | null> {
  const [money, owed] = await Promise.all([
    trx('ledger_entries').select('account_id', 'amount').where('idempotency_key', key).first(),
    trx('owed_entries').select('account_id', 'amount').where('idempotency_key', key).first(),
  ]);
  if (!money && !owed) return null;
  if ((money && money.account_id !== accountId) || (owed && owed.account_id !== accountId)) throw new IdempotencyConflict(key);
  return { money: money ? BigInt(money.amount) : 0n, owed: owed ? BigInt(owed.amount) : 0n };
}

async function insertEntry(
  trx: Knex.Transaction,
  e: { accountId: string; amount: bigint; balanceAfter: bigint; key: string; kind: 'deposit' | 'adjustment'; reason: string; depositId?: string; actor?: string },
): Promise<void> {
  await trx('ledger_entries').insert({
    account_id: e.accountId,
    kind: e.kind,
    amount: e.amount.toString(),
    balance_after: e.balanceAfter.toString(),
    idempotency_key: e.key,
    deposit_id: e.depositId ?? null,
    reason: e.reason,
    actor: e.actor ?? null,
  });
}

async function insertOwed(
  trx: Knex.Transaction,
  e: { accountId: string; amount: bigint; owedAfter: bigint; key: string; reason: string; depositId?: string },
): Promise<void> {
  await trx('owed_entries').insert({
    account_id: e.accountId,
    amount: e.amount.toString(),
    owed_after: e.owedAfter.toString(),
    idempotency_key: e.key,
    reason: e.reason,
    deposit_id: e.depositId ?? null,
  });
}

/** Work that must commit with the balance change, or not at all (e.g. the reversal's own row). */
export type AlsoInTransaction = (trx: Knex.Transaction, applied: { debited: bigint; owed: bigint }) => Promise<void>;

const min = (a: bigint, b: bigint): bigint => (a < b ? a : b);

/** How much of `amount` the available credit covers; the rest is owed. Pure. */
export function splitDebit(amount: bigint, available: bigint): { debited: bigint; owed: bigint } {
  const debited = available > 0n ? min(amount, available) : 0n;
  return { debited, owed: amount - debited };
}

export class OwedLedger {
  constructor(private readonly db: Knex) {}

  /**
   * Debits `amount`, taking what the available credit covers and recording the rest as owed.
   * Pending holds are left alone: the requests they cover finish and are charged as usual, and
   * what they release later is collected by collect() (the dispute workflow calls it).
   */
  async debitUpTo(input: DebitUpToInput, also?: AlsoInTransaction): Promise<OwedSplit> {
    if (input.amount <= 0n) throw new RangeError('a debit must be positive');
    const sameDebit = (earlier: OwedSplit) => earlier.debited + earlier.owed === input.amount;
    return this.keyed(input, sameDebit, async (trx, acct) => {
      const split = splitDebit(input.amount, acct.balance - acct.held);
      await this.apply(trx, input.accountId, acct, { money: -split.debited, owed: split.owed }, input);
      await also?.(trx, split);
      return { ...split, replayed: false };
    });
  }

  /**
   * Collects what is owed from credit that has become available since (released holds): takes
   * min(upTo, owed, available). Keyed, so a retried step collects once; collecting nothing is a no-op.
   */
  async collect(
    input: { accountId: string; idempotencyKey: string; reason: string; depositId?: string; upTo: bigint },
    also?: AlsoInTransaction,
  ): Promise<OwedSplit> {
    return this.keyed(input, null, async (trx, acct) => {
      const paid = min(input.upTo, min(acct.owed, acct.balance - acct.held));
      if (paid <= 0n) return { debited: 0n, owed: 0n, replayed: false };
      await this.apply(trx, input.accountId, acct, { money: -paid, owed: -paid }, input);
      await also?.(trx, { debited: paid, owed: -paid });
      return { debited: paid, owed: -paid, replayed: false };
    });
  }

  /**
   * Credits a deposit and, in the same transaction, pays what the account owes from it first:
   * a deposit entry of +amount, then (when something is owed) an adjustment of −paid and an owed
   * entry of −paid. `owedPaid` is the part of the deposit that went to the debt.
   */
  async creditDeposit(input: {
    accountId: string;
    amount: bigint;
    depositId: string;
    reason: string;
    actor: string;
  }): Promise<{ credited: bigint; owedPaid: bigint; replayed: boolean }> {
    const key = `deposit:${input.depositId}`;
    const payKey = `${key}:owed`;
    return this.db.transaction(async (trx) => {
      const acct = await lockAccount(trx, input.accountId);
      const earlier = await trx('ledger_entries').select('account_id', 'amount').where('idempotency_key', key).first();
      if (earlier) {
        if (earlier.account_id !== input.accountId || BigInt(earlier.amount) !== input.amount) throw new IdempotencyConflict(key);
        const paid = await appliedUnder(trx, input.accountId, payKey);
        return { credited: input.amount, owedPaid: paid ? -paid.money : 0n, replayed: true };
      }
      const balance = acct.balance + input.amount;
      await insertEntry(trx, { accountId: input.accountId, amount: input.amount, balanceAfter: balance, key, kind: 'deposit', reason: input.reason, depositId: input.depositId, actor: input.actor });
      await trx('accounts').where('id', input.accountId).update({ balance: balance.toString() });
      const paid = min(acct.owed, balance - acct.held);
      if (paid > 0n) {
        await this.apply(trx, input.accountId, { ...acct, balance }, { money: -paid, owed: -paid }, {
          idempotencyKey: payKey,
          reason: `owed paid from deposit ${input.depositId}`,
          depositId: input.depositId,
          actor: input.actor,
        });
      }
      return { credited: input.amount, owedPaid: paid, replayed: false };
    });
  }

  /**
   * Reverses a debitUpTo (a dispute won): what is still owed of it (up to `owed`) is cleared, and
   * everything that was taken from the account for it (the debit, plus the part of the owed amount
   * that later deposits paid) is credited back.
   */
  async reverse(
    input: { accountId: string; debited: bigint; owed: bigint; idempotencyKey: string; reason: string; depositId?: string; actor?: string },
    also?: AlsoInTransaction,
  ): Promise<OwedSplit> {
    return this.keyed(input, null, async (trx, acct) => {
      const cleared = min(input.owed, acct.owed);
      const credit = input.debited + (input.owed - cleared);
      if (credit !== 0n || cleared !== 0n) await this.apply(trx, input.accountId, acct, { money: credit, owed: -cleared }, input);
      await also?.(trx, { debited: -credit, owed: -cleared });
      return { debited: -credit, owed: -cleared, replayed: false };
    });
  }

  /** When the account's pending holds will all have been settled at the latest (their expiry); null if none. */
  async pendingHoldsSettleBy(accountId: string): Promise<Date | null> {
    const row = await this.db('holds').where({ account_id: accountId, status: 'pending' }).max({ at: 'expires_at' }).first();
    return row?.at ? new Date(row.at) : null;
  }

  /** How much of a deposit's credit paid money owed (0 when nothing was owed). */
  async paidByDeposit(depositId: string): Promise<bigint> {
    const row = await this.db('owed_entries').select('amount').where('idempotency_key', `deposit:${depositId}:owed`).first();
    return row ? -BigInt(row.amount) : 0n;
  }

  async owed(accountId: string, q: Knex = this.db): Promise<bigint> {
    const row = await q('accounts').select('owed').where('id', accountId).first();
    if (!row) throw new AccountNotFound(accountId);
    return BigInt(row.owed);
  }

  /**
   * One keyed change, in one transaction on the locked account: a key used before answers what it
   * applied then (refused as a conflict when `same` says the repeat asks for something else).
   */
  private keyed(
    input: { accountId: string; idempotencyKey: string },
    same: ((earlier: OwedSplit) => boolean) | null,
    change: (trx: Knex.Transaction, acct: LockedAccount) => Promise<OwedSplit>,
  ): Promise<OwedSplit> {
    return this.db.transaction(async (trx) => {
      const acct = await lockAccount(trx, input.accountId);
      const applied = await appliedUnder(trx, input.accountId, input.idempotencyKey);
      if (!applied) return change(trx, acct);
      const earlier = { debited: -applied.money, owed: applied.owed, replayed: true };
      if (same && !same(earlier)) throw new IdempotencyConflict(input.idempotencyKey);
      return earlier;
    });
  }

  /** Writes one change of balance and/or owed (either may be zero) with its entries. */
  private async apply(
    trx: Knex.Transaction,
    accountId: string,
    acct: LockedAccount,
    change: { money: bigint; owed: bigint },
    meta: { idempotencyKey: string; reason: string; depositId?: string; actor?: string },
  ): Promise<void> {
    const balance = acct.balance + change.money;
    const owed = acct.owed + change.owed;
    if (change.money !== 0n) {
      await insertEntry(trx, { accountId, amount: change.money, balanceAfter: balance, key: meta.idempotencyKey, kind: 'adjustment', reason: meta.reason, depositId: meta.depositId, actor: meta.actor });
    }
    if (change.owed !== 0n) {
      await insertOwed(trx, { accountId, amount: change.owed, owedAfter: owed, key: meta.idempotencyKey, reason: meta.reason, depositId: meta.depositId });
    }
    await trx('accounts').where('id', accountId).update({ balance: balance.toString(), owed: owed.toString() });
  }
}
