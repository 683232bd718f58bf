/** How a crossing reaches its alert workflow, and the only place that workflow's id is spelled. */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { Services } from '../services.js';
import { AccountIdAttr, KindAttr } from '../temporal/search-attributes.js';
import { balanceAlertWorkflow } from '../../workflows/balance-alert.js';
import type { BalanceAlertInput } from './alert-types.js';
import type { Crossing } from './balance-thresholds.js';

export const balanceAlertWorkflowId = (accountId: string, seq: bigint | number | string): string => `balance-alert-${accountId}-${seq}`;
export const autoTopupFailedAlertWorkflowId = (accountId: string, seq: bigint | number | string): string => `auto-topup-failed-alert-${accountId}-${seq}`;

/** Starts the crossing's alert; a crossing already started (by another worker, or before a crash) is left as it is. */
export async function startBalanceAlert(services: Pick<Services, 'temporal'>, c: Crossing): Promise<void> {
  await startAlert(services, balanceAlertWorkflowId(c.accountId, c.seq), {
    accountId: c.accountId,
    seq: c.seq.toString(),
    availableNano: c.available.toString(),
    thresholdNano: c.threshold.toString(),
    created: Math.floor(c.createdAt.getTime() / 1000),
  });
}

/** Tells the customer's alert webhook (if set) that auto top-up stopped after a declined charge of this crossing. */
export async function startAutoTopupFailedAlert(services: Pick<Services, 'temporal'>, input: BalanceAlertInput): Promise<void> {
  await startAlert(services, autoTopupFailedAlertWorkflowId(input.accountId, input.seq), { ...input, type: 'auto_topup.failed' });
}

async function startAlert(services: Pick<Services, 'temporal'>, workflowId: string, input: BalanceAlertInput): Promise<void> {
  try {
    await services.temporal.client.workflow.start(balanceAlertWorkflow, {
      workflowId,
      taskQueue: services.temporal.taskQueue,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      args: [input],
      typedSearchAttributes: [
        { key: AccountIdAttr, value: input.accountId },
        { key: KindAttr, value: 'balance_alert' },
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
