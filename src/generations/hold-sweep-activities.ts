import { Context } from '@temporalio/activity';
import { WorkflowNotFoundError, type WorkflowExecutionStatusName } from '@temporalio/client';
import type { Services } from '../services.js';
import { generationHoldKey, generationWorkflowId } from './generation-client.js';
import { GenerationRepository } from './generation-repository.js';

const OPEN_WORKFLOW: WorkflowExecutionStatusName[] = ['RUNNING', 'PAUSED', 'UNSPECIFIED', 'UNKNOWN'];

/**
 * The hold sweep's steps (workflows/hold-sweep.ts): expire overdue holds, then find generations whose
 * workflow closed without settling and release their holds. Apart from the generation activities because
 * it runs on a Schedule, not per generation, and is the one place that asks Temporal about other workflows.
 */
export function createHoldSweepActivities(services: Pick<Services, 'db' | 'ledger' | 'logger' | 'temporal'>) {
  const generations = new GenerationRepository(services.db);
  return {
    async expireOverdueHolds(): Promise<number> {
      return services.ledger.expireHolds(new Date());
    },

    /** Open generations (and pending generation holds) older than the grace period: candidates for the sweep. */
    async findUnsettledGenerations(args: { olderThanMs: number; limit: number }): Promise<string[]> {
      const cutoff = new Date(Date.now() - args.olderThanMs);
      const [open, held] = await Promise.all([generations.findUnsettled(cutoff, args.limit), services.ledger.pendingGenerationHolds(cutoff, args.limit)]);
      return [...new Set([...open, ...held])].slice(0, args.limit);
    },

    /** Which of these generations' workflows have closed (or never existed). Unknown answers count as open. */
    async findClosedGenerationWorkflows(args: { generationIds: string[] }): Promise<string[]> {
      const closed: string[] = [];
      for (const id of args.generationIds) {
        try {
          const info = await services.temporal.client.workflow.getHandle(generationWorkflowId(id)).describe();
          if (!OPEN_WORKFLOW.includes(info.status.name)) closed.push(id);
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) closed.push(id);
          else services.logger.warn({ err, generationId: id }, 'could not describe generation workflow; will look again next run');
        }
        Context.current().heartbeat();
      }
      return closed;
    },

    /** Closes generations whose workflow ended without settling: releases the hold, charges nothing. */
    async releaseAbandonedGenerations(args: { generationIds: string[] }): Promise<number> {
      let released = 0;
      for (const generationId of args.generationIds) {
        await services.db.transaction(async (trx) => {
          const hold = await services.ledger.releaseHoldByKey(generationHoldKey(generationId), trx);
          if (hold && !hold.replayed) {
            released++;
            services.logger.warn({ generationId, holdId: hold.value.id }, 'released the hold of an abandoned generation');
          }
          await generations.settle(trx, generationId, {
            status: 'failed',
            holdId: hold?.value.id ?? null,
            cost: 0n,
            assets: [],
            error: { code: 'abandoned', message: 'The generation stopped without finishing; its hold was released and nothing was charged.' },
          });
        });
      }
      return released;
    },
  };
}
