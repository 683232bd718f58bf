import type { Services } from '../services.js';
import { auditLedger } from './audit.js';

export interface LedgerAuditResult {
  ok: boolean;
  accounts: number;
  failedChecks: { name: string; examples: Record<string, unknown>[] }[];
}

export function createLedgerActivities(services: Pick<Services, 'db' | 'ledger' | 'logger'>) {
  return {
    /**
     * The audit (src/ledger/audit.ts). Read-only, so any number of retries is harmless. The name is
     * the activity type recorded in running and past ledgerAuditWorkflow histories: it stays.
     */
    async reconcileLedger(): Promise<LedgerAuditResult> {
      const report = await auditLedger(services.db);
      const failedChecks = report.checks.filter((c) => !c.ok).map((c) => ({ name: c.name, examples: c.discrepancies.slice(0, 5) }));
      if (failedChecks.length) services.logger.error({ failedChecks }, 'ledger audit found discrepancies');
      return { ok: report.ok, accounts: report.accounts, failedChecks };
    },
  };
}
