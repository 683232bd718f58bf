import { log, proxyActivities } from '@temporalio/workflow';
import type { createLedgerActivities, LedgerAuditResult } from '../src/ledger/audit-activities.js';

const { reconcileLedger } = proxyActivities<ReturnType<typeof createLedgerActivities>>({
  startToCloseTimeout: '2 minutes',
  retry: { initialInterval: '5 seconds', maximumAttempts: 5 },
});

/**
 * Checks the ledger's invariants; run by a Schedule so every audit and its findings are visible
 * in the Temporal Web UI. A failed check is reported, not thrown: the books need a human.
 */
export async function ledgerAuditWorkflow(): Promise<LedgerAuditResult> {
  const result = await reconcileLedger();
  if (!result.ok) log.error('ledger invariants violated', { failedChecks: result.failedChecks.map((c) => c.name) });
  return result;
}
