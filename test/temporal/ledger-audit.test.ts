import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ledgerAuditWorkflow } from '../../workflows/index.js';
import { startHarness, type Harness } from '../support/harness.js';

describe('ledger audit workflow on the real Temporal server', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness();
  });
  afterAll(async () => h?.close());

  it('runs the audit activity through a worker and reports balanced books', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '12.50' });
    const result = await h.services.temporal.client.workflow.execute(ledgerAuditWorkflow, {
      taskQueue: h.services.temporal.taskQueue,
      workflowId: `ledger-audit-test-${accountId}`,
    });
    expect(result).toEqual({ ok: true, accounts: 1, failedChecks: [] });
  });

  it('reports a discrepancy when a balance is changed behind the ledger', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '1.00' });
    await h.services.db('accounts').where({ id: accountId }).increment('balance', 1);
    const result = await h.services.temporal.client.workflow.execute(ledgerAuditWorkflow, {
      taskQueue: h.services.temporal.taskQueue,
      workflowId: `ledger-audit-test-tampered-${accountId}`,
    });
    expect(result.ok).toBe(false);
    expect(result.failedChecks.map((c) => c.name)).toContain('balance_equals_entries');
    await h.services.db('accounts').where({ id: accountId }).decrement('balance', 1);
    await h.expectBooksBalanced();
  });
});
