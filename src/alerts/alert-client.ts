/** How a crossing reaches its alert workflow, and the only place that workflow's id is spelled. */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { Services } from '../services.js';
import { AccountIdAttr, KindAttr } from '../temporal/search-attributes.js';
import { balanceAlertWorkflow } from '../../workflows/balance-alert.js';
import type { Crossing } from './balance-thresholds.js';

export const balanceAlertWorkflowId = (accountId: string, seq: bigint | number | string): string => `balance-alert-${accountId}-${seq}`;

/** Starts the crossing's alert; a crossing already started (by another worker, or before a crash) is left as it is. */
export async function startBalanceAlert(services: Pick<Services, 'temporal'>, c: Crossing): Promise<void> {
  try {
    await services.temporal.client.workflow.start(balanceAlertWorkflow, {
      workflowId: balanceAlertWorkflowId(c.accountId, c.seq),
      taskQueue: services.temporal.taskQueue,
      workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
      args: [
        {
          accountId: c.accountId,
          seq: c.seq.toString(),
          availableNano: c.available.toString(),
          thresholdNano: c.threshold.toString(),
          created: Math.floor(c.createdAt.getTime() / 1000),
        },
      ],
      typedSearchAttributes: [
        { key: AccountIdAttr, value: c.accountId },
        { key: KindAttr, value: 'balance_alert' },
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
