import type { Knex } from 'knex';
import pg from 'pg';
import type { Logger } from 'pino';
import { requestRow, requestRowsOfBatch, type RequestRecord } from '../chat/request-log.js';
import { newId } from '../ids.js';
import { chargeRounds, chargeStatement, LAPSED, OPEN, RELEASE, RESERVE, type ChargeInput, type ChargeRow, type OpenAllowance } from './allowances.js';
import { GroupCommit, type GroupCommitOptions } from './group-commit.js';
import {
  AccountNotFound,
  CaptureExceedsHold,
  ChargeUncovered,
  HoldNotFound,
  HoldNotPending,
  IdempotencyConflict,
  InsufficientFunds,
  LeaseLapsed,
} from './errors.js';
import { keyLimitExceeded } from './key-budget.js';
import { loneStatementOf } from './lone-statements.js';
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
  /**
   * The request this capture charges for: its log row is written by the capture's own statement
   * when the capture applies (one commit for both, no round trip of its own). A replayed capture
   * writes none: its caller records the request itself.
   */
  request?: RequestRecord;
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
  private readonly groupCommit?: GroupCommit<LaneOp, LaneRow>;
  /** Bare `pg` connections for the group-commit batches: a named prepared statement, no query builder. */
  private readonly pool?: pg.Pool;
  // Which unflushed holds (see statementsOf's `unflushed`) are known durable by now: a hold is
  // once a synchronous batch sent after its acknowledgement was acknowledged, that batch's commit
  // having flushed the WAL past the hold's. Positions count sends and acknowledgements in order.
  private position = 0;
  private flushedThrough = 0;
  private readonly unflushedHolds = new Map<string, number>();

  /**
   * With `groupCommit`, concurrent operations are committed together (see group-commit.ts);
   * without it, each is its own statement on `db` (which may be a transaction). Results and
   * guarantees are the same.
   */
  constructor(
    private readonly db: Knex,
    opts: { groupCommit?: GroupCommitOptions; logger?: Logger } = {},
  ) {
    if (opts.groupCommit) {
      const deadlineMs = opts.groupCommit.deadlineMs ?? 2_000;
      const connection = db.client.config.connection as string | pg.ClientConfig;
      this.pool = new pg.Pool({
        ...(typeof connection === 'string' ? { connectionString: connection } : connection),
        max: opts.groupCommit.lanes,
        // Tells the lanes' backends from the rest in pg_stat_activity.
        application_name: 'cheapa-ledger',
        // A batch that hangs (a lock held elsewhere) is cancelled by the server at the lane's deadline.
        statement_timeout: deadlineMs,
        query_timeout: deadlineMs + 5_000,
        allowExitOnIdle: true,
      });
      // An idle connection that dies (a database restart, a failover) is dropped by the pool, which
      // connects anew on next use. Unheard, the pool's 'error' event would end the whole process.
      this.pool.on('error', (err) => opts.logger?.warn({ err }, 'ledger connection lost; the pool reconnects on next use'));
      const pool = this.pool;
      const apply = async (ops: LaneOp[]) => {
        const sent = ++this.position;
        const { rows, unflushed } = await applyLaneOps((statement, values) => pool.query({ ...statement, values }), ops, true);
        if (!unflushed) this.flushedThrough = Math.max(this.flushedThrough, sent);
        return rows;
      };
      this.groupCommit = new GroupCommit(db, apply, {
        ...opts.groupCommit,
        deadlineMs,
      });
    }
  }

  /** Closes the group-commit connections (the knex pool is its owner's to close). */
  async close(): Promise<void> {
    await this.pool?.end();
  }

  /** Runs a credit or debit on an account, on its group-commit lane when enabled. */
  private exec<T>(accountId: string, work: (q: Knex) => Promise<T>): Promise<T> {
    return this.groupCommit ? this.groupCommit.runAlone(accountId, work) : work(this.db);
  }

  /**
   * Applies one hold operation: in the next batch of its account's lane, or as its own statement.
   * Null when it did not apply (a refusal or a replay: the caller reads why); a concurrent
   * duplicate key from another process counts as not applied too.
   */
  private async applyHold(accountId: string, op: HoldOp, q: Knex = this.db): Promise<HoldRow | null> {
    return (await this.applyLaneOp(accountId, op, q, q === this.db)) as HoldRow | null;
  }

  /** A chat charge as applyHold applies a hold operation; `viaLane` false runs it on its own. Null: a replay. */
  private async applyCharge(charge: ChargeInput, viaLane = true): Promise<ChargeRow | null> {
    return (await this.applyLaneOp(charge.accountId, { op: 'charge', charge }, this.db, viaLane)) as ChargeRow | null;
  }

  private async applyLaneOp(accountId: string, op: LaneOp, q: Knex, viaLane: boolean): Promise<LaneRow> {
    try {
      if (this.groupCommit && viaLane) return await this.groupCommit.run(accountId, op);
      const { rows } = await applyLaneOps((statement, values) => q.raw(statement.text.replace(/\$\d+/g, '?'), values as never), [op], false);
      return rows[0]!;
    } catch (err) {
      if (isUniqueViolation(err)) return null;
      throw err;
    }
  }

  /**
   * Whether the hold is known to be durable: false only for a hold placed unflushed by this process
   * that no later synchronous commit has flushed yet (as far as this process saw), whose capture must
   * therefore not be promised before the database confirms it (ChatBilling.capture).
   */
  holdFlushed(holdId: string): boolean {
    const at = this.unflushedHolds.get(holdId);
    if (at === undefined) return true;
    if (this.flushedThrough <= at) return false;
    this.unflushedHolds.delete(holdId);
    return true;
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

  /**
   * Grows the account's allowance under `leaseId` by `amount` (see allowances.ts), on the account's
   * lane; resolves to the allowance after. Throws InsufficientFunds (available < amount), LeaseLapsed
   * or AccountNotFound, and changes nothing then.
   */
  async reserveAllowance(input: { accountId: string; leaseId: string; amount: bigint }): Promise<bigint> {
    if (input.amount <= 0n) throw new RangeError('an allowance grows by a positive amount');
    return this.exec(input.accountId, async (q) => {
      const { rows } = await q.raw(RESERVE, { ...input, amount: input.amount.toString() });
      if (rows[0].allowance !== null) return big(rows[0].allowance);
      if (!rows[0].lease_live) throw new LeaseLapsed(input.leaseId);
      const bal = await this.balance(input.accountId, q);
      throw new InsufficientFunds(input.accountId, bal.available, input.amount);
    });
  }

  /**
   * Charges a chat request's cost against the allowance it was taken from, in the next batch of the
   * account's lane, with its request row when given. `allowance` is the allowance after (null for a
   * replay, which charged nothing new) and `shrunk` what its batch took off it (see ChargeRow).
   * Throws ChargeUncovered when neither the allowance nor the available balance covers it (see
   * allowances.ts), and changes nothing then.
   */
  async chargeAllowance(input: ChargeInput): Promise<Applied<{ entry: LedgerEntry; allowance: bigint | null; shrunk: bigint }>> {
    if (input.amount <= 0n) throw new RangeError('a charge must be positive');
    let row = await this.applyCharge(input);
    // Refused with the rest of its account's batch: alone, it may fit.
    if (row && row.e_id === null) row = await this.applyCharge(input, false);
    if (row && row.e_id !== null) {
      const entry: LedgerEntry = {
        id: big(row.e_id),
        accountId: input.accountId,
        kind: 'usage',
        amount: -input.amount,
        balanceAfter: big(row.e_balance_after),
        idempotencyKey: input.idempotencyKey,
        requestId: input.requestId,
        depositId: null,
        generationId: null,
        holdId: null,
        reason: null,
        actor: null,
        requestIds: null,
        createdAt: date(row.e_created_at),
      };
      return { value: { entry, allowance: big(row.allowance), shrunk: big(row.shrunk) }, replayed: false };
    }
    const existing = await this.entryByKey(input.idempotencyKey);
    if (existing) {
      if (existing.accountId !== input.accountId || existing.amount !== -input.amount) throw new IdempotencyConflict(input.idempotencyKey);
      return { value: { entry: existing, allowance: null, shrunk: 0n }, replayed: true };
    }
    if (row === null) throw new AccountNotFound(input.accountId);
    throw new ChargeUncovered(input.accountId, input.amount);
  }

  /** Gives the account's allowance under `leaseId` back whole, on its lane; resolves to what it held. */
  async releaseAllowance(accountId: string, leaseId: string): Promise<bigint> {
    return this.exec(accountId, async (q) => {
      const { rows } = await q.raw(RELEASE, { accountId, leaseId });
      return big(rows[0].released);
    });
  }

  /** Chat allowances held now, of one account or of all, largest first (the ops view, beside openHolds). */
  async openAllowances(opts: { accountId?: string; limit: number }): Promise<OpenAllowance[]> {
    const { rows } = await this.db.raw(OPEN, { accountId: opts.accountId ?? null, limit: opts.limit });
    return rows.map((r: Record<string, any>) => ({
      accountId: r.account_id,
      leaseId: r.lease_id,
      amount: big(r.amount),
      host: r.host ?? null,
      pid: r.pid ?? null,
      leaseExpiresAt: r.expires_at ?? null,
      lapsed: r.lapsed === true,
    }));
  }

  /** Releases up to `limit` allowances whose lease lapsed; resolves to how many held anything. */
  async releaseLapsedAllowances(limit: number): Promise<number> {
    const { rows } = await this.db.raw(LAPSED, { limit });
    let released = 0;
    for (const r of rows as { account_id: string; lease_id: string }[]) {
      if ((await this.releaseAllowance(r.account_id, r.lease_id)) > 0n) released++;
    }
    return released;
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
    const result = await this.placeHoldOn(this.db, input);
    // A chat hold is settled by its request, which names the account (ChatBilling): remembering
    // every one of them cost a map entry per request and a rehash as the map grew.
    if (input.purpose !== 'chat') this.rememberOwner(result.value.id, result.value.accountId);
    return result;
  }

  private async placeHoldOn(q: Knex, input: PlaceHoldInput): Promise<Applied<Hold>> {
    const row = await this.applyHold(input.accountId, { op: 'hold', holdId: newId('hold'), input }, q);
    // Over the key's limit: the hold's own block was undone by the key-budget trigger's refusal.
    if (row?.k_refused != null) throw keyLimitExceeded(input.apiKeyId!, { detail: row.k_refused as string });
    if (row?.commit_mode === 'off') {
      this.unflushedHolds.set(row.h_id, ++this.position);
      return { value: toHoldRow(row), replayed: false, unflushed: true };
    }
    if (row) return { value: toHoldRow(row), replayed: false };
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
   * Charges `amount` (≤ the hold, > 0) and frees the rest of the hold, in one statement. A hold
   * that owes nothing is released (releaseHold), never captured at zero. A second capture of the
   * same amount is a replay.
   */
  async captureHold(input: CaptureInput): Promise<Applied<{ hold: Hold; entry: LedgerEntry | null }>> {
    if (input.amount <= 0n) throw new RangeError('a capture must be positive: release a hold that owes nothing');
    const owner = await this.ownerOf(input.holdId, input.accountId);
    return this.captureOn(this.db, input, owner);
  }

  private async captureOn(q: Knex, input: CaptureInput, owner: string): Promise<Applied<{ hold: Hold; entry: LedgerEntry | null }>> {
    const key = `${input.holdId}:capture`;
    const r = await this.applyHold(owner, { op: 'capture', holdId: input.holdId, amount: input.amount, kind: input.kind, request: input.request }, q);
    // Answered: the hold is settled now, or shown to be (a synchronous commit saw it or its absence).
    this.unflushedHolds.delete(input.holdId);
    if (r) {
      const hold = toHoldRow(r);
      const entry: LedgerEntry = {
        id: big(r.e_id),
        accountId: hold.accountId,
        kind: input.kind,
        amount: -input.amount,
        balanceAfter: big(r.e_balance_after),
        idempotencyKey: key,
        requestId: hold.requestId,
        depositId: null,
        generationId: hold.generationId,
        holdId: hold.id,
        reason: null,
        actor: null,
        requestIds: null,
        createdAt: date(r.e_created_at),
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
    return this.releaseOn(this.db, input, owner);
  }

  private async releaseOn(q: Knex, input: ReleaseInput, owner: string): Promise<Applied<Hold>> {
    const row = await this.applyHold(owner, { op: 'release', holdId: input.holdId, status: input.status ?? 'released' }, q);
    this.unflushedHolds.delete(input.holdId);
    if (row) return { value: toHoldRow(row), replayed: false };
    return { value: await this.hold(input.holdId, q), replayed: true };
  }

  /**
   * Releases the hold placed under `idempotencyKey`, if one was ever placed (null when none was): for
   * code that knows only the business key, e.g. a generation that failed before it learnt its hold's id.
   * Runs on `q`, so a caller can settle its own rows in the same transaction.
   */
  async releaseHoldByKey(idempotencyKey: string, q: Knex = this.db): Promise<Applied<Hold> | null> {
    const hold = await this.holdByKey(idempotencyKey, q);
    return hold ? this.releaseOn(q, { holdId: hold.id }, hold.accountId) : null;
  }

  /**
   * A pending hold taken over from the process that placed it by the workflow that will settle it
   * (a video's, placed by the API): its process lease no longer frees it. True when it is pending.
   */
  async adoptHold(holdId: string): Promise<boolean> {
    const rows = await this.db('holds').where({ id: holdId, status: 'pending' }).update({ lease_id: null }, ['id']);
    return rows.length > 0;
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

  /** Pending holds, oldest first, of one account or of all (the ops view's open holds). */
  async openHolds(opts: { accountId?: string; limit: number }): Promise<Hold[]> {
    const rows = await this.db('holds')
      .where('status', 'pending')
      .modify((q) => {
        if (opts.accountId) q.where('account_id', opts.accountId);
      })
      .orderBy([{ column: 'created_at' }, { column: 'id' }])
      .limit(opts.limit);
    return rows.map(toHold);
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

/** One operation of a batch (see BatchFunction). */
export type HoldOp =
  | { op: 'hold'; holdId: string; input: PlaceHoldInput }
  | { op: 'capture'; holdId: string; amount: bigint; kind: CaptureInput['kind']; request?: RequestRecord }
  | { op: 'release'; holdId: string; status: NonNullable<ReleaseInput['status']> };

/** What a ledger lane applies: a hold operation, or a chat charge against an allowance (allowances.ts). */
type LaneOp = HoldOp | { op: 'charge'; charge: ChargeInput };
/** What a lane answers for one operation: a hold operation's row (null: not applied), or a charge's. */
type LaneRow = HoldRow | ChargeRow | null;

/** The hold an operation changed (`h_*`) and, for a capture, its entry (`e_*`). */
interface HoldRow {
  h_id: string;
  [column: string]: unknown;
}

/**
 * The batch functions (see their migrations): `ledger_apply_holds` applies the operations one by one;
 * `ledger_apply_holds_together` applies a batch whose outcome cannot depend on its order in a few
 * statements for the whole batch (and hands any other to the first), with the same results.
 */
type BatchFunction = 'ledger_apply_holds' | 'ledger_apply_holds_together';

/**
 * From this many operations a batch goes to `ledger_apply_holds_together`: its statements cost about
 * as much to start as a few operations cost one by one (bench:ledger at 1 to 8 callers, BENCHMARKS.md).
 */
const TOGETHER_FROM = 8;

type Statement = { name: string; text: string };

function statementsOf(fn: BatchFunction): { plain: Statement; recording: Statement; unflushed: Statement } {
  const apply = `SELECT * FROM ${fn}($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[])`;
  return {
    plain: { name: fn, text: apply },
    // The batch and the request rows of its captures (see CaptureInput.request), in one statement.
    recording: {
      name: `${fn}_recording`,
      text: `WITH applied AS MATERIALIZED (${apply}),
                  request_rows AS (SELECT $14::jsonb AS j),
                  recorded AS (${requestRowsOfBatch('applied', 'request_rows')})
             SELECT * FROM applied ORDER BY i`,
    },
    // A batch of nothing but chat holds commits without waiting for its WAL flush (set_config's `true`
    // scopes the setting to this statement's own transaction; a caller's transaction never runs this).
    // Safe by WAL order: a chat hold is shown to no one until its capture, whose commit is synchronous
    // and so flushes the WAL up to itself, the hold's earlier commit record included, before anyone
    // learns of the charge. A crash in between loses the hold as if it had never been placed: its
    // request's capture then finds no hold and is lost as our revenue, never as customer money, and the
    // balance it had reserved was never spent. Captures, releases, credits and generation holds (a
    // workflow records its hold in Temporal's history) stay synchronous. Measured in BENCHMARKS.md.
    unflushed: {
      name: `${fn}_unflushed`,
      text: `WITH relaxed AS MATERIALIZED (SELECT set_config('synchronous_commit', 'off', true) AS commit_mode)
             SELECT a.*, relaxed.commit_mode FROM relaxed, (${apply}) a ORDER BY a.i`,
    },
  };
}

const ONE_BY_ONE = statementsOf('ledger_apply_holds');
const TOGETHER = statementsOf('ledger_apply_holds_together');

/**
 * Applies `ops` (already in account order): hold operations in one statement, a batch's chat charges
 * (allowances.ts) in one more, each committed on its own. A hold operation that did not apply is null.
 */
async function applyLaneOps(
  query: (statement: Statement, values: unknown[]) => Promise<{ rows: HoldRow[] }>,
  ops: LaneOp[],
  ownTransaction: boolean,
): Promise<{ rows: LaneRow[]; unflushed: boolean }> {
  if (!ops.some((o) => o.op === 'charge')) return applyHoldOps(query, ops as HoldOp[], ownTransaction);
  const rows: LaneRow[] = new Array(ops.length).fill(null);
  const holdOps = ops.flatMap((op, i) => (op.op === 'charge' ? [] : [{ op, i }]));
  if (holdOps.length) {
    const applied = await applyHoldOps(query, holdOps.map((h) => h.op), ownTransaction);
    applied.rows.forEach((row, k) => (rows[holdOps[k]!.i] = row));
  }
  const charges = ops.flatMap((op, i) => (op.op === 'charge' ? [{ ...op.charge, i }] : []));
  for (const round of chargeRounds(charges)) {
    const { statement, values } = chargeStatement(round);
    const answer = (await query(statement, values)) as unknown as { rows: ChargeRow[] };
    for (const row of answer.rows) rows[round[row.i - 1]!.i] = row;
  }
  // Charges commit synchronously, after any holds of the batch: nothing of it is left unflushed.
  return { rows, unflushed: false };
}

async function applyHoldOps(
  query: (statement: Statement, values: unknown[]) => Promise<{ rows: HoldRow[] }>,
  ops: HoldOp[],
  ownTransaction: boolean,
): Promise<{ rows: (HoldRow | null)[]; unflushed: boolean }> {
  const hold = (op: HoldOp) => (op.op === 'hold' ? op.input : undefined);
  const request = (op: HoldOp) => (op.op === 'capture' ? op.request : undefined);
  const unflushed = ownTransaction && ops.every((o) => hold(o)?.purpose === 'chat');
  const lone = ownTransaction && ops.length === 1 ? loneStatementOf(ops[0]!, unflushed) : null;
  if (lone) {
    const { rows } = await query(lone.statement, lone.values);
    return { rows: [rows[0] ?? null], unflushed };
  }
  const column = (f: (op: HoldOp) => unknown) => ops.map(f);
  const recording = ops.some((o) => request(o) !== undefined);
  const statements = ops.length >= TOGETHER_FROM ? TOGETHER : ONE_BY_ONE;
  const statement = recording ? statements.recording : unflushed ? statements.unflushed : statements.plain;
  const { rows } = await query(statement, [
    column((o) => o.op),
    column((o) => hold(o)?.accountId ?? null),
    column((o) => o.holdId),
    column((o) => (o.op === 'hold' ? o.input.amount : o.op === 'capture' ? o.amount : 0n).toString()),
    column((o) => hold(o)?.idempotencyKey ?? null),
    column((o) => hold(o)?.purpose ?? null),
    column((o) => hold(o)?.requestId ?? null),
    column((o) => hold(o)?.generationId ?? null),
    column((o) => hold(o)?.expiresAt ?? null),
    column((o) => hold(o)?.leaseId ?? null),
    column((o) => (o.op === 'capture' ? o.kind : null)),
    column((o) => (o.op === 'release' ? o.status : null)),
    column((o) => hold(o)?.apiKeyId ?? null),
    ...(recording ? [JSON.stringify(ops.map((o) => { const r = request(o); return r ? requestRow(r) : null; }))] : []),
  ]);
  return { rows: rows.map((r) => (r.h_id === null && r.k_refused === null ? null : r)), unflushed: statement === statements.unflushed };
}

function toHoldRow(r: HoldRow): Hold {
  return {
    id: r.h_id,
    accountId: r.h_account_id as string,
    amount: big(r.h_amount),
    status: r.h_status as HoldStatus,
    capturedAmount: bigOrNull(r.h_captured_amount),
    purpose: r.h_purpose as HoldPurpose,
    requestId: r.h_request_id as string | null,
    generationId: r.h_generation_id as string | null,
    idempotencyKey: r.h_idempotency_key as string,
    expiresAt: date(r.h_expires_at),
    createdAt: date(r.h_created_at),
    settledAt: r.h_settled_at === null ? null : date(r.h_settled_at),
  };
}
