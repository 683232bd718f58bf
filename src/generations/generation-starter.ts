import type { Config } from '../config.js';
import { newId } from '../ids.js';
import { IdempotencyConflict } from '../ledger/errors.js';
import type { GenerationModel } from '../pricing/catalog.js';
import type { Services } from '../services.js';
import { startGenerationWorkflow } from './generation-client.js';
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

export { GenerationUnavailable } from './generation-client.js';

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
 * Records the generation and starts its workflow with the hold-placing update in one call
 * (update-with-start), so the caller learns synchronously whether the hold was placed; the hold itself
 * is placed inside the workflow, so there can be no hold without a workflow to settle it. A retried
 * request with the same Idempotency-Key lands on the same row, workflow id and update id.
 */
export async function startGeneration(services: Pick<Services, 'db' | 'temporal' | 'config' | 'assets'>, req: GenerationRequest): Promise<StartedGeneration> {
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
    hold = await startGenerationWorkflow(services.temporal, input, services.config.generations.holdWaitSeconds * 1000);
  } catch (err) {
    if (inputs) await discardInputs(services.assets, inputs);
    throw err;
  }
  // A refused hold ends the workflow before it reads them; a settled run (from then on) discards them itself.
  if (inputs && hold && !hold.ok) await discardInputs(services.assets, inputs);
  // Only a refusal changes the row (to rejected), and a finished run has settled it: read it again then.
  return { record: hold?.ok ? record : ((await generations.get(record.id)) ?? record), hold };
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
