import type { Services } from '../services.js';
import { reconcile } from './reconcile.js';

export interface LedgerAuditResult {
  ok: boolean;
  accounts: number;
  failedChecks: { name: string; examples: Record<string, unknown>[] }[];
}

export function createLedgerActivities(services: Pick<Services, 'db' | 'ledger' | 'logger'>) {
  return {
    /** Read-only, so any number of retries is harmless. */
    async reconcileLedger(): Promise<LedgerAuditResult> {
      const report = await reconcile(services.db);
      const failedChecks = report.checks.filter((c) => !c.ok).map((c) => ({ name: c.name, examples: c.discrepancies.slice(0, 5) }));
      if (failedChecks.length) services.logger.error({ failedChecks }, 'ledger reconcile found discrepancies');
      return { ok: report.ok, accounts: report.accounts, failedChecks };
    },
  };
}
