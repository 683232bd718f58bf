import { patched, proxyActivities } from '@temporalio/workflow';
import type { createChatActivities } from '../src/chat/chat-activities.js';
import type { createHoldSweepActivities } from '../src/generations/hold-sweep-activities.js';

type Activities = ReturnType<typeof createHoldSweepActivities> & ReturnType<typeof createChatActivities>;

const {
  expireOverdueHolds,
  findUnsettledGenerations,
  findClosedGenerationWorkflows,
  releaseAbandonedGenerations,
  findHoldsOfLapsedLeases,
  withoutHandedOffCapture,
  releaseHoldsOfLapsedLeases,
  releaseAllowancesOfLapsedLeases,
} = proxyActivities<Activities>({
  startToCloseTimeout: '2 minutes',
  heartbeatTimeout: '30 seconds',
  retry: { initialInterval: '2 seconds', maximumInterval: '30 seconds', maximumAttempts: 5 },
});

/**
 * The workflow type this function is registered under. It was first deployed as
 * `holdReconcilerWorkflow`; the `hold-reconciler` Schedule starts that type and recorded histories
 * carry it, so the type keeps its name (workflows/index.ts exports this function under it) and
 * clients start it by this string, never by the function (whose name would be the type).
 */
export const HOLD_SWEEP_WORKFLOW_TYPE = 'holdReconcilerWorkflow';

export interface HoldSweepInput {
  /** A generation younger than this is left alone: its workflow may be starting right now. */
  olderThanMs?: number;
  limit?: number;
}

export interface HoldSweepResult {
  expired: number;
  examined: number;
  abandoned: string[];
  released: number;
  /** Chat holds released because the process serving their request stopped renewing its lease. */
  releasedOfDeadProcesses: number;
  /** Chat allowances released because the process holding them stopped renewing its lease. */
  releasedAllowancesOfDeadProcesses: number;
}

/**
 * The hold sweep: never leak a hold. Run by the `hold-reconciler` Schedule: expires holds past their deadline, then
 * finds generations whose workflow closed without settling (terminated by an operator, say) and
 * releases their holds, then releases the chat holds of processes that died (their lease lapsed),
 * except those whose charge was handed to a capture workflow, and then their chat allowances. Each step is an activity, so every sweep and what it found shows in the Web UI.
 */
export async function holdSweepWorkflow(input: HoldSweepInput = {}): Promise<HoldSweepResult> {
  const expired = await expireOverdueHolds();
  const candidates = await findUnsettledGenerations({ olderThanMs: input.olderThanMs ?? 120_000, limit: input.limit ?? 200 });
  const abandoned = candidates.length ? await findClosedGenerationWorkflows({ generationIds: candidates }) : [];
  const released = abandoned.length ? await releaseAbandonedGenerations({ generationIds: abandoned }) : 0;
  // A sweep that started before process leases existed finishes as it began.
  let releasedOfDeadProcesses = 0;
  if (patched('release-holds-of-dead-processes')) {
    const lapsed = await findHoldsOfLapsedLeases({ limit: input.limit ?? 200 });
    const orphaned = lapsed.length ? await withoutHandedOffCapture({ holds: lapsed }) : [];
    releasedOfDeadProcesses = orphaned.length ? await releaseHoldsOfLapsedLeases({ holds: orphaned }) : 0;
  }
  // A sweep that started before chat allowances existed finishes as it began.
  const releasedAllowancesOfDeadProcesses = patched('release-allowances-of-dead-processes')
    ? await releaseAllowancesOfLapsedLeases({ limit: input.limit ?? 200 })
    : 0;
  return { expired, examined: candidates.length, abandoned, released, releasedOfDeadProcesses, releasedAllowancesOfDeadProcesses };
}
