/** How a crossing of the auto top-up threshold reaches its workflow, and the only place its id is spelled. */
import { WorkflowExecutionAlreadyStartedError } from '@temporalio/client';
import { WorkflowIdReusePolicy } from '@temporalio/common';
import type { Crossing } from '../alerts/balance-thresholds.js';
import type { Services } from '../services.js';
import { AccountIdAttr, KindAttr } from '../temporal/search-attributes.js';
import { autoTopupWorkflow } from '../../workflows/auto-topup.js';

export const autoTopupWorkflowId = (accountId: string, seq: bigint | number | string): string => `auto-topup-${accountId}-${seq}`;

/** Starts the crossing's top-up once: a second start of the same crossing (another worker, a retry) is refused by Temporal. */
export async function startAutoTopup(services: Pick<Services, 'temporal'>, c: Crossing): Promise<void> {
  try {
    await services.temporal.client.workflow.start(autoTopupWorkflow, {
      workflowId: autoTopupWorkflowId(c.accountId, c.seq),
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
        { key: KindAttr, value: 'auto_topup' },
      ],
    });
  } catch (err) {
    if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
  }
}
