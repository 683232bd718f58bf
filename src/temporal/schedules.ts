import { ScheduleAlreadyRunning, type Client } from '@temporalio/client';
import { HOLD_SWEEP_WORKFLOW_TYPE } from '../../workflows/hold-sweep.js';

export interface ScheduleSpec {
  scheduleId: string;
  workflowType: string;
  every: string;
  memo?: string;
}

/** Schedules the service needs; each area appends its own entry. */
export const SCHEDULES: ScheduleSpec[] = [
  { scheduleId: 'ledger-audit', workflowType: 'ledgerAuditWorkflow', every: '1 hour', memo: 'Checks every ledger invariant' },
  // The hold sweep; its Schedule id and workflow type keep the names they were first deployed under.
  { scheduleId: 'hold-reconciler', workflowType: HOLD_SWEEP_WORKFLOW_TYPE, every: '1 minute', memo: 'Expires overdue holds; releases holds of generations whose workflow closed unsettled and chat holds of dead processes' },
];

/** Creates missing schedules; an existing one is left as ops may have paused or tuned it. */
export async function ensureSchedules(client: Client, taskQueue: string, specs: ScheduleSpec[] = SCHEDULES): Promise<void> {
  for (const s of specs) {
    try {
      await client.schedule.create({
        scheduleId: s.scheduleId,
        spec: { intervals: [{ every: s.every }] },
        action: { type: 'startWorkflow', workflowType: s.workflowType, taskQueue, workflowId: `${s.scheduleId}` },
        policies: { overlap: 'SKIP', catchupWindow: '10 minutes' },
        memo: s.memo ? { description: s.memo } : undefined,
      });
    } catch (err) {
      if (!(err instanceof ScheduleAlreadyRunning)) throw err;
    }
  }
}
