/**
 * Deposits and their history in PostgreSQL. Status changes are conditional updates: a final
 * status is never left, and each history event is stored once (unique per deposit and event id),
 * so replays of webhooks, polls and activities change nothing twice.
 */
import type { Knex } from 'knex';
import { lockAccountScope } from '../db/advisory-lock.js';
import { newId } from '../ids.js';
import { type DepositStatus, FINAL_DEPOSIT_STATUSES } from './deposit-status.js';
import type { PaymentOutcome, PaymentProvider } from './payment-gateway.js';
import type { DepositReversal } from './reversal-repository.js';

export type DepositMethod = 'card' | 'crypto';
export type DepositEventSource = 'api' | 'webhook' | 'poll' | 'workflow';

export interface Deposit {
  id: string;
  accountId: string;
  method: DepositMethod;
  provider: PaymentProvider;
  tier: string | null;
  amount: bigint;
  creditedAmount: bigint | null;
  status: DepositStatus;
  providerRef: string | null;
  checkoutUrl: string | null;
  coin: string | null;
  network: string | null;
  expiresAt: Date | null;
  idempotencyKey: string | null;
  createdAt: Date;
  updatedAt: Date;
  creditedAt: Date | null;
  /** Set once the credited payment was disputed or refunded (reversal-repository.ts). */
  reversal: DepositReversal | null;
  /** The support request a custom-amount deposit was opened for by ops. */
  supportRequestId: string | null;
  /** Card: the customer asked to keep the card for off-session charges. */
  saveCard: boolean;
  /** The provider's receipt (charge receipt or hosted invoice), once credited. */
  receiptUrl: string | null;
}

export interface DepositEvent {
  eventId: string;
  source: DepositEventSource;
  outcome: PaymentOutcome | null;
  providerStatus: string | null;
  status: DepositStatus;
  amount: bigint | null;
  note: string | null;
  createdAt: Date;
}

export interface NewDeposit {
  accountId: string;
  method: DepositMethod;
  provider: PaymentProvider;
  tier: string;
  amount: bigint;
  coin?: string;
  network?: string;
  /** When the checkout will stop accepting payment; fixed here so a retried create asks for the same. */
  expiresAt: Date;
  idempotencyKey?: string;
  supportRequestId?: string;
  saveCard?: boolean;
}

/** An entry to add to a deposit's history (DepositEvent once stored). */
export interface NewDepositEvent {
  eventId: string;
  source: DepositEventSource;
  outcome?: PaymentOutcome;
  providerStatus?: string;
  amount?: bigint;
  note?: string;
}

/** Statuses in which a deposit still has (or is about to get) a live checkout at the provider. */
const OPEN_STATUSES = ['creating', 'pending', 'processing'] as const;

/**
 * The account already has `max` deposits waiting for payment: each one is a checkout at the
 * provider, so opening more on demand would let one key flood Stripe/Cryptomus. Answered 429.
 */
export class TooManyOpenDeposits extends Error {
  constructor(
    readonly max: number,
    /** Until the first open deposit expires, when a new one can certainly be opened. */
    readonly retryAfterSeconds: number,
  ) {
    super(
      `This account already has ${max} deposits waiting for payment. Complete or let one of them expire (see GET /v1/billing/deposits) before starting another.`,
    );
    this.name = 'TooManyOpenDeposits';
  }
}

export class DepositRepository {
  /** `maxOpen`: deposits one account may have waiting for payment at once. */
  constructor(
    private readonly db: Knex,
    private readonly opts: { maxOpen: number } = { maxOpen: 5 },
  ) {}

  /**
   * Inserts a deposit; with an idempotency key already used by the account, returns that deposit
   * instead. Refuses with TooManyOpenDeposits when the account has `maxOpen` unexpired open deposits:
   * the count and the insert run under a per-account advisory lock, so concurrent requests cannot
   * all pass the check.
   */
  async create(input: NewDeposit): Promise<{ deposit: Deposit; created: boolean }> {
    return this.db.transaction(async (trx) => {
      await lockAccountScope(trx, 'deposits', input.accountId);
      if (input.idempotencyKey) {
        const existing = await trx('deposits').where({ account_id: input.accountId, idempotency_key: input.idempotencyKey }).first();
        if (existing) return { deposit: toDeposit(existing), created: false };
      }
      const open = await trx('deposits')
        .where({ account_id: input.accountId })
        .whereIn('status', OPEN_STATUSES)
        .where('expires_at', '>', trx.fn.now())
        .select(trx.raw('count(*)::int as n'), trx.raw('ceil(extract(epoch from min(expires_at) - now()))::int as wait'))
        .first();
      if (open && open.n >= this.opts.maxOpen) throw new TooManyOpenDeposits(this.opts.maxOpen, Math.max(1, open.wait ?? 60));
      return this.insert(trx, input);
    });
  }

  private async insert(db: Knex, input: NewDeposit): Promise<{ deposit: Deposit; created: boolean }> {
    const id = newId('dep');
    const rows = await db('deposits')
      .insert({
        id,
        account_id: input.accountId,
        method: input.method,
        provider: input.provider,
        tier: input.tier,
        amount: input.amount.toString(),
        status: 'creating',
        coin: input.coin ?? null,
        network: input.network ?? null,
        expires_at: input.expiresAt,
        idempotency_key: input.idempotencyKey ?? null,
        support_request_id: input.supportRequestId ?? null,
        save_card: input.saveCard ?? false,
      })
      .onConflict(['account_id', 'idempotency_key'])
      .ignore()
      .returning('*');
    if (rows.length) {
      await insertEvent(db, id, { eventId: 'created', source: 'api', note: `${input.tier} by ${input.method}` }, 'creating');
      return { deposit: toDeposit(rows[0]), created: true };
    }
    const existing = await db('deposits').where({ account_id: input.accountId, idempotency_key: input.idempotencyKey }).first();
    return { deposit: toDeposit(existing), created: false };
  }

  async get(id: string): Promise<Deposit | null> {
    const row = await this.db('deposits').where({ id }).first();
    return row ? toDeposit(row) : null;
  }

  async getForAccount(accountId: string, id: string): Promise<Deposit | null> {
    const row = await this.db('deposits').where({ id, account_id: accountId }).first();
    return row ? toDeposit(row) : null;
  }

  /** Newest first; `after` is the last id of the previous page. */
  async list(accountId: string, opts: { limit: number; after?: string }): Promise<{ data: Deposit[]; hasMore: boolean }> {
    const q = this.db('deposits').where({ account_id: accountId }).orderBy('id', 'desc').limit(opts.limit + 1);
    if (opts.after) q.andWhere('id', '<', opts.after);
    const rows = await q;
    return { data: rows.slice(0, opts.limit).map(toDeposit), hasMore: rows.length > opts.limit };
  }

  async history(id: string): Promise<DepositEvent[]> {
    const rows = await this.db('deposit_events').where({ deposit_id: id }).orderBy('id');
    return rows.map(toEvent);
  }

  /** The checkout exists: remember where it is. Moves a creating deposit to pending. */
  async checkoutOpened(id: string, c: { providerRef: string; checkoutUrl: string | null; expiresAt: Date }): Promise<Deposit> {
    return this.db.transaction(async (trx) => {
      await trx('deposits')
        .where({ id })
        .update({ provider_ref: c.providerRef, checkout_url: c.checkoutUrl, expires_at: c.expiresAt, updated_at: trx.fn.now() });
      await trx('deposits').where({ id, status: 'creating' }).update({ status: 'pending' });
      await insertEvent(trx, id, { eventId: `checkout:${c.providerRef}`, source: 'workflow', note: 'checkout opened' }, 'pending');
      return toDeposit(await trx('deposits').where({ id }).first());
    });
  }

  /**
   * Stores one history event (once per event id) and moves the deposit to `status` unless it is
   * already final. Returns the deposit's status afterwards and whether the event was new.
   */
  async recordEvent(id: string, ev: NewDepositEvent, status?: DepositStatus): Promise<{ recorded: boolean; status: DepositStatus }> {
    return this.db.transaction(async (trx) => {
      let current = (await trx('deposits').where({ id }).forUpdate().first('status'))?.status as DepositStatus | undefined;
      if (!current) throw new Error(`deposit ${id} not found`);
      if (status && status !== current && status !== 'credited' && !FINAL_DEPOSIT_STATUSES.includes(current)) {
        await trx('deposits').where({ id }).update({ status, updated_at: trx.fn.now() });
        current = status;
      }
      const recorded = await insertEvent(trx, id, ev, current);
      return { recorded, status: current };
    });
  }

  /**
   * Money reported for a deposit that ended without credit (expired, failed): the one exit from a
   * final status, into review, so ops see it and credit by adjustment after checking.
   */
  async flagForReview(id: string, ev: NewDepositEvent): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('deposits').where({ id }).whereIn('status', ['expired', 'failed']).update({ status: 'needs_review', updated_at: trx.fn.now() });
      const { status } = await trx('deposits').where({ id }).first('status');
      await insertEvent(trx, id, ev, status);
    });
  }

  /** Marks the deposit credited once the ledger entry exists; a repeat changes nothing. */
  /** Where the provider shows the receipt; written once known, the same value on a repeat. */
  async setReceiptUrl(id: string, url: string): Promise<void> {
    await this.db('deposits').where({ id }).update({ receipt_url: url });
  }

  async markCredited(id: string, amount: bigint, ev: NewDepositEvent): Promise<void> {
    await this.db.transaction(async (trx) => {
      await trx('deposits')
        .where({ id })
        .whereNull('credited_at')
        .update({ status: 'credited', credited_amount: amount.toString(), credited_at: trx.fn.now(), updated_at: trx.fn.now() });
      await insertEvent(trx, id, { ...ev, amount }, 'credited');
    });
  }
}

async function insertEvent(trx: Knex, id: string, ev: NewDepositEvent, status: DepositStatus): Promise<boolean> {
  const rows = await trx('deposit_events')
    .insert({
      deposit_id: id,
      event_id: ev.eventId,
      source: ev.source,
      outcome: ev.outcome ?? null,
      provider_status: ev.providerStatus ?? null,
      status,
      amount: ev.amount === undefined ? null : ev.amount.toString(),
      note: ev.note ?? null,
    })
    .onConflict(['deposit_id', 'event_id'])
    .ignore()
    .returning('id');
  return rows.length > 0;
}

const big = (v: unknown): bigint => (typeof v === 'bigint' ? v : BigInt(v as string));

function toDeposit(r: Record<string, any>): Deposit {
  return {
    id: r.id,
    accountId: r.account_id,
    method: r.method,
    provider: r.provider,
    tier: r.tier,
    amount: big(r.amount),
    creditedAmount: r.credited_amount === null ? null : big(r.credited_amount),
    status: r.status,
    providerRef: r.provider_ref,
    checkoutUrl: r.checkout_url,
    coin: r.coin,
    network: r.network,
    expiresAt: r.expires_at,
    idempotencyKey: r.idempotency_key,
    createdAt: r.created_at,
    updatedAt: r.updated_at,
    creditedAt: r.credited_at,
    reversal: r.reversal ?? null,
    supportRequestId: r.support_request_id ?? null,
    saveCard: r.save_card ?? false,
    receiptUrl: r.receipt_url ?? null,
  };
}

function toEvent(r: Record<string, any>): DepositEvent {
  return {
    eventId: r.event_id,
    source: r.source,
    outcome: r.outcome,
    providerStatus: r.provider_status,
    status: r.status,
    amount: r.amount === null ? null : big(r.amount),
    note: r.note,
    createdAt: r.created_at,
  };
}
