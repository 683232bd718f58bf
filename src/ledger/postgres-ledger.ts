import type { Knex } from 'knex';
import pg from 'pg';
import { newId } from '../ids.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';
import {
  AccountNotFound,
  CaptureExceedsHold,
  HoldNotFound,
  HoldNotPending,
  IdempotencyConflict,
  InsufficientFunds,
} from './errors.js';
import { isKeyLimitRefusal, keyLimitExceeded } from './key-budget.js';
import type { Applied, Balance, EntryKind, Hold, HoldPurpose, HoldStatus, LedgerEntry } from './types.js';

export interface PostEntryInput {
  accountId: string;
  /** Signed: positive credits, negative debits. */
  amount: bigint;
  kind: EntryKind;
  idempotencyKey: string;
  requestId?: string;
  depositId?: string;
  generationId?: string;
  reason?: string;
  actor?: string;
  requestIds?: string[];
}

export interface PlaceHoldInput {
  accountId: string;
  amount: bigint;
  idempotencyKey: string;
  purpose: HoldPurpose;
  expiresAt: Date;
  requestId?: string;
  generationId?: string;
  /** The process lease of the process that will settle the hold (see process-lease.ts). */
  leaseId?: string;
  /**
   * The API key whose spend limit this hold counts against: set it only for a key with a limit
   * (see key-budget.ts); a hold without it pays nothing for key limits.
   */
  apiKeyId?: string;
}

export interface CaptureInput {
  holdId: string;
  amount: bigint;
  kind: Extract<EntryKind, 'usage' | 'generation_capture'>;
  /** The hold's account, when the caller knows it (saves a lookup). */
  accountId?: string;
}

export interface ReleaseInput {
  holdId: string;
  status?: Extract<HoldStatus, 'released' | 'expired'>;
  accountId?: string;
}

const UNIQUE_VIOLATION = '23505';

/**
 * The ledger over PostgreSQL. Every balance change is one SQL statement: a data-modifying CTE
 * that moves the balance under a row lock, with its condition (available ≥ amount) checked by
 * that same UPDATE, and writes the entry or hold whose unique idempotency key makes a retry or a
 * concurrent duplicate fail as a whole. A duplicate is then answered with the first result.
 */
export class PostgresLedger {
  private readonly groupCommit?: GroupCommit;

  /**
   * With `groupCommit`, concurrent operations are committed together (see group-commit.ts);
   * without it, each is its own autocommitted statement. Results and guarantees are the same.
   */
  constructor(
    private readonly db: Knex,
    opts: { groupCommit?: GroupCommitOptions } = {},
  ) {
    if (opts.groupCommit) this.groupCommit = new GroupCommit(db, opts.groupCommit);
  }

  /** Runs one operation on an account, through group commit when enabled. */
  private exec<T>(accountId: string, work: (q: Knex) => Promise<T>): Promise<T> {
    return this.groupCommit ? this.groupCommit.run(accountId, work) : work(this.db);
  }

  /** Holds never change account, so the owner of a hold can be remembered once looked up. */
  private readonly holdOwners = new Map<string, string>();

  private async ownerOf(holdId: string, accountId?: string): Promise<string> {
    if (accountId) return accountId;
    const known = this.holdOwners.get(holdId);
    if (known) return known;
    const row = await this.db('holds').select('account_id').where('id', holdId).first();
    if (!row) throw new HoldNotFound(holdId);
    this.rememberOwner(holdId, row.account_id);
    return row.account_id;
  }

  private rememberOwner(holdId: string, accountId: string) {
    if (this.holdOwners.size > 100_000) this.holdOwners.clear();
    this.holdOwners.set(holdId, accountId);
  }

  /** Credits (amount > 0) or debits (amount < 0) an account; a debit never takes available below zero. */
  async post(input: PostEntryInput): Promise<Applied<LedgerEntry>> {
    if (input.amount === 0n) throw new RangeError('a ledger entry cannot be zero');
    if (input.kind === 'deposit' && !input.depositId) throw new RangeError('a deposit entry needs its deposit id');
    return this.exec(input.accountId, (q) => this.postOn(q, input));
  }

  private async postOn(q: Knex, input: PostEntryInput): Promise<Applied<LedgerEntry>> {
    try {
      const { rows } = await q.raw(
        `WITH acct AS (
           UPDATE accounts SET balance = balance + :amount
           WHERE id = :accountId AND balance + :amount - held >= 0
             -- an earlier duplicate in this transaction (group commit) is a replay, not an abort
             AND NOT EXISTS (SELECT 1 FROM ledger_entries WHERE idempotency_key = :key)
           RETURNING id, balance)
         INSERT INTO ledger_entries
           (account_id, kind, amount, balance_after, idempotency_key, request_id, deposit_id, generation_id, reason, actor, request_ids)
         SELECT acct.id, :kind, :amount, acct.balance, :key, :requestId, :depositId, :generationId, :reason, :actor, :requestIds
         FROM acct
         RETURNING *`,
        {
          amount: input.amount.toString(),
          accountId: input.accountId,
          kind: input.kind,
          key: input.idempotencyKey,
          requestId: input.requestId ?? null,
          depositId: input.depositId ?? null,
          generationId: input.generationId ?? null,
          reason: input.reason ?? null,
          actor: input.actor ?? null,
          requestIds: input.requestIds ?? null,
        },
      );
      if (rows.length) return { value: toEntry(rows[0]), replayed: false };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    const existing = await this.entryByKey(input.idempotencyKey, q);
    if (existing) {
      if (existing.accountId !== input.accountId || existing.amount !== input.amount || existing.kind !== input.kind) {
        throw new IdempotencyConflict(input.idempotencyKey);
      }
      return { value: existing, replayed: true };
    }
    const bal = await this.balance(input.accountId, q);
    throw new InsufficientFunds(input.accountId, bal.available, -input.amount);
  }

  /** Reserves `amount` of the available balance until captured, released or expired. */
  async placeHold(input: PlaceHoldInput): Promise<Applied<Hold>> {
    if (input.amount <= 0n) throw new RangeError('a hold must be positive');
    const result = await this.exec(input.accountId, (q) => (input.apiKeyId ? this.placeKeyHoldOn(q, input) : this.placeHoldOn(q, input)));
    this.rememberOwner(result.value.id, result.value.accountId);
    return result;
  }

  /**
   * A hold counted against a key's limit: the statement is the same, and the holds trigger refuses
   * it as a whole when the key's budget has no room (see key-budget.ts). That refusal is an error
   * in PostgreSQL, so the hold runs in its own savepoint (or transaction): inside a group-commit
   * batch, only this hold is undone and the batch goes on.
   */
  private async placeKeyHoldOn(q: Knex, input: PlaceHoldInput): Promise<Applied<Hold>> {
    try {
      return await q.transaction((sp) => this.placeHoldOn(sp, input));
    } catch (err) {
      if (isKeyLimitRefusal(err)) throw keyLimitExceeded(input.apiKeyId!, err);
      if (!(err instanceof pg.DatabaseError)) throw err;
      // A concurrent duplicate aborted the savepoint before it could read the first hold: read it now.
      const existing = await this.holdByKey(input.idempotencyKey, q);
      if (!existing) throw err;
      if (existing.accountId !== input.accountId || existing.amount !== input.amount) throw new IdempotencyConflict(input.idempotencyKey);
      return { value: existing, replayed: true };
    }
  }

  private async placeHoldOn(q: Knex, input: PlaceHoldInput): Promise<Applied<Hold>> {
    try {
      const { rows } = await q.raw(
        `WITH acct AS (
           UPDATE accounts SET held = held + :amount
           WHERE id = :accountId AND balance - held >= :amount
             AND NOT EXISTS (SELECT 1 FROM holds WHERE idempotency_key = :key)
           RETURNING id)
         INSERT INTO holds (id, account_id, amount, purpose, request_id, generation_id, idempotency_key, expires_at, lease_id, api_key_id)
         SELECT :id, acct.id, :amount, :purpose, :requestId, :generationId, :key, :expiresAt, :leaseId, :apiKeyId
         FROM acct
         RETURNING *`,
        {
          id: newId('hold'),
          amount: input.amount.toString(),
          accountId: input.accountId,
          purpose: input.purpose,
          requestId: input.requestId ?? null,
          generationId: input.generationId ?? null,
          key: input.idempotencyKey,
          expiresAt: input.expiresAt,
          leaseId: input.leaseId ?? null,
          apiKeyId: input.apiKeyId ?? null,
        },
      );
      if (rows.length) return { value: toHold(rows[0]), replayed: false };
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
    }
    const existing = await this.holdByKey(input.idempotencyKey, q);
    if (existing) {
      if (existing.accountId !== input.accountId || existing.amount !== input.amount) {
        throw new IdempotencyConflict(input.idempotencyKey);
      }
      return { value: existing, replayed: true };
    }
    const bal = await this.balance(input.accountId, q);
    throw new InsufficientFunds(input.accountId, bal.available, input.amount);
  }

  /**
   * Charges `amount` (≤ the hold) and frees the rest of the hold, in one statement. Capturing
   * zero is a release: nothing was delivered. A second capture of the same amount is a replay.
   */
  async captureHold(input: CaptureInput): Promise<Applied<{ hold: Hold; entry: LedgerEntry | null }>> {
    if (input.amount < 0n) throw new RangeError('capture amount cannot be negative');
    const owner = await this.ownerOf(input.holdId, input.accountId);
    return this.exec(owner, (q) => this.captureOn(q, input));
  }

  private async captureOn(q: Knex, input: CaptureInput): Promise<Applied<{ hold: Hold; entry: LedgerEntry | null }>> {
    if (input.amount === 0n) {
      const released = await this.releaseOn(q, { holdId: input.holdId, status: 'released' });
      if (released.value.status !== 'released') throw new HoldNotPending(input.holdId, released.value.status);
      return { value: { hold: released.value, entry: null }, replayed: released.replayed };
    }
    const key = `${input.holdId}:capture`;
    const { rows } = await q.raw(
      `WITH h AS (
         UPDATE holds SET status = 'captured', captured_amount = :amount, settled_at = now()
         WHERE id = :holdId AND status = 'pending' AND amount >= :amount
         RETURNING *),
       acct AS (
         UPDATE accounts a SET held = a.held - h.amount, balance = a.balance - :amount
         FROM h WHERE a.id = h.account_id
         RETURNING a.id, a.balance),
       entry AS (
         INSERT INTO ledger_entries (account_id, kind, amount, balance_after, idempotency_key, hold_id, request_id, generation_id)
         SELECT acct.id, :kind, -(:amount::bigint), acct.balance, :key, h.id, h.request_id, h.generation_id
         FROM acct, h
         RETURNING *)
       SELECT h.*, entry.id AS entry_id, entry.balance_after AS entry_balance_after, entry.created_at AS entry_created_at
       FROM h, entry`,
      { amount: input.amount.toString(), holdId: input.holdId, kind: input.kind, key },
    );
    if (rows.length) {
      const r = rows[0];
      const hold = toHold(r);
      const entry: LedgerEntry = {
        id: r.entry_id,
        accountId: hold.accountId,
        kind: input.kind,
        amount: -input.amount,
        balanceAfter: r.entry_balance_after,
        idempotencyKey: key,
        requestId: hold.requestId,
        depositId: null,
        generationId: hold.generationId,
        holdId: hold.id,
        reason: null,
        actor: null,
        requestIds: null,
        createdAt: r.entry_created_at,
      };
      return { value: { hold, entry }, replayed: false };
    }
    const hold = await this.hold(input.holdId, q);
    if (hold.status === 'captured' && hold.capturedAmount === input.amount) {
      return { value: { hold, entry: await this.entryByKey(key, q) }, replayed: true };
    }
    if (hold.status === 'pending' && hold.amount < input.amount) {
      throw new CaptureExceedsHold(hold.id, hold.amount, input.amount);
    }
    throw new HoldNotPending(hold.id, hold.status);
  }

  /**
   * Frees a pending hold. Settling is final: releasing a hold that was already captured (or
   * released) changes nothing and reports the hold as it is, so racing cleanups are harmless.
   */
  async releaseHold(input: ReleaseInput): Promise<Applied<Hold>> {
    const owner = await this.ownerOf(input.holdId, input.accountId);
    return this.exec(owner, (q) => this.releaseOn(q, input));
  }

  private async releaseOn(q: Knex, input: ReleaseInput): Promise<Applied<Hold>> {
    const { rows } = await q.raw(
      `WITH h AS (
         UPDATE holds SET status = :status, settled_at = now()
         WHERE id = :holdId AND status = 'pending'
         RETURNING *),
       acct AS (
         UPDATE accounts a SET held = a.held - h.amount FROM h WHERE a.id = h.account_id RETURNING a.id)
       SELECT h.* FROM h, acct`,
      { holdId: input.holdId, status: input.status ?? 'released' },
    );
    if (rows.length) return { value: toHold(rows[0]), replayed: false };
    return { value: await this.hold(input.holdId, q), replayed: true };
  }

  /**
   * Releases the hold placed under `idempotencyKey`, if one was ever placed (null when none was): for
   * code that knows only the business key, e.g. a generation that failed before it learnt its hold's id.
   * Runs on `q`, so a caller can settle its own rows in the same transaction.
   */
  async releaseHoldByKey(idempotencyKey: string, q: Knex = this.db): Promise<Applied<Hold> | null> {
    const hold = await this.holdByKey(idempotencyKey, q);
    return hold ? this.releaseOn(q, { holdId: hold.id }) : null;
  }

  /** Generations that still have a pending hold placed before `olderThan`, oldest first. */
  async pendingGenerationHolds(olderThan: Date, limit: number): Promise<string[]> {
    const rows: { generation_id: string }[] = await this.db('holds')
      .select('generation_id')
      .where({ status: 'pending', purpose: 'generation' })
      .whereNotNull('generation_id')
      .andWhere('created_at', '<', olderThan)
      .orderBy('created_at')
      .limit(limit);
    return rows.map((r) => r.generation_id);
  }

  /** Expires pending holds whose deadline has passed, one statement each; returns how many. */
  async expireHolds(now: Date = new Date(), limit = 1000): Promise<number> {
    const due: { id: string; account_id: string }[] = await this.db('holds')
      .select('id', 'account_id')
      .where('status', 'pending')
      .andWhere('expires_at', '<', now)
      .orderBy('expires_at')
      .limit(limit);
    let expired = 0;
    const results = await Promise.all(due.map((h) => this.releaseHold({ holdId: h.id, accountId: h.account_id, status: 'expired' })));
    for (const r of results) if (!r.replayed) expired++;
    return expired;
  }

  async balance(accountId: string, q: Knex = this.db): Promise<Balance> {
    const row: { id: string; balance: bigint; held: bigint } | undefined = await q('accounts')
      .select('id', 'balance', 'held')
      .where('id', accountId)
      .first();
    if (!row) throw new AccountNotFound(accountId);
    return { accountId: row.id, balance: row.balance, held: row.held, available: row.balance - row.held };
  }

  async hold(holdId: string, q: Knex = this.db): Promise<Hold> {
    const row = await q('holds').where('id', holdId).first();
    if (!row) throw new HoldNotFound(holdId);
    return toHold(row);
  }

  async entryByKey(key: string, q: Knex = this.db): Promise<LedgerEntry | null> {
    const row = await q('ledger_entries').where('idempotency_key', key).first();
    return row ? toEntry(row) : null;
  }

  private async holdByKey(key: string, q: Knex): Promise<Hold | null> {
    const row = await q('holds').where('idempotency_key', key).first();
    return row ? toHold(row) : null;
  }
}

function isUniqueViolation(err: unknown): boolean {
  return (err as { code?: string })?.code === UNIQUE_VIOLATION;
}

const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(v as string | number));
const bigOrNull = (v: unknown): bigint | null => (v === null || v === undefined ? null : big(v));
const date = (v: unknown): Date => (v instanceof Date ? v : new Date(v as string));

export function toEntry(r: Record<string, any>): LedgerEntry {
  return {
    id: big(r.id),
    accountId: r.account_id,
    kind: r.kind,
    amount: big(r.amount),
    balanceAfter: big(r.balance_after),
    idempotencyKey: r.idempotency_key,
    requestId: r.request_id,
    depositId: r.deposit_id,
    generationId: r.generation_id,
    holdId: r.hold_id,
    reason: r.reason,
    actor: r.actor,
    requestIds: r.request_ids,
    createdAt: date(r.created_at),
  };
}

export function toHold(r: Record<string, any>): Hold {
  return {
    id: r.id,
    accountId: r.account_id,
    amount: big(r.amount),
    status: r.status,
    capturedAmount: bigOrNull(r.captured_amount),
    purpose: r.purpose,
    requestId: r.request_id,
    generationId: r.generation_id,
    idempotencyKey: r.idempotency_key,
    expiresAt: date(r.expires_at),
    createdAt: date(r.created_at),
    settledAt: r.settled_at === null ? null : date(r.settled_at),
  };
}
