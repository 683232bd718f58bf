/**
 * How the service reaches deposit workflows, and the only place their id is spelled:
 * start-and-wait-for-the-checkout (update-with-start), deliver-a-payment-event (signal-with-start,
 * so an event for a workflow that is not running, e.g. after a crash between insert and start,
 * starts it instead of being lost), and the status query and final result.
 */
import { WithStartWorkflowOperation, WorkflowUpdateFailedError } from '@temporalio/client';
import type { Services } from '../services.js';
import { AccountIdAttr, KindAttr, StatusAttr } from '../temporal/search-attributes.js';
import { checkoutReadyUpdate, depositStatusQuery, depositWorkflow, paymentEventSignal } from '../../workflows/deposit.js';
import { formatUsd } from '../ledger/money.js';
import type { Deposit } from './deposit-repository.js';
import { toDepositEvent } from './payment-event.js';
import { isFinalStatus } from './deposit-status.js';
import type { CheckoutInfo, DepositResult, DepositView, DepositWorkflowInput, PaymentEventPayload } from './deposit-types.js';
import { withCallDeadline } from '../temporal/call-deadline.js';

export const depositWorkflowId = (depositId: string): string => `deposit-${depositId}`;

/** Everything the workflow needs, derived from the stored deposit, so any start builds the same input. */
export function depositWorkflowInput(d: Deposit, services: Pick<Services, 'config'>): DepositWorkflowInput {
  const { publicUrl, deposits } = services.config;
  const back = `${publicUrl}/?deposit=${encodeURIComponent(d.id)}`;
  return {
    depositId: d.id,
    accountId: d.accountId,
    method: d.method,
    amountNano: d.amount.toString(),
    description: `Cheapa API credit: ${d.tier ?? 'top-up'} $${formatUsd(d.amount)}`,
    expiresAt: Math.floor(d.expiresAt!.getTime() / 1000),
    ...(d.coin ? { coin: d.coin } : {}),
    ...(d.network ? { network: d.network } : {}),
    successUrl: `${back}&checkout=success`,
    cancelUrl: `${back}&checkout=cancelled`,
    pollIntervalSeconds: deposits.pollIntervalSeconds,
    settleGraceSeconds: deposits.settleGraceSeconds,
    ...(d.saveCard ? { saveCard: true } : {}),
  };
}

function startOptions(d: Deposit, services: Services) {
  return {
    workflowId: depositWorkflowId(d.id),
    taskQueue: services.temporal.taskQueue,
    args: [depositWorkflowInput(d, services)] as [DepositWorkflowInput],
    typedSearchAttributes: [
      { key: AccountIdAttr, value: d.accountId },
      { key: KindAttr, value: 'deposit' },
      { key: StatusAttr, value: d.status },
    ],
  };
}

/** The provider refused to open the checkout: the deposit failed and was not started. */
export class CheckoutUnavailable extends Error {
  constructor(readonly depositId: string, readonly reason: string) {
    super(reason);
    this.name = 'CheckoutUnavailable';
  }
}

/** The workflow did not confirm its checkout in time (Temporal or the worker unavailable); it may still. */
export class DepositNotConfirmed extends Error {
  constructor(
    readonly depositId: string,
    override readonly cause: unknown,
    /** Repeating the request picks the deposit up (it carried an Idempotency-Key). */
    readonly resumable = false,
  ) {
    super(`deposit ${depositId} not confirmed: ${(cause as Error)?.message ?? String(cause)}`);
    this.name = 'DepositNotConfirmed';
  }
}

/** Longer than the workflow's own attempts at opening a checkout (about half a minute). */
/** How long a deposit POST waits for its checkout, counted from the request's start (clients give up at 60 s). */
export const CHECKOUT_WAIT_MS = 45_000;

/**
 * Starts the deposit's workflow (or joins the running one) and waits until its checkout exists, or
 * until `deadline` (epoch ms): a caller that already spent time (a slow database) passes its own.
 */
export async function openDepositCheckout(services: Services, d: Deposit, deadline = Date.now() + CHECKOUT_WAIT_MS): Promise<CheckoutInfo> {
  const startWorkflowOperation = new WithStartWorkflowOperation(depositWorkflow, {
    ...startOptions(d, services),
    workflowIdConflictPolicy: 'USE_EXISTING',
  });
  const client = services.temporal.client;
  try {
    return await withCallDeadline(client, deadline, () =>
      client.workflow.executeUpdateWithStart(checkoutReadyUpdate, { startWorkflowOperation }),
    );
  } catch (err) {
    if (err instanceof WorkflowUpdateFailedError) {
      throw new CheckoutUnavailable(d.id, (err.cause as Error | undefined)?.message ?? err.message);
    }
    throw new DepositNotConfirmed(d.id, err);
  }
}

/**
 * Hands a verified provider event to the deposit, with the signed webhook it was read from: the
 * workflow believes a signal only after verifying that signature again (payment-proof.ts), since
 * any Temporal client can signal it. A deposit that already ended only records it;
 * money reported for a deposit that ended without credit goes to review rather than being lost.
 */
export async function deliverPaymentEvent(services: Services, d: Deposit, signal: PaymentEventPayload): Promise<void> {
  const repo = services.payments.deposits;
  if (isFinalStatus(d.status)) {
    const ev = toDepositEvent(signal, `arrived after the deposit was ${d.status}`);
    if (signal.kind === 'paid' && d.status !== 'credited') await repo.flagForReview(d.id, ev);
    else await repo.recordEvent(d.id, ev);
    return;
  }
  // Fail fast when Temporal is unreachable: an unanswered webhook is redelivered by the provider.
  const client = services.temporal.client;
  await withCallDeadline(client, Date.now() + SIGNAL_DEADLINE_MS, () =>
    client.workflow.signalWithStart(depositWorkflow, {
      ...startOptions(d, services),
      signal: paymentEventSignal,
      signalArgs: [signal],
    }),
  );
}

const SIGNAL_DEADLINE_MS = 5_000;

/** What the deposit's workflow reports now (its status query). */
export function queryDeposit(services: Pick<Services, 'temporal'>, depositId: string): Promise<DepositView> {
  return services.temporal.client.workflow.getHandle(depositWorkflowId(depositId)).query(depositStatusQuery);
}

/** The deposit workflow's result: resolves when the deposit has ended, however it ended. */
export function depositResult(services: Pick<Services, 'temporal'>, depositId: string): Promise<DepositResult> {
  return services.temporal.client.workflow.getHandle(depositWorkflowId(depositId)).result();
}
