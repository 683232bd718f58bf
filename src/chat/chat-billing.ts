import type { Logger } from 'pino';
import { InsufficientFunds } from '../ledger/errors.js';
import type { PostgresLedger } from '../ledger/postgres-ledger.js';
import type { ChatModel } from '../pricing/catalog.js';
import type { BillableUsage } from './completion-tally.js';
import { planHold } from './hold-plan.js';
import { settle, type Settlement } from './settlement.js';

/** A chat request's hold: the most it may cost, for the output limit it will be sent with. */
export interface Reservation {
  holdId: string;
  amount: bigint;
  /** Per-choice output limit to send upstream. */
  maxTokens: number;
}

export interface ReserveInput {
  accountId: string;
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
// Longer than any stream the upstream timeouts allow; the expirer frees holds of crashed requests.
const HOLD_TTL_MS = 3 * 60 * 60 * 1000;

/**
 * Hold-and-settle for chat requests: one hold per request (its idempotency key is the request id),
 * captured for the exact cost of what the upstream produced, the rest released in the same statement.
 */
export class ChatBilling {
  constructor(
    private readonly ledger: PostgresLedger,
    private readonly logger: Logger,
  ) {}

  /**
   * Holds the worst case, lowering the output limit to what the available balance affords.
   * Concurrent requests of one account race on the database's conditional update; a loser re-plans
   * with the balance it left. Throws InsufficientFunds when not even the prompt is affordable.
   */
  async reserve(input: ReserveInput): Promise<Reservation> {
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
      if (!plan.affordable) throw new InsufficientFunds(input.accountId, available, plan.required);
      try {
        const { value: hold } = await this.ledger.placeHold({
          accountId: input.accountId,
          amount: plan.amount,
          idempotencyKey: `chat:${input.requestId}`,
          purpose: 'chat',
          requestId: input.requestId,
          expiresAt: new Date(Date.now() + HOLD_TTL_MS),
        });
        return { holdId: hold.id, amount: hold.amount, maxTokens: plan.maxTokens };
      } catch (error) {
        if (!(error instanceof InsufficientFunds)) throw error;
        last = error;
        available = error.available;
      }
    }
    throw last!;
  }

  /** Captures the exact cost of `usage` (never more than the hold) and releases the rest. */
  async settle(reservation: Reservation, model: ChatModel, usage: BillableUsage, requestId: string): Promise<Settlement> {
    const settlement = settle(model, usage, reservation.amount);
    if (settlement.charge < settlement.cost) {
      this.logger.warn(
        { requestId, holdId: reservation.holdId, cost: settlement.cost.toString(), held: reservation.amount.toString() },
        'chat usage cost more than its hold; charged the hold',
      );
    }
    await this.ledger.captureHold({ holdId: reservation.holdId, amount: settlement.charge, kind: 'usage' });
    return settlement;
  }

  /** Nothing was produced: the whole hold goes back to the available balance. */
  async release(reservation: Reservation): Promise<void> {
    await this.ledger.releaseHold({ holdId: reservation.holdId });
  }
}
