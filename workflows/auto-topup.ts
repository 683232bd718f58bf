import { ActivityFailure, patched, proxyActivities, proxyLocalActivities } from '@temporalio/workflow';
import type { createAutoTopupActivities } from '../src/payments/auto-topup-activities.js';
import type { AutoTopupInput, AutoTopupResult } from '../src/payments/auto-topup-types.js';

type Activities = ReturnType<typeof createAutoTopupActivities>;

// Keyed database steps, local to the worker like the deposit's.
const db = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds' },
});
// The charge carries an idempotency key per deposit, so a retry after a lost answer replays it
// instead of charging again; a decline is an answer, never retried.
const provider = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '5 minutes', maximumAttempts: 10 },
});

// A charge that answered `pending` is read again with backoff until it settles; after a week it is
// left to ops (the deposit stays open, nothing credited) rather than guessed.
const settling = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '7 days',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 hour' },
});

/**
 * One auto top-up, for one crossing of the account's auto top-up threshold: open the deposit,
 * charge the saved card off-session, credit it (or, on a decline, stop auto top-up and alert).
 * Workflow id `auto-topup-<account>-<crossing>` (auto-topup-client.ts): one run per crossing.
 */
export async function autoTopupWorkflow(input: AutoTopupInput): Promise<AutoTopupResult> {
  const deposit = await db.openAutoTopupDeposit(input);
  if (!deposit) return { outcome: 'skipped' };
  let charge = await provider.chargeAutoTopup(deposit);
  const { depositId } = deposit;
  if (charge.outcome === 'pending' && patched('auto-topup-await-pending-charge')) {
    try {
      charge = await settling.awaitAutoTopupCharge({ paymentRef: charge.paymentRef });
    } catch (err) {
      if (!(err instanceof ActivityFailure)) throw err;
    }
  }
  switch (charge.outcome) {
    case 'succeeded':
      await db.creditAutoTopup({ depositId, accountId: input.accountId, paymentRef: charge.paymentRef, amountNano: charge.amountNano, receiptUrl: charge.receiptUrl });
      return { outcome: 'credited', depositId };
    case 'declined':
      await db.declineAutoTopup({ crossing: input, depositId, paymentRef: charge.paymentRef, code: charge.code, message: charge.message });
      return { outcome: 'declined', depositId };
    case 'pending':
      return { outcome: 'pending', depositId };
  }
}
