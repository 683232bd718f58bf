/**
 * The reversal workflow's I/O (workflows/payment-reversal.ts), one thing each, all safe to repeat:
 * every balance change has a key `reversal:<id>:<step>` and is written with the reversal's row in
 * one transaction (OwedLedger), so a retried or duplicated step changes nothing twice.
 */
import type { Knex } from 'knex';
import type { Logger } from 'pino';
import { liftSuspension, suspendAccount } from '../accounts/suspension.js';
import { formatUsd } from '../ledger/money.js';
import type { OwedLedger } from '../ledger/owed.js';
import type { DepositMethod } from './deposit-repository.js';
import { InvalidWebhookSignature } from './payment-gateway.js';
import type { Payments } from './payment-services.js';
import type { SignedWebhook } from './deposit-types.js';
import { refundDelta, type ReversalSignal, toReversalSignal } from './reversal.js';
import type { ReversalStatus } from './reversal-repository.js';

/** The credited deposit a reversal is about, as matched with the provider's own records. */
export interface ReversalMatch {
  depositId: string;
  accountId: string;
  provider: 'stripe' | 'cryptomus';
  creditedNano: string;
}

export interface DisputeOpened {
  status: ReversalStatus;
  debitedNano: string;
  owedNano: string;
  /** Unix ms when the account's pending holds will all have settled; null when none were pending. */
  holdsSettleBy: number | null;
}

type Deps = { db: Knex; payments: Pick<Payments, 'gateways' | 'deposits' | 'reversals'>; owed: OwedLedger; logger: Logger };

export function createReversalActivities({ db, payments, owed, logger }: Deps) {
  const { deposits, reversals } = payments;

  return {
    /**
     * The reversal the signed webhook states, when its signature holds and it is about this
     * workflow's reversal; null otherwise (a forged or misdirected signal changes nothing).
     */
    async verifyReversal(req: { method: DepositMethod; reversalId: string; webhook: SignedWebhook }): Promise<ReversalSignal | null> {
      const gateway = payments.gateways[req.method];
      try {
        const event = gateway.parseReversal?.(req.webhook.body, { signature: req.webhook.signature, sourceIp: req.webhook.sourceIp, anyAge: true }) ?? null;
        if (event && event.reversalId === req.reversalId) return toReversalSignal(event);
        logger.warn({ reversalId: req.reversalId, about: event?.reversalId }, 'reversal signal about another reversal ignored');
        return null;
      } catch (err) {
        if (!(err instanceof InvalidWebhookSignature)) throw err;
        logger.warn({ reversalId: req.reversalId, reason: err.message }, 'reversal signal with an invalid webhook signature ignored');
        return null;
      }
    },

    /**
     * The credited deposit the payment belongs to: the provider says which checkout the payment
     * came from (Stripe: the session of the PaymentIntent; Cryptomus: the invoice uuid and order id
     * in the signed event), and that must be the checkout stored on the deposit. Null otherwise.
     */
    async matchReversal(req: { method: DepositMethod; paymentRef: string; depositId?: string }): Promise<ReversalMatch | null> {
      const gateway = payments.gateways[req.method];
      const ref = req.depositId ? { depositId: req.depositId, providerRef: req.paymentRef } : ((await gateway.paymentOf?.(req.paymentRef)) ?? null);
      const deposit = ref ? await deposits.get(ref.depositId) : null;
      if (!ref || !deposit || deposit.provider !== gateway.provider || deposit.providerRef !== ref.providerRef || deposit.creditedAmount === null) {
        logger.warn({ paymentRef: req.paymentRef, depositId: ref?.depositId, status: deposit?.status }, 'reversal matches no credited deposit of ours; ignored');
        return null;
      }
      return { depositId: deposit.id, accountId: deposit.accountId, provider: deposit.provider, creditedNano: deposit.creditedAmount.toString() };
    },

    /**
     * A dispute opened: suspends the account and takes the disputed amount back, from the available
     * credit as far as it goes and as money owed beyond, all in one transaction with the dispute's
     * row. A dispute already recorded (a duplicate, or created arriving after closed) changes nothing.
     */
    async openDispute(req: { reversalId: string; match: ReversalMatch; amountNano: string; providerStatus: string }): Promise<DisputeOpened> {
      const { match } = req;
      const existing = await reversals.get(req.reversalId);
      if (!existing || existing.status === 'open') {
        const amount = BigInt(req.amountNano);
        const reason = `dispute ${req.reversalId} of deposit ${match.depositId}`;
        await owed.debitUpTo(
          { accountId: match.accountId, amount, idempotencyKey: `reversal:${req.reversalId}:open`, reason, depositId: match.depositId, actor: match.provider },
          async (trx, applied) => {
            await reversals.insert(trx, { id: req.reversalId, kind: 'dispute', provider: match.provider, depositId: match.depositId, accountId: match.accountId, amount, reason: req.providerStatus }, applied);
            await suspendAccount(trx, match.accountId, reason);
          },
        );
      }
      const row = (await reversals.get(req.reversalId))!;
      const settleBy = row.status === 'open' && row.owed > 0n ? await owed.pendingHoldsSettleBy(match.accountId) : null;
      logger.info({ reversalId: row.id, accountId: match.accountId, debited: formatUsd(row.debited), owed: formatUsd(row.owed) }, 'dispute opened: account suspended');
      return { status: row.status, debitedNano: row.debited.toString(), owedNano: row.owed.toString(), holdsSettleBy: settleBy?.getTime() ?? null };
    },

    /** Takes what the dispute still has owed from credit that pending holds released since. */
    async collectOwed(req: { reversalId: string }): Promise<{ collectedNano: string }> {
      const row = await reversals.get(req.reversalId);
      if (!row || row.status !== 'open' || row.owed <= 0n) return { collectedNano: '0' };
      const r = await owed.collect(
        { accountId: row.accountId, idempotencyKey: `reversal:${row.id}:collect`, reason: `dispute ${row.id}: owed collected from released holds`, depositId: row.depositId, upTo: row.owed },
        (trx, applied) => reversals.addApplied(trx, row.id, applied),
      );
      return { collectedNano: r.debited.toString() };
    },

    /**
     * A dispute closed. Won: everything taken for it comes back (the debit, and owed that later
     * deposits paid) and what is still owed of it is cleared; the suspension is lifted unless another
     * dispute of the account is open. Lost: the money stays debited and the account suspended
     * until ops lift it (DELETE /admin/accounts/{id}/suspension).
     */
    async closeDispute(req: { reversalId: string; won: boolean }): Promise<{ status: ReversalStatus }> {
      const row = await reversals.get(req.reversalId);
      if (!row) throw new Error(`dispute ${req.reversalId} was never opened`);
      if (row.status !== 'open') return { status: row.status };
      if (!req.won) {
        await db.transaction(async (trx) => {
          await reversals.addApplied(trx, row.id, { debited: 0n, owed: 0n }, { status: 'lost' });
          await reversals.markDeposit(trx, row.depositId, 'dispute_lost');
        });
        return { status: 'lost' };
      }
      await owed.reverse(
        { accountId: row.accountId, debited: row.debited, owed: row.owed, idempotencyKey: `reversal:${row.id}:won`, reason: `dispute ${row.id} won: credit returned`, depositId: row.depositId, actor: row.provider },
        async (trx, applied) => {
          await reversals.addApplied(trx, row.id, { debited: applied.debited, owed: applied.owed }, { status: 'won' });
          await reversals.markDeposit(trx, row.depositId, 'dispute_won');
          if ((await reversals.openDisputesOf(trx, row.accountId, row.id)) === 0) await liftSuspension(trx, row.accountId);
        },
      );
      return { status: 'won' };
    },

    /**
     * A refund: debits what the cumulative refunded amount adds to earlier refunds of the payment
     * (capped at what the deposit credited), keyed by that cumulative amount, so duplicates and
     * late, smaller totals debit nothing. Refunds are ours (made in the dashboard): no suspension.
     */
    async applyRefund(req: { reversalId: string; match: ReversalMatch; cumulativeNano: string }): Promise<{ debitedNano: string; owedNano: string }> {
      const { match } = req;
      const credited = BigInt(match.creditedNano);
      const row = await reversals.get(req.reversalId);
      const delta = refundDelta(BigInt(req.cumulativeNano), row?.amount ?? 0n, credited);
      if (delta === 0n) return { debitedNano: '0', owedNano: '0' };
      const total = (row?.amount ?? 0n) + delta;
      const reason = `refund of deposit ${match.depositId} (${formatUsd(total)} refunded in all)`;
      const r = await owed.debitUpTo(
        { accountId: match.accountId, amount: delta, idempotencyKey: `reversal:${req.reversalId}:${total}`, reason, depositId: match.depositId, actor: match.provider },
        async (trx, applied) => {
          if (row) await reversals.addApplied(trx, req.reversalId, applied, { amount: total });
          else await reversals.insert(trx, { id: req.reversalId, kind: 'refund', provider: match.provider, depositId: match.depositId, accountId: match.accountId, amount: total, reason }, applied);
        },
      );
      return { debitedNano: r.debited.toString(), owedNano: r.owed.toString() };
    },
  };
}
