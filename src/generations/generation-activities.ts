import { ApplicationFailure, Context } from '@temporalio/activity';
import { createGenerationHolds, type GenerationHoldArgs } from './generation-hold.js';
import { progressEstimate } from './generation-params.js';
import { GenerationRepository } from './generation-repository.js';
import type {
  GenerationFailure,
  HoldOutcome,
  InputImageRef,
  StoredAssetRef,
  VideoParams,
} from './generation-types.js';
import { AccountNotFound, HoldNotPending, PostgresLedger } from '../ledger/index.js';
import { GenerationRefused, MediaProviderError } from '../providers/media/failures.js';
import type { Services } from '../services.js';

const HEARTBEAT_EVERY_MS = 5_000;

export interface SettleArgs {
  generationId: string;
  holdId: string;
  captureNanos: string;
  assets: StoredAssetRef[];
  failure?: GenerationFailure;
  /** The caller's uploads, deleted once the outcome is written: nothing reads them after. */
  inputs?: InputImageRef[];
}

export interface SettleOutcome {
  status: 'completed' | 'failed';
  chargedNanos: string;
  error?: GenerationFailure;
}

export type VideoCheck =
  | { state: 'running' }
  | { state: 'done' }
  | { state: 'refused'; reason: string; message: string }
  | { state: 'failed'; code: string; message: string; retryable: boolean };

/** The activities of generationWorkflow: each does one I/O step and is safe to repeat. */
export function createGenerationActivities(services: Pick<Services, 'db' | 'ledger' | 'media' | 'assets'>) {
  const generations = new GenerationRepository(services.db);
  const holds = createGenerationHolds(services);

  // Settling writes the money movement and the generation's outcome in one transaction: both or neither.
  async function settle(args: SettleArgs): Promise<SettleOutcome> {
    const outcome = await settleInOneTransaction(args);
    await discardInputs(args.inputs);
    return outcome;
  }

  async function discardInputs(inputs: InputImageRef[] | undefined): Promise<void> {
    await Promise.all((inputs ?? []).map((i) => services.assets.delete(i.key)));
  }

  /** An upload the workflow names, back as bytes; gone (discarded, lost) means the generation cannot go on. */
  async function readInput(ref: InputImageRef): Promise<{ bytes: Buffer; mimeType: string }> {
    const content = await services.assets.get(ref.key);
    if (!content) throw ApplicationFailure.nonRetryable(`the uploaded image ${ref.key} is missing`, 'ProviderRejected', 'input_missing');
    const chunks: Buffer[] = [];
    for await (const chunk of content.body) chunks.push(chunk as Buffer);
    return { bytes: Buffer.concat(chunks), mimeType: ref.contentType };
  }

  async function settleInOneTransaction(args: SettleArgs): Promise<SettleOutcome> {
    const amount = BigInt(args.captureNanos);
    return services.db.transaction(async (trx) => {
      const ledger = new PostgresLedger(trx);
      let failure = args.failure;
      if (!failure && amount > 0n) {
        try {
          await ledger.captureHold({ holdId: args.holdId, amount, kind: 'generation_capture' });
          await generations.settle(trx, args.generationId, { status: 'completed', holdId: args.holdId, cost: amount, assets: args.assets });
          return { status: 'completed', chargedNanos: amount.toString() };
        } catch (err) {
          if (!(err instanceof HoldNotPending)) throw err;
          failure = { code: 'hold_expired', message: 'The generation outlived its hold, so it was not delivered; nothing was charged.' };
        }
      }
      failure ??= { code: 'provider_error', message: 'The generation produced nothing; nothing was charged.' };
      await ledger.releaseHold({ holdId: args.holdId });
      await generations.settle(trx, args.generationId, { status: 'failed', holdId: args.holdId, cost: 0n, assets: [], error: failure });
      return { status: 'failed', chargedNanos: '0', error: failure };
    });
  }

  return {
    /** Local activity on the API's critical path (an image's). A retry finds the hold by its key instead of placing a second. */
    async placeGenerationHold(args: GenerationHoldArgs): Promise<HoldOutcome> {
      try {
        return await holds.place(args);
      } catch (err) {
        if (err instanceof AccountNotFound) throw ApplicationFailure.nonRetryable(err.message, 'AccountNotFound');
        throw err;
      }
    },

    /** Releases whatever hold the key names (if any) and closes the generation as failed. */
    async releaseGenerationHold(args: { generationId: string; failure: GenerationFailure; inputs?: InputImageRef[] }): Promise<void> {
      await holds.release(args.generationId, args.failure);
      await discardInputs(args.inputs);
    },

    /** One image: provider call, then the bytes into the asset store under a key a retry overwrites. */
    async generateImage(args: { generationId: string; index: number; model: string; prompt: string; aspectRatio?: string; imageSize?: string; inputs?: InputImageRef[] }): Promise<StoredAssetRef> {
      const inputs = args.inputs ?? [];
      const images = await Promise.all(inputs.filter((i) => i.role === 'image').map(readInput));
      const maskRef = inputs.find((i) => i.role === 'mask');
      const mask = maskRef ? await readInput(maskRef) : undefined;
      const image = await whileHeartbeating((signal) =>
        services.media.generateImage(
          { model: args.model, prompt: args.prompt, aspectRatio: args.aspectRatio, imageSize: args.imageSize, ...(images.length ? { images } : {}), ...(mask ? { mask } : {}) },
          { signal },
        ),
      );
      const key = `generations/${args.generationId}/${args.index}.${extensionFor(image.mimeType)}`;
      const stored = await services.assets.put(key, image.bytes, image.mimeType);
      return { index: args.index, key: stored.key, size: stored.size, sha256: stored.sha256, contentType: image.mimeType };
    },

    /**
     * Submits the video job. The provider takes no idempotency key, so a retry after a lost answer may
     * start a second job upstream; only the one whose handle we keep is ever used or billed.
     */
    async submitVideo(args: { model: string; prompt: string; firstFrame?: InputImageRef } & VideoParams): Promise<string> {
      const { firstFrame, ...request } = args;
      const frame = firstFrame ? await readInput(firstFrame) : undefined;
      try {
        return await services.media.startVideo({ ...request, ...(frame ? { firstFrame: frame } : {}) });
      } catch (err) {
        throw asActivityFailure(err);
      }
    },

    async checkVideo(args: { handle: string }): Promise<VideoCheck> {
      let job;
      try {
        job = await services.media.getVideoOperation(args.handle);
      } catch (err) {
        throw asActivityFailure(err);
      }
      return job.state === 'done' ? { state: 'done' } : job;
    },

    /**
     * One look at the video job, retried by Temporal until it is done (the infrequent-polling pattern):
     * "still running" is a retryable failure whose retry interval is the poll interval, so between looks
     * nothing runs, no worker slot is held and the workflow history does not grow; the activity's
     * schedule-to-close timeout is the generation's deadline. Each look also records the progress estimate.
     */
    async awaitVideo(args: { generationId: string; handle: string; expectedMs: number; pollIntervalMs: number }): Promise<void> {
      let job;
      try {
        job = await services.media.getVideoOperation(args.handle);
      } catch (err) {
        throw asActivityFailure(err);
      }
      if (job.state === 'done') return;
      if (job.state === 'refused') throw ApplicationFailure.nonRetryable(job.message, 'GenerationRefused', job.reason);
      if (job.state === 'failed') throw ApplicationFailure.nonRetryable(job.message, 'ProviderFailed', job.code);
      const info = Context.current().info;
      await generations.markProgress(args.generationId, progressEstimate(Date.now() - info.scheduledTimestampMs, args.expectedMs));
      throw ApplicationFailure.create({ message: 'the video is still rendering', type: 'VideoNotReady', nextRetryDelay: args.pollIntervalMs });
    },

    /** Fetches the finished job's video (inline or by download) and stores it; repeatable. */
    async storeVideo(args: { generationId: string; handle: string }): Promise<StoredAssetRef> {
      const video = await whileHeartbeating(async (signal) => {
        const job = await services.media.getVideoOperation(args.handle);
        if (job.state !== 'done') throw ApplicationFailure.nonRetryable(`video job is ${job.state}, not done`, 'ProviderFailed');
        return 'uri' in job.video ? services.media.downloadVideo(job.video.uri, { signal }) : job.video;
      });
      const key = `generations/${args.generationId}/video.${extensionFor(video.mimeType)}`;
      const stored = await services.assets.put(key, video.bytes, video.mimeType);
      return { index: 0, key: stored.key, size: stored.size, sha256: stored.sha256, contentType: video.mimeType };
    },

    async recordVideoStarted(args: { generationId: string; providerJob: string }): Promise<void> {
      await generations.markStarted(args.generationId, args.providerJob);
    },

    async recordVideoProgress(args: { generationId: string; progress: number }): Promise<void> {
      await generations.markProgress(args.generationId, args.progress);
    },

    async discardAssets(args: { keys: string[] }): Promise<void> {
      await Promise.all(args.keys.map((key) => services.assets.delete(key)));
    },

    settleGeneration: settle,
  };
}

/**
 * One long provider call: aborted when the activity is cancelled or reaches its own deadline, with the
 * heartbeat kept going meanwhile (a local activity has none: the worker keeps its workflow task alive).
 * The deadline is the activity's schedule-to-close time, the generation's deadline: the worker's timeout
 * of a local activity does not stop a call in flight, so the call must stop itself. Past it nothing is
 * retried (DeadlineExceeded), so the workflow settles at once as a timeout and the hold is released.
 */
async function whileHeartbeating<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const ctx = Context.current();
  const deadline = deadlineSignal(ctx.info);
  const signal = deadline ? AbortSignal.any([ctx.cancellationSignal, deadline]) : ctx.cancellationSignal;
  let timer: NodeJS.Timeout | undefined;
  if (!ctx.info.isLocal) {
    ctx.heartbeat();
    timer = setInterval(() => ctx.heartbeat(), HEARTBEAT_EVERY_MS);
  }
  try {
    if (deadline?.aborted) throw deadline.reason;
    return await call(signal);
  } catch (err) {
    if (deadline?.aborted && !ctx.cancellationSignal.aborted) {
      throw ApplicationFailure.nonRetryable('the provider did not answer before the deadline', 'DeadlineExceeded');
    }
    throw asActivityFailure(err);
  } finally {
    clearInterval(timer);
  }
}

// Longer than a timer can wait (setTimeout's limit): no deadline worth arming.
const LONGEST_TIMER_MS = 2 ** 31 - 1;

/** Fires at the activity's schedule-to-close time (none when it has no such timeout). */
function deadlineSignal(info: Context['info']): AbortSignal | undefined {
  if (!info.scheduleToCloseTimeoutMs) return undefined;
  const left = info.scheduledTimestampMs + info.scheduleToCloseTimeoutMs - Date.now();
  if (left > LONGEST_TIMER_MS) return undefined;
  return left > 0 ? AbortSignal.timeout(left) : AbortSignal.abort(new Error('the deadline has passed'));
}

/** Provider outcomes as Temporal failures: refusals and bad requests end the retries, outages do not. */
function asActivityFailure(err: unknown): unknown {
  if (err instanceof GenerationRefused) return ApplicationFailure.nonRetryable(err.message, 'GenerationRefused', err.reason);
  if (err instanceof MediaProviderError) {
    if (!err.retryable) return ApplicationFailure.nonRetryable(err.message, 'ProviderRejected', err.kind);
    return ApplicationFailure.create({ message: err.message, type: 'ProviderUnavailable', details: [err.kind], nextRetryDelay: err.retryAfterMs });
  }
  return err;
}

function extensionFor(mimeType: string): string {
  return ({ 'image/png': 'png', 'image/jpeg': 'jpg', 'image/webp': 'webp', 'video/mp4': 'mp4', 'video/webm': 'webm' } as Record<string, string>)[mimeType] ?? 'bin';
}
