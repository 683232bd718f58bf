import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { AccountNotFound, CaptureExceedsHold, ChargeUncovered, HoldNotFound, HoldNotPending, IdempotencyConflict, InsufficientFunds, KeyLimitExceeded } from '../ledger/errors.js';
import type { PostgresLedger } from '../ledger/postgres-ledger.js';
import type { ProcessLease } from '../ledger/process-lease.js';
import type { ChatAllowances } from './chat-allowances.js';
import type { ChatModel } from '../pricing/catalog.js';
import type { BillableUsage } from './completion-tally.js';
import { planHold } from './hold-plan.js';
import type { RequestRecord } from './request-log.js';
import { allowanceCaptureName, type HandOff } from './durable-capture.js';
import { settle, type Settlement } from './settlement.js';

/** The caller's own output limit costs more than the available balance; the balance affords `affordable`. */
export class OutputLimitUnaffordable extends Error {
  readonly name = 'OutputLimitUnaffordable';
  constructor(
    readonly requested: number,
    readonly affordable: number,
  ) {
    super(`max_tokens ${requested} is not affordable; ${affordable} is`);
  }
}

/**
 * The credit set aside for a request was lost while it was served, so there is nothing to charge:
 * the caller is charged nothing and the upstream's work is our loss. Answered 503: a retry is served
 * normally. Two ways to get here: a hold committed unflushed that a database crash took before
 * anything flushed it (see PostgresLedger.holdFlushed), or a charge on an allowance that was released
 * after this process's lease lapsed (a stall) when the available balance no longer covers it.
 */
export class CoverLost extends Error {
  readonly name = 'CoverLost';
  /** `cover`: the hold's id, or `allowance:<request id>`. */
  constructor(readonly cover: string) {
    super(`the credit set aside as ${cover} was lost before its charge; nothing was charged`);
  }
}

/**
 * A chat request's hold: the most it may cost, for the output limit it will be sent with. Either a
 * hold row (`holdId`) or a take from this process's allowance on the account under `leaseId`.
 */
export interface ChatHold {
  holdId: string | null;
  leaseId?: string;
  accountId: string;
  amount: bigint;
  /** Per-choice output limit to send upstream. */
  maxTokens: number;
}

export interface ChatHoldInput {
  accountId: string;
  /** The key whose spend limit the hold counts against (only a key with a limit). */
  apiKeyId?: string;
  requestId: string;
  model: ChatModel;
  promptTokenBound: number;
  requestedMaxTokens: number | undefined;
  choices: number;
}

// A plan computed before the balance is known: the caller's full worst case. Most requests are
// affordable, so the first attempt costs one statement and no balance read.
const UNKNOWN_BALANCE = 1n << 62n;
const ATTEMPTS = 4;
// Longer than any stream the upstream timeouts allow. A crashed process's holds are freed sooner,
// when its lease lapses; this deadline is the backstop.
const HOLD_TTL_MS = 3 * 60 * 60 * 1000;
// In-process retries of a failed capture (a database blip) before it is handed to Temporal.
const CAPTURE_RETRY_DELAYS_MS = [50, 250, 1000];
// The same for a hold not yet known durable (PostgresLedger.holdFlushed): a hand-off promises the
// caller a charge that a database crash may have taken its hold from, so the capture keeps trying
// in-process through a database restart (about half a minute) until the database answers either way.
const UNFLUSHED_CAPTURE_RETRY_DELAYS_MS = [50, 250, 1000, 2000, 3000, 5000, 8000, 10000];
// Retries of the release of a hold whose placing failed with its commit in doubt (see releaseInDoubt).
const IN_DOUBT_RETRY_DELAYS_MS = [250, 1_000, 2_000, 5_000, 10_000, 30_000, 60_000, 120_000, 300_000];
// Longer than a batch statement can still run after its caller gave up on it (the lane's deadline).
const IN_DOUBT_SETTLED_AFTER_MS = 10_000;

export interface ChatBillingDeps {
  ledger: PostgresLedger;
  logger: Logger;
  /** Stamped on every hold, so that the holds of a process that dies are released within a minute. */
  lease: ProcessLease;
  /** Makes a capture durable when the database keeps refusing it in-process. */
  handOff: HandOff;
  /**
   * When set, a request whose key has no spend limit takes its worst case from this process's chat
   * allowance instead of placing a hold row (CHAT_ALLOWANCES; see chat-allowances.ts).
   */
  allowances?: ChatAllowances;
  captureRetryDelaysMs?: readonly number[];
  unflushedCaptureRetryDelaysMs?: readonly number[];
  inDoubtRetryDelaysMs?: readonly number[];
  inDoubtSettledAfterMs?: number;
}

/**
 * How a charge landed: written now, or entrusted to a workflow that retries until it is; and whether
 * the request's row given with it was written by the capture itself (else the caller records it).
 */
export interface CaptureOutcome {
  landed: 'captured' | 'handed_off';
  recorded: boolean;
}

/**
 * Hold-and-settle for chat requests: one hold per request (its idempotency key is the request id),
 * captured for the exact cost of what the upstream produced, the rest released in the same statement.
 */
export class ChatBilling {
  private readonly ledger: PostgresLedger;
  private readonly logger: Logger;

  constructor(private readonly deps: ChatBillingDeps) {
    this.ledger = deps.ledger;
    this.logger = deps.logger;
  }

  /**
   * Holds the worst case, lowering the output limit to what the available balance affords.
   * Concurrent requests of one account race on the database's conditional update; a loser re-plans
   * with the balance it left. Throws InsufficientFunds when not even the prompt is affordable, and
   * OutputLimitUnaffordable when the caller's own max_tokens is not.
   */
  async hold(input: ChatHoldInput): Promise<ChatHold> {
    const fromAllowance = this.deps.allowances !== undefined && input.apiKeyId === undefined;
    const leaseId = fromAllowance ? undefined : await this.deps.lease.id();
    let available = UNKNOWN_BALANCE;
    let last: InsufficientFunds | undefined;
    for (let attempt = 0; attempt < ATTEMPTS; attempt++) {
      const plan = planHold({
        model: input.model,
        promptTokenBound: input.promptTokenBound,
        requestedMaxTokens: input.requestedMaxTokens,
        choices: input.choices,
        available,
      });
      if (!plan.affordable && plan.reason === 'max_tokens') {
        throw new OutputLimitUnaffordable(plan.requestedMaxTokens, plan.affordableMaxTokens);
      }
      if (!plan.affordable) throw new InsufficientFunds(input.accountId, available, plan.required);
      const idempotencyKey = `chat:${input.requestId}`;
      try {
        if (fromAllowance) {
          const { leaseId: taken } = await this.deps.allowances!.take(input.accountId, plan.amount);
          return { holdId: null, leaseId: taken, accountId: input.accountId, amount: plan.amount, maxTokens: plan.maxTokens };
        }
        const { value: placed } = await this.ledger.placeHold({
          accountId: input.accountId,
          amount: plan.amount,
          idempotencyKey,
          purpose: 'chat',
          requestId: input.requestId,
          apiKeyId: input.apiKeyId,
          leaseId,
          expiresAt: new Date(Date.now() + HOLD_TTL_MS),
        });
        return { holdId: placed.id, accountId: input.accountId, amount: placed.amount, maxTokens: plan.maxTokens };
      } catch (error) {
        if (!(error instanceof InsufficientFunds)) {
          // An allowance grown in doubt is this process's and given back whole when idle.
          if (!fromAllowance && placedInDoubt(error)) void this.releaseInDoubt(idempotencyKey, input.requestId);
          throw error;
        }
        last = error;
        available = error.available;
      }
    }
    throw last!;
  }

  /** What `usage` costs and what of it is taken from the hold (never more than the hold). */
  settlementOf(hold: ChatHold, model: ChatModel, usage: BillableUsage, requestId: string): Settlement {
    const settlement = settle(model, usage, hold.amount);
    if (settlement.charge < settlement.cost) {
      this.logger.warn(
        { requestId, holdId: hold.holdId, cost: settlement.cost.toString(), held: hold.amount.toString() },
        'chat usage cost more than its hold; charged the hold',
      );
    }
    return settlement;
  }

  /**
   * Takes the charge from the hold and releases the rest. The answer was delivered (or the upstream
   * billed us for it), so the charge must land: a failure is retried here, then handed to a
   * workflow that retries until it does (for a hold not yet known durable, only after the database
   * answered nothing for about half a minute: see UNFLUSHED_CAPTURE_RETRY_DELAYS_MS). The capture
   * is idempotent (one per hold), so a retry after a commit whose acknowledgement was lost changes
   * nothing. Throws CoverLost when a crash took such a hold, and otherwise only when even the
   * hand-off fails; the hold then stays pending (never released by this request) for ops to see.
   * `request`, the request's log row, is written by the capture's own statement when it applies.
   */
  async capture(hold: ChatHold, settlement: Settlement, requestId: string, request?: RequestRecord): Promise<CaptureOutcome> {
    if (hold.holdId === null) return this.charge(hold, settlement, requestId, request);
    const flushed = this.ledger.holdFlushed(hold.holdId);
    const delays = flushed
      ? (this.deps.captureRetryDelaysMs ?? CAPTURE_RETRY_DELAYS_MS)
      : (this.deps.unflushedCaptureRetryDelaysMs ?? UNFLUSHED_CAPTURE_RETRY_DELAYS_MS);
    for (let attempt = 0; ; attempt++) {
      try {
        const recorded = await settleChatHold(this.ledger, { holdId: hold.holdId, accountId: hold.accountId, amount: settlement.charge, request });
        return { landed: 'captured', recorded };
      } catch (error) {
        if (error instanceof HoldNotFound && !flushed) {
          this.logger.warn({ requestId, holdId: hold.holdId, charge: settlement.charge.toString() }, 'a database crash lost this chat hold before it was flushed; the request is not charged');
          throw new CoverLost(hold.holdId);
        }
        if (isLedgerRefusal(error)) throw error;
        if (attempt >= delays.length) {
          this.logger.error({ err: error, requestId, holdId: hold.holdId }, 'capture failed; handing it to a workflow');
          break;
        }
        this.logger.warn({ err: error, requestId, holdId: hold.holdId, attempt }, 'capture failed; retrying');
        await sleep(delays[attempt]);
      }
    }
    await this.deps.handOff({
      holdId: hold.holdId,
      accountId: hold.accountId,
      amount: settlement.charge.toString(),
      requestId,
    });
    return { landed: 'handed_off', recorded: false };
  }

  /**
   * Placing the hold failed with the database's answer lost (a restart or a cut connection during the
   * commit): the hold may exist though this request will never settle it, and this process's lease,
   * still renewed, keeps the sweeper from it for hours. So it is released by its key, as soon as the
   * database answers and again once no statement of the failed batch can still be running; a hold
   * that was never placed makes each release a no-op. A crash meanwhile leaves it to the lease.
   */
  async releaseInDoubt(idempotencyKey: string, requestId: string): Promise<void> {
    const started = Date.now();
    const delays = this.deps.inDoubtRetryDelaysMs ?? IN_DOUBT_RETRY_DELAYS_MS;
    const settledAfter = this.deps.inDoubtSettledAfterMs ?? IN_DOUBT_SETTLED_AFTER_MS;
    for (const delay of delays) {
      // Unref'd: a shutting-down process does not wait for it (its lease covers the hold then).
      await sleep(delay, undefined, { ref: false });
      try {
        const released = await this.ledger.releaseHoldByKey(idempotencyKey);
        if (released && !released.replayed) this.logger.warn({ requestId, holdId: released.value.id }, 'released a chat hold whose placing failed in doubt');
        if (Date.now() - started >= settledAfter) return;
      } catch (err) {
        this.logger.warn({ err, requestId }, 'could not release a chat hold placed in doubt yet; retrying');
      }
    }
    this.logger.error({ requestId, idempotencyKey }, 'gave up releasing a chat hold placed in doubt; it expires with its lease or its deadline');
  }

  /**
   * capture() for a take from the allowance: one charge, retried and handed off as a capture is (the
   * charge is idempotent by its key). The take is given back once, whatever happens. Throws
   * CoverLost when the charge is covered by neither the allowance nor the available balance
   * (the allowance was released after this process's lease lapsed): nothing was charged.
   */
  private async charge(hold: ChatHold, settlement: Settlement, requestId: string, request?: RequestRecord): Promise<CaptureOutcome> {
    const allowances = this.deps.allowances!;
    const leaseId = hold.leaseId!;
    // What the charge took off the allowance, as far as the ledger said (null: not known).
    let shrunk: bigint | null = null;
    try {
      if (settlement.charge === 0n) {
        shrunk = 0n;
        return { landed: 'captured', recorded: false };
      }
      const order = { accountId: hold.accountId, leaseId, amount: settlement.charge, idempotencyKey: chargeKey(requestId), requestId };
      const delays = this.deps.captureRetryDelaysMs ?? CAPTURE_RETRY_DELAYS_MS;
      for (let attempt = 0; ; attempt++) {
        try {
          const { value, replayed } = await this.ledger.chargeAllowance({ ...order, request });
          // A replay answers with the first charge's entry, not with what that charge shrank.
          shrunk = replayed ? null : value.shrunk;
          return { landed: 'captured', recorded: request !== undefined && !replayed };
        } catch (error) {
          if (error instanceof ChargeUncovered) {
            shrunk = 0n;
            this.logger.warn({ requestId, charge: settlement.charge.toString() }, 'this chat charge lost its allowance and the balance does not cover it; the request is not charged');
            throw new CoverLost(`allowance:${requestId}`);
          }
          if (isLedgerRefusal(error)) throw error;
          if (attempt >= delays.length) {
            this.logger.error({ err: error, requestId }, 'chat charge failed; handing it to a workflow');
            break;
          }
          this.logger.warn({ err: error, requestId, attempt }, 'chat charge failed; retrying');
          await sleep(delays[attempt]);
        }
      }
      await this.deps.handOff({ holdId: allowanceCaptureName(requestId), accountId: hold.accountId, amount: settlement.charge.toString(), requestId, leaseId, idempotencyKey: order.idempotencyKey });
      return { landed: 'handed_off', recorded: false };
    } finally {
      allowances.giveBack(hold.accountId, leaseId, hold.amount, shrunk);
    }
  }

  /** Nothing was produced: the whole hold goes back to the available balance. */
  async release(hold: ChatHold): Promise<void> {
    if (hold.holdId === null) return this.deps.allowances!.giveBack(hold.accountId, hold.leaseId!, hold.amount, 0n);
    const flushed = this.ledger.holdFlushed(hold.holdId);
    try {
      await this.ledger.releaseHold({ holdId: hold.holdId, accountId: hold.accountId });
    } catch (error) {
      if (!(error instanceof HoldNotFound) || flushed) throw error;
      // Lost by a database crash before anything flushed it (see CoverLost): nothing is held.
      this.logger.warn({ holdId: hold.holdId }, 'a database crash lost this chat hold before it was flushed; nothing to release');
    }
  }
}

/**
 * Takes `amount` from a chat hold, or releases it whole when the call owes nothing (a free model,
 * say): the ledger captures only positive amounts. Both are idempotent, so the durable hand-off
 * (chat-activities.ts) settles the same way. True when `request`'s row was written with the capture.
 */
export async function settleChatHold(
  ledger: PostgresLedger,
  order: { holdId: string; accountId: string; amount: bigint; request?: RequestRecord },
): Promise<boolean> {
  if (order.amount > 0n) {
    const { replayed } = await ledger.captureHold({ ...order, kind: 'usage' });
    return order.request !== undefined && !replayed;
  }
  await ledger.releaseHold({ holdId: order.holdId, accountId: order.accountId });
  return false;
}

/** The idempotency key of a chat request's charge against an allowance. */
export const chargeKey = (requestId: string) => `chat:${requestId}:usage`;

/** Whether a hold whose placing threw this may exist all the same: anything but the ledger's own refusal. */
export function placedInDoubt(error: unknown): boolean {
  return !(
    error instanceof InsufficientFunds ||
    error instanceof KeyLimitExceeded ||
    error instanceof AccountNotFound ||
    error instanceof IdempotencyConflict
  );
}

/** The ledger's own answer about a hold or account: no retry can change it. */
function isLedgerRefusal(error: unknown): boolean {
  return (
    error instanceof HoldNotPending ||
    error instanceof CaptureExceedsHold ||
    error instanceof HoldNotFound ||
    error instanceof AccountNotFound ||
    error instanceof InsufficientFunds
  );
}
