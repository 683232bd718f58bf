import type { Config } from '../config.js';
import { newId } from '../ids.js';
import { IdempotencyConflict } from '../ledger/errors.js';
import type { GenerationModel } from '../pricing/catalog.js';
import type { Services } from '../services.js';
import { GenerationUnavailable, startGenerationWithHold, startHeldGeneration } from './generation-client.js';
import { createGenerationHolds } from './generation-hold.js';
import { GenerationRepository, type GenerationRecord } from './generation-repository.js';
import type { GenerationInput, GenerationKind, GenerationTiming, HoldOutcome, ImageParams, InputImageRef, VideoParams } from './generation-types.js';
import type { InputImage } from './input-images.js';
import type { AssetStore } from '../storage/asset-store.js';

export interface GenerationRequest {
  accountId: string;
  apiKeyId: string;
  /** The calling key when it has a spend limit (the hold counts against it), null when it has none. */
  budgetKeyId: string | null;
  requestId: string;
  idempotencyKey?: string;
  model: GenerationModel;
  prompt: string;
  count: number;
  /** What the client asked for, kept on the row (size, seconds, response_format, …). */
  requested: Record<string, unknown>;
  image?: ImageParams;
  video?: VideoParams;
  /** Uploaded images, already checked (input-images.ts): stored before the workflow starts, which gets their keys. */
  inputs?: InputImage[];
}

export interface StartedGeneration {
  record: GenerationRecord;
  /** The hold's outcome, or null when a replayed request finds the generation already finished. */
  hold: HoldOutcome | null;
}

export { GenerationUnavailable };

export function timingFor(settings: Config['generations'], kind: GenerationKind): GenerationTiming {
  const deadlineMs = (kind === 'image' ? settings.imageDeadlineSeconds : settings.videoDeadlineSeconds) * 1000;
  return {
    deadlineMs,
    pollIntervalMs: settings.pollIntervalSeconds * 1000,
    expectedMs: kind === 'image' ? 20_000 : 60_000,
    holdTtlMs: deadlineMs + 3_600_000,
    providerRetry: { initialIntervalMs: 2_000, maximumAttempts: 6 },
  };
}

/**
 * Records the generation, holds its price and starts its workflow; the caller learns synchronously
 * whether the hold was placed. An image's hold is placed inside its workflow by the update that starts
 * it (update-with-start: no hold without a workflow to settle it, and no answer without a worker). A
 * video's is placed here under this process's lease, then its workflow starts without waiting for a
 * worker and adopts the hold; a hold whose workflow never started is released here, or, if this process
 * dies first, by the hold sweep once the lease lapses (as a chat request's). A retried request
 * with the same Idempotency-Key lands on the same row, hold and workflow id.
 */
export async function startGeneration(services: Pick<Services, 'db' | 'ledger' | 'holdLease' | 'temporal' | 'config' | 'assets' | 'logger'>, req: GenerationRequest): Promise<StartedGeneration> {
  const generations = new GenerationRepository(services.db);
  const kind = req.model.kind;
  const { record, created } = await generations.create({
    id: newId(kind === 'video' ? 'video' : 'img'),
    accountId: req.accountId,
    apiKeyId: req.apiKeyId,
    kind,
    model: req.model.id,
    prompt: req.prompt,
    params: req.requested,
    n: req.count,
    requestId: req.requestId,
    idempotencyKey: req.idempotencyKey,
  });
  if (!created && (record.kind !== kind || record.model !== req.model.id || record.prompt !== req.prompt || record.n !== req.count)) {
    throw new IdempotencyConflict(req.idempotencyKey ?? record.id);
  }
  if (record.status === 'completed' || record.status === 'failed') return { record, hold: null };

  // Keys derived from the generation id: a retried request overwrites the same objects.
  const inputs = req.inputs?.length ? await storeInputs(services.assets, record.id, req.inputs) : undefined;
  const input: GenerationInput = {
    generationId: record.id,
    accountId: record.accountId,
    requestId: record.requestId ?? req.requestId,
    budgetKeyId: req.budgetKeyId,
    kind,
    model: req.model.id,
    upstreamModel: req.model.upstream_model,
    prompt: req.prompt,
    count: req.count,
    unitPriceNanos: req.model.per_generation_nanos.toString(),
    image: req.image,
    video: req.video,
    inputs,
    timing: timingFor(services.config.generations, kind),
  };
  let hold: HoldOutcome | null;
  try {
    hold = kind === 'video' ? await holdThenStart(services, input) : await startGenerationWithHold(services.temporal, input, holdWaitMs(services));
  } catch (err) {
    if (inputs) await discardInputs(services.assets, inputs);
    throw err;
  }
  // A refused hold ends the workflow before it reads them; a settled run (from then on) discards them itself.
  if (inputs && hold && !hold.ok) await discardInputs(services.assets, inputs);
  // Only a refusal changes the row (to rejected), and a finished run has settled it: read it again then.
  return { record: hold?.ok ? record : ((await generations.get(record.id)) ?? record), hold };
}

const holdWaitMs = (services: Pick<Services, 'config'>) => services.config.generations.holdWaitSeconds * 1000;

/** A video: the hold here, then the workflow that owns it; null when a run under this id already finished. */
async function holdThenStart(services: Pick<Services, 'db' | 'ledger' | 'holdLease' | 'temporal' | 'config' | 'logger'>, input: GenerationInput): Promise<HoldOutcome | null> {
  const holds = createGenerationHolds(services);
  const hold = await holds.place({
    generationId: input.generationId,
    accountId: input.accountId,
    requestId: input.requestId,
    budgetKeyId: input.budgetKeyId,
    amountNanos: (BigInt(input.unitPriceNanos) * BigInt(input.count)).toString(),
    ttlMs: input.timing.holdTtlMs,
    // Until the workflow adopts it, this process's lease frees the hold if the process dies before the start.
    leaseId: await services.holdLease.id(),
  });
  if (!hold.ok) return hold;
  try {
    return (await startHeldGeneration(services.temporal, input, holdWaitMs(services))) === 'started' ? hold : null;
  } catch (err) {
    if (err instanceof GenerationUnavailable) {
      // Released now rather than by the sweep minutes later; if the database is gone too, the sweep does it.
      await holds
        .release(input.generationId, { code: 'unavailable', message: 'The generation could not be started; nothing was charged. Please retry.' })
        .catch((releaseErr: unknown) => services.logger.warn({ err: releaseErr, generationId: input.generationId }, 'hold of an unstarted generation left to the sweep'));
    }
    throw err;
  }
}

async function storeInputs(assets: AssetStore, generationId: string, images: InputImage[]): Promise<InputImageRef[]> {
  return Promise.all(
    images.map(async (image, i) => {
      const key = `generations/${generationId}/inputs/${i}.${image.contentType.slice('image/'.length).replace('jpeg', 'jpg')}`;
      const stored = await assets.put(key, image.bytes, image.contentType);
      return { role: image.role, key: stored.key, contentType: image.contentType, size: stored.size };
    }),
  );
}

async function discardInputs(assets: AssetStore, inputs: InputImageRef[]): Promise<void> {
  await Promise.all(inputs.map((i) => assets.delete(i.key).catch(() => undefined)));
}
