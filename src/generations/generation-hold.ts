import { generationHoldKey } from './generation-client.js';
import { GenerationRepository } from './generation-repository.js';
import type { GenerationFailure, HoldOutcome } from './generation-types.js';
import { limitedKey } from '../keys/key-budget.js';
import { InsufficientFunds, KeyLimitExceeded } from '../ledger/index.js';
import type { Services } from '../services.js';

export interface GenerationHoldArgs {
  generationId: string;
  accountId: string;
  requestId: string;
  /** The calling key when it has a spend limit; null when it has none; absent when the caller does not know (old runs). */
  budgetKeyId?: string | null;
  amountNanos: string;
  ttlMs: number;
  /** The placing process's lease (the API's, for a video): if the process dies before the workflow starts, the lease frees the hold. */
  leaseId?: string;
}

/**
 * The $0.21 × n hold of one generation, under a key derived from its id: placed by the API for a video
 * (under the API process's lease, then its workflow starts and adopts it) and by the workflow itself for
 * an image. Placing it twice finds the first; a refusal closes the generation as rejected.
 */
export function createGenerationHolds(services: Pick<Services, 'db' | 'ledger'>) {
  const generations = new GenerationRepository(services.db);

  /** The generation's key when it has a spend limit, so that the hold counts against it (see key-budget.ts). */
  async function budgetKeyOf(generationId: string) {
    const apiKeyId = (await generations.get(generationId))?.apiKeyId;
    return apiKeyId ? limitedKey(services.db, apiKeyId) : undefined;
  }

  /**
   * Releases whatever hold the key names (if any) and closes the generation as failed, in one
   * transaction. A hold already captured stays so, and its generation is not called failed.
   */
  async function release(generationId: string, failure: GenerationFailure): Promise<void> {
    await services.db.transaction(async (trx) => {
      const released = await services.ledger.releaseHoldByKey(generationHoldKey(generationId), trx);
      if (released?.value.status === 'captured') return;
      await generations.settle(trx, generationId, { status: 'failed', holdId: released?.value.id ?? null, cost: 0n, assets: [], error: failure });
    });
  }

  return {
    async place(args: GenerationHoldArgs): Promise<HoldOutcome> {
      try {
        const { value, replayed } = await services.ledger.placeHold({
          accountId: args.accountId,
          amount: BigInt(args.amountNanos),
          idempotencyKey: generationHoldKey(args.generationId),
          purpose: 'generation',
          generationId: args.generationId,
          requestId: args.requestId,
          apiKeyId: args.budgetKeyId === undefined ? await budgetKeyOf(args.generationId) : (args.budgetKeyId ?? undefined),
          expiresAt: new Date(Date.now() + args.ttlMs),
          ...(args.leaseId && { leaseId: args.leaseId }),
        });
        if (!replayed) return { ok: true, holdId: value.id };
        // Found again. By the workflow (a video's, placed by the API): it settles the hold from now on, so
        // the API's lease must no longer free it. A hold the lease already freed (the API died and no worker
        // took the run in time) cannot be used: the generation ends before the provider is asked.
        const usable = value.status === 'pending' && (args.leaseId !== undefined || (await services.ledger.adoptHold(value.id)));
        if (usable) return { ok: true, holdId: value.id };
        const failure = { code: 'unavailable', message: 'The generation waited too long to start and its hold was released; nothing was charged. Please retry.' };
        await release(args.generationId, failure);
        return { ok: false, reason: 'unavailable', message: failure.message };
      } catch (err) {
        if (err instanceof InsufficientFunds) {
          await generations.markRejected(args.generationId);
          return { ok: false, reason: 'insufficient_funds', availableNanos: err.available.toString(), requiredNanos: err.required.toString() };
        }
        if (err instanceof KeyLimitExceeded) {
          await generations.markRejected(args.generationId, undefined, 'key_limit_exceeded');
          return { ok: false, reason: 'key_limit_exceeded', keyId: err.keyId, limitNanos: err.limit.toString(), usedNanos: err.used.toString(), limitReset: err.reset };
        }
        throw err;
      }
    },

    release,
  };
}
