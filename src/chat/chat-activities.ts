import { ApplicationFailure } from '@temporalio/activity';
import { CaptureExceedsHold, HoldNotFound, HoldNotPending } from '../ledger/index.js';
import { ChargeUncovered } from '../ledger/errors.js';
import { settleChatHold } from './chat-billing.js';
import { findHoldsOfLapsedLeases, type LapsedHold } from '../ledger/process-lease.js';
import type { Services } from '../services.js';
import { captureHandedOff, type CaptureOrder } from './durable-capture.js';

/** Chat holds outside the request that placed them: a capture handed off, holds of a dead process. */
export function createChatActivities(services: Pick<Services, 'db' | 'ledger' | 'logger' | 'temporal'>) {
  return {
    /** Idempotent: the capture of a hold is one entry keyed by the hold, so a retry after a lost acknowledgement is a replay. */
    async captureChatHold(order: CaptureOrder): Promise<void> {
      try {
        if (order.leaseId !== undefined && order.idempotencyKey !== undefined) {
          const { accountId, leaseId, idempotencyKey, requestId } = order;
          await services.ledger.chargeAllowance({ accountId, leaseId, amount: BigInt(order.amount), idempotencyKey, requestId });
          return;
        }
        await settleChatHold(services.ledger, { holdId: order.holdId, accountId: order.accountId, amount: BigInt(order.amount) });
      } catch (error) {
        if (error instanceof HoldNotPending || error instanceof CaptureExceedsHold || error instanceof HoldNotFound || error instanceof ChargeUncovered) {
          // Settled some other way (expired at its 3-hour deadline, say): retrying cannot change it.
          services.logger.error({ err: error, ...order }, 'a handed-off chat capture could not land; the charge is lost');
          throw ApplicationFailure.nonRetryable(error.message, error.name);
        }
        throw error;
      }
    },

    async findHoldsOfLapsedLeases(args: { limit: number }): Promise<LapsedHold[]> {
      return findHoldsOfLapsedLeases(services.db, args.limit);
    },

    /** Of these holds, those whose capture was not handed to a workflow: their charge is owed, so they stay. */
    async withoutHandedOffCapture(args: { holds: LapsedHold[] }): Promise<LapsedHold[]> {
      const handed = await Promise.all(args.holds.map((h) => captureHandedOff(services.temporal.client, h.holdId)));
      return args.holds.filter((_, i) => !handed[i]);
    },

    /** Releasing a hold that got settled meanwhile changes nothing, so a retry or a race is harmless. */
    async releaseHoldsOfLapsedLeases(args: { holds: LapsedHold[] }): Promise<number> {
      const results = await Promise.all(
        args.holds.map((h) => services.ledger.releaseHold({ holdId: h.holdId, accountId: h.accountId, status: 'released' })),
      );
      const released = results.filter((r) => !r.replayed).length;
      if (released) services.logger.warn({ released }, 'released the chat holds of a process that stopped renewing its lease');
      return released;
    },

    /**
     * A charge handed off by such a process still lands without its allowance, if the available
     * balance covers it (allowances.ts); releasing first is what never overdraws the customer.
     */
    async releaseAllowancesOfLapsedLeases(args: { limit: number }): Promise<number> {
      const released = await services.ledger.releaseLapsedAllowances(args.limit);
      if (released) services.logger.warn({ released }, 'released the chat allowances of a process that stopped renewing its lease');
      return released;
    },
  };
}
