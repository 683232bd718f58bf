import type { Request, Response } from 'express';
import { pipeline } from 'node:stream/promises';
import { httpStatusForFailure } from '../../generations/generation-failures.js';
import type { GenerationKind, HoldOutcome, StoredAssetRef } from '../../generations/generation-types.js';
import type { GenerationModel } from '../../pricing/catalog.js';
import {
  GenerationUnavailable,
  startGeneration,
  type GenerationRequest,
  type StartedGeneration,
} from '../../generations/generation-starter.js';
import type { Services } from '../../services.js';
import { authOf } from '../auth.js';
import { assertModelAvailable } from '../availability.js';
import { KeyLimitExceeded } from '../../ledger/errors.js';
import { budgetKeyOf } from '../../keys/key-budget.js';
import { ApiError, insufficientFunds, invalidRequest, keyLimitExceeded, notFound } from '../errors.js';
import { idempotencyKeyOf } from '../idempotency.js';

// What the image and video routes share: how a refused hold, a failed generation and an asset answer.

/** The catalog model the request names, if it makes this kind of asset: 404 when unknown, 400 when of another kind. */
export function generationModel(services: Pick<Services, 'catalog' | 'config'>, id: string, kind: GenerationKind): GenerationModel {
  const model = services.catalog.get(id);
  if (!model) throw new ApiError(404, 'invalid_request_error', 'model_not_found', `The model '${id}' does not exist.`, 'model');
  if (model.kind !== kind) throw invalidRequest(`The model '${id}' does not generate ${kind}s.`, 'model', 'invalid_value');
  assertModelAvailable(services, model);
  return model;
}

/** Who is asking, and under which request id and Idempotency-Key: the part of a generation request the route does not choose. */
export function callerOf(req: Request, res: Response): Pick<GenerationRequest, 'accountId' | 'apiKeyId' | 'budgetKeyId' | 'requestId' | 'idempotencyKey'> {
  const { accountId, apiKeyId, key } = authOf(res);
  return { accountId, apiKeyId, budgetKeyId: budgetKeyOf(key) ?? null, requestId: res.locals.requestId, idempotencyKey: idempotencyKeyOf(req) };
}

/** Temporal not confirming a hold is an outage that passes: say when to come back. */
const RETRY_SOON = { 'retry-after': '2' };

/** Starts the generation, answering 503 when Temporal could not confirm the hold (nothing is charged then). */
export async function startOrUnavailable(services: Services, req: GenerationRequest): Promise<StartedGeneration> {
  try {
    return await startGeneration(services, req);
  } catch (err) {
    if (!(err instanceof GenerationUnavailable)) throw err;
    services.logger.error({ err: err.cause, generationId: err.generationId }, 'generation could not be started');
    throw new ApiError(503, 'server_error', 'service_unavailable', 'The generation service is unavailable right now; nothing was charged. Please retry.', null, RETRY_SOON);
  }
}

/** Throws the API error for a hold that was not placed; returns when it was. */
export function assertHoldPlaced(hold: HoldOutcome | null): void {
  if (hold === null || hold.ok) return;
  if (hold.reason === 'insufficient_funds') throw insufficientFunds(BigInt(hold.availableNanos), BigInt(hold.requiredNanos));
  if (hold.reason === 'key_limit_exceeded') {
    throw keyLimitExceeded(new KeyLimitExceeded(hold.keyId, BigInt(hold.limitNanos), BigInt(hold.usedNanos), hold.limitReset));
  }
  throw new ApiError(503, 'server_error', 'service_unavailable', hold.message, null, RETRY_SOON);
}

export function generationFailed(error: { code: string; message: string } | null | undefined): ApiError {
  const code = error?.code ?? 'generation_failed';
  const status = httpStatusForFailure(code);
  return new ApiError(status, status < 500 ? 'invalid_request_error' : 'server_error', code, error?.message ?? 'The generation failed; nothing was charged.');
}

/** Streams a stored asset with its length, type and checksum. */
export async function sendAsset(services: Pick<Services, 'assets'>, res: Response, asset: StoredAssetRef): Promise<void> {
  const content = await services.assets.get(asset.key);
  if (!content) throw notFound('The file of this generation is no longer available.');
  res.status(200);
  res.setHeader('content-type', asset.contentType);
  res.setHeader('content-length', String(content.size));
  res.setHeader('etag', `"${asset.sha256}"`);
  res.setHeader('cache-control', 'private, max-age=3600');
  try {
    await pipeline(content.body, res);
  } catch {
    // The client went away mid-download (or the store failed): pipeline destroyed both ends, which
    // closes the file. A bare pipe() would have left the file open for as long as the process lives.
  }
}
