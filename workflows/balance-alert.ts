import { ActivityFailure, log, proxyActivities } from '@temporalio/workflow';
import type { createAlertActivities } from '../src/alerts/alert-activities.js';
import type { BalanceAlertInput, BalanceAlertResult } from '../src/alerts/alert-types.js';

// The receiver may be down for a while: retried with backoff for up to three days, like Stripe's
// own webhooks; a URL the policy refuses is not retried (WebhookUrlRefused is non-retryable).
const delivery = proxyActivities<ReturnType<typeof createAlertActivities>>({
  startToCloseTimeout: '30 seconds',
  scheduleToCloseTimeout: '3 days',
  retry: { initialInterval: '2 seconds', backoffCoefficient: 2, maximumInterval: '1 hour' },
});

/**
 * One low-balance crossing announced to the customer's webhook. Workflow id
 * `balance-alert-<account>-<crossing>` (alert-client.ts): one run per crossing, whoever starts it.
 */
export async function balanceAlertWorkflow(input: BalanceAlertInput): Promise<BalanceAlertResult> {
  try {
    return await delivery.deliverBalanceAlert(input);
  } catch (err) {
    if (!(err instanceof ActivityFailure)) throw err;
    log.warn('balance alert abandoned', { accountId: input.accountId, seq: input.seq, error: err.cause?.message ?? err.message });
    return { outcome: 'abandoned' };
  }
}
