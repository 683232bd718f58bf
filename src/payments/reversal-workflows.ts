/**
 * How the API reaches reversal workflows: every verified dispute or refund webhook is handed over
 * with signal-with-start under a business id, so the first event starts the run, later ones join
 * it, and an event for a run that already ended starts a new run (whose steps replay as no-ops).
 */
import type { Services } from '../services.js';
import { KindAttr, StatusAttr } from '../temporal/search-attributes.js';
import { paymentReversalWorkflow, reversalEventSignal, type ReversalWorkflowInput } from '../../workflows/payment-reversal.js';
import type { DepositMethod } from './deposit-repository.js';
import type { SignedWebhook } from './deposit-types.js';
import { type ReversalEvent, toReversalSignal } from './reversal.js';
import { withCallDeadline } from '../temporal/call-deadline.js';

const kindOf = (e: ReversalEvent): ReversalWorkflowInput['kind'] => (e.kind === 'refund' ? 'refund' : 'dispute');

/** `dispute-du_…` / `refund-refund-pi_…` reads oddly, so refunds keep their own id as is. */
export const reversalWorkflowId = (kind: ReversalWorkflowInput['kind'], reversalId: string): string =>
  kind === 'dispute' ? `dispute-${reversalId}` : reversalId;

const SIGNAL_DEADLINE_MS = 5_000;

export async function deliverReversal(services: Services, method: DepositMethod, event: ReversalEvent, webhook: SignedWebhook): Promise<void> {
  const kind = kindOf(event);
  const client = services.temporal.client;
  // Fail fast when Temporal is unreachable: an unanswered webhook is redelivered by the provider.
  await withCallDeadline(client, Date.now() + SIGNAL_DEADLINE_MS, () =>
    client.workflow.signalWithStart(paymentReversalWorkflow, {
      workflowId: reversalWorkflowId(kind, event.reversalId),
      taskQueue: services.temporal.taskQueue,
      args: [{ reversalId: event.reversalId, kind, method }],
      typedSearchAttributes: [
        { key: KindAttr, value: kind },
        { key: StatusAttr, value: 'received' },
      ],
      signal: reversalEventSignal,
      signalArgs: [{ ...toReversalSignal(event), webhook }],
    }),
  );
}
