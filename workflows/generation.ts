import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  CancellationScope,
  TimeoutFailure,
  allHandlersFinished,
  condition,
  defineQuery,
  defineUpdate,
  isCancellation,
  patched,
  proxyActivities,
  proxyLocalActivities,
  setHandler,
  sleep,
  upsertSearchAttributes,
} from '@temporalio/workflow';
import type { createGenerationActivities } from '../src/generations/generation-activities.js';
import { progressEstimate } from '../src/generations/generation-params.js';
import type {
  GenerationFailure,
  GenerationInput,
  GenerationResult,
  GenerationState,
  HoldOutcome,
  StoredAssetRef,
} from '../src/generations/generation-types.js';
import { StatusAttr } from '../src/temporal/search-attributes.js';

type Activities = ReturnType<typeof createGenerationActivities>;

/** Sent with the start (update-with-start): answers once the $0.21 × n hold is placed or refused. */
export const placeHoldUpdate = defineUpdate<HoldOutcome>('placeHold');
export const generationStateQuery = defineQuery<GenerationState>('state');

// Placing the hold is on the API's critical path: a local activity skips a round trip through the server.
const { placeGenerationHold } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '10 seconds',
  retry: { initialInterval: '100 milliseconds', maximumInterval: '2 seconds', maximumAttempts: 5, nonRetryableErrorTypes: ['AccountNotFound'] },
});

const NOT_WORTH_RETRYING = ['GenerationRefused', 'ProviderRejected', 'ProviderFailed'];

// Provider calls: how patiently to retry an outage comes with the input (tests shorten it).
function providerRetry(input: GenerationInput) {
  return {
    initialInterval: input.timing.providerRetry.initialIntervalMs,
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: input.timing.providerRetry.maximumAttempts,
    nonRetryableErrorTypes: NOT_WORTH_RETRYING,
  };
}

function providerActivities(input: GenerationInput) {
  const retry = providerRetry(input);
  const { storeVideo } = proxyActivities<Activities>({ startToCloseTimeout: '5 minutes', heartbeatTimeout: '30 seconds', retry });
  const { generateImage } = proxyActivities<Activities>({
    startToCloseTimeout: '5 minutes',
    heartbeatTimeout: '30 seconds',
    scheduleToCloseTimeout: input.timing.deadlineMs,
    retry,
  });
  // Short calls: a worker lost mid-call is noticed after this timeout, so keep it tight. Submitting must
  // not share the first workflow task (the API is waiting for that task's answer to the hold), so it is a
  // normal activity; polling the job's status is a quick read, run locally beside the workflow.
  const { submitVideo } = proxyActivities<Activities>({ startToCloseTimeout: '30 seconds', retry });
  const { checkVideo } = proxyLocalActivities<Activities>({ startToCloseTimeout: '30 seconds', retry });
  // Rare polling as Temporal documents it: one activity whose "still rendering" failure is retried every
  // poll interval until the deadline (its schedule-to-close timeout). No timer, no event per poll.
  const { awaitVideo } = proxyActivities<Activities>({
    startToCloseTimeout: '30 seconds',
    scheduleToCloseTimeout: input.timing.deadlineMs,
    retry: { initialInterval: input.timing.pollIntervalMs, backoffCoefficient: 1, maximumInterval: input.timing.pollIntervalMs, nonRetryableErrorTypes: NOT_WORTH_RETRYING },
  });
  return { generateImage, storeVideo, submitVideo, checkVideo, awaitVideo };
}

type ProviderActivities = ReturnType<typeof providerActivities>;

/**
 * Image runs of this version draw their pictures as local activities, so hold → pictures → settlement
 * is one workflow task (one round trip through the server instead of two, no activity task, a shorter
 * history); runs started before it replay as they ran. The deadline still holds: the activity aborts its
 * provider call at its own schedule-to-close time (generation-activities.ts), because the worker's
 * local-activity timeout does not stop a call in flight. A refused hold still answers at once, and a slow
 * picture does not delay the hold's answer past the task's heartbeat (the SDK completes a long task early).
 */
export const IMAGES_IN_ONE_TASK = 'images-in-one-task';

function localImageActivities(input: GenerationInput): Pick<ProviderActivities, 'generateImage'> {
  const { generateImage } = proxyLocalActivities<Activities>({
    startToCloseTimeout: '5 minutes',
    scheduleToCloseTimeout: input.timing.deadlineMs,
    retry: providerRetry(input),
  });
  return { generateImage };
}

const bookkeeping = {
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '30 seconds', maximumAttempts: 10 },
} as const;
// One-row updates of what the API shows while a video renders: local, no round trip through the server.
const { recordVideoStarted, recordVideoProgress } = proxyLocalActivities<Activities>(bookkeeping);
const { discardAssets } = proxyActivities<Activities>(bookkeeping);

// Money must settle whatever happens: these retry until they succeed (each is idempotent). Settling is
// one short database transaction, so it runs as a local activity: no extra round trip through the server.
const { settleGeneration } = proxyLocalActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});
const { releaseGenerationHold } = proxyActivities<Activities>({
  startToCloseTimeout: '30 seconds',
  retry: { initialInterval: '1 second', backoffCoefficient: 2, maximumInterval: '1 minute' },
});

/**
 * One image request (1–4 images) or one video: hold → provider → store → capture, or release.
 * Workflow id `generation-<id>`; started by update-with-start so the API knows at once whether the hold held.
 */
export async function generationWorkflow(input: GenerationInput): Promise<GenerationResult> {
  const state: GenerationState = {
    generationId: input.generationId,
    kind: input.kind,
    status: 'placing_hold',
    progress: 0,
    delivered: 0,
    chargedNanos: '0',
  };
  let hold: HoldOutcome | undefined;
  setHandler(placeHoldUpdate, async () => {
    await condition(() => hold !== undefined);
    return hold!;
  });
  setHandler(generationStateQuery, () => state);

  const finish = async (result: GenerationResult): Promise<GenerationResult> => {
    state.status = result.status;
    state.chargedNanos = result.chargedNanos;
    state.error = result.error;
    setStatus(result.status);
    await condition(allHandlersFinished);
    return result;
  };

  try {
    hold = await placeGenerationHold({
      generationId: input.generationId,
      accountId: input.accountId,
      requestId: input.requestId,
      ...(input.budgetKeyId !== undefined && { budgetKeyId: input.budgetKeyId }),
      amountNanos: (BigInt(input.unitPriceNanos) * BigInt(input.count)).toString(),
      ttlMs: input.timing.holdTtlMs,
    });
  } catch (err) {
    // An attempt may have placed the hold before failing (or before we were cancelled): release it by its key.
    const failure: GenerationFailure = isCancellation(err)
      ? { code: 'cancelled', message: 'The generation was cancelled.' }
      : { code: 'unavailable', message: 'The generation could not be started; nothing was charged. Please retry.' };
    hold = { ok: false, reason: failure.code === 'cancelled' ? 'cancelled' : 'unavailable', message: failure.message };
    await CancellationScope.nonCancellable(() => releaseGenerationHold({ generationId: input.generationId, failure, ...uploads(input) }));
    return finish({ status: 'failed', assets: [], chargedNanos: '0', error: failure });
  }
  // Unavailable: a video's hold (placed by the API) was freed before this run could adopt it; the row is closed.
  if (!hold.ok && hold.reason === 'unavailable') {
    return finish({ status: 'failed', assets: [], chargedNanos: '0', error: { code: 'unavailable', message: hold.message } });
  }
  if (!hold.ok) return finish({ status: 'rejected', assets: [], chargedNanos: '0' });

  state.holdId = hold.holdId;
  state.status = input.kind === 'image' ? 'in_progress' : 'queued';
  // An image in one task writes its status attribute once, at the end: an upsert in the same task as
  // the final one would never be seen (the state query shows the steps between).
  const imageInOneTask = input.kind === 'image' && patched(IMAGES_IN_ONE_TASK);
  if (!imageInOneTask) setStatus(state.status);

  let assets: StoredAssetRef[] = [];
  let failure: GenerationFailure | undefined;
  let timedOut = false;
  try {
    // An image is one activity per picture, bounded by its schedule-to-close timeout; a video by its
    // awaitVideo's (runs before CHARGE_ACCEPTED_VIDEO_JOBS: a workflow timer).
    if (input.kind === 'image') assets = await makeImages(input, imageInOneTask ? localImageActivities(input) : providerActivities(input));
    else if (patched(CHARGE_ACCEPTED_VIDEO_JOBS)) assets = await makeVideoCharged(input, state, providerActivities(input));
    else assets = await withDeadline(input.timing.deadlineMs, () => makeVideo(input, state, providerActivities(input)), () => (timedOut = true));
  } catch (err) {
    failure = describeFailure(err, timedOut, input.timing.deadlineMs);
  }

  // From here on the outcome is being written down: an operator's cancel must not interrupt it.
  return CancellationScope.nonCancellable(async () => {
    if (failure && assets.length) await discardAssets({ keys: assets.map((a) => a.key) });
    const delivered = failure ? [] : assets;
    const settled = await settleGeneration({
      generationId: input.generationId,
      holdId: state.holdId!,
      captureNanos: (BigInt(input.unitPriceNanos) * BigInt(delivered.length)).toString(),
      assets: delivered,
      failure,
      ...uploads(input),
    });
    state.delivered = settled.status === 'completed' ? delivered.length : 0;
    if (settled.status === 'completed') state.progress = 100;
    return finish({
      status: settled.status,
      assets: settled.status === 'completed' ? delivered : [],
      chargedNanos: settled.chargedNanos,
      error: settled.error,
    });
  });
}

/** Every image is one activity; the ones delivered are charged even if a sibling failed. */
async function makeImages(input: GenerationInput, { generateImage }: Pick<ProviderActivities, 'generateImage'>): Promise<StoredAssetRef[]> {
  const results = await Promise.allSettled(
    Array.from({ length: input.count }, (_, index) =>
      generateImage({
        generationId: input.generationId,
        index,
        model: input.upstreamModel,
        prompt: input.prompt,
        aspectRatio: input.image?.aspectRatio,
        imageSize: input.image?.imageSize,
        ...uploads(input),
      }),
    ),
  );
  const cancelled = results.find((r) => r.status === 'rejected' && isCancellation(r.reason));
  if (cancelled) throw (cancelled as PromiseRejectedResult).reason;
  const delivered = results.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (delivered.length) return delivered;
  throw (results[0] as PromiseRejectedResult).reason;
}

/** A video as runs started before CHARGE_ACCEPTED_VIDEO_JOBS make it (kept so they replay): a status check and a timer per poll. */
async function makeVideo(input: GenerationInput, state: GenerationState, { submitVideo, checkVideo, storeVideo }: ProviderActivities): Promise<StoredAssetRef[]> {
  const handle = await submitVideo({
    model: input.upstreamModel,
    prompt: input.prompt,
    ...input.video!,
  });
  state.providerJob = handle;
  state.status = 'in_progress';
  setStatus('in_progress');
  await recordVideoStarted({ generationId: input.generationId, providerJob: handle });
  const started = Date.now();
  const maxPolls = Math.ceil(input.timing.deadlineMs / input.timing.pollIntervalMs) + 2;
  for (let poll = 0; poll < maxPolls; poll++) {
    const job = await checkVideo({ handle });
    if (job.state === 'done') return [await storeVideo({ generationId: input.generationId, handle })];
    if (job.state === 'refused') throw ApplicationFailure.nonRetryable(job.message, 'GenerationRefused', job.reason);
    if (job.state === 'failed') throw ApplicationFailure.nonRetryable(job.message, 'ProviderFailed', job.code);
    const progress = progressEstimate(Date.now() - started, input.timing.expectedMs);
    if (progress > state.progress) {
      state.progress = progress;
      await recordVideoProgress({ generationId: input.generationId, progress });
    }
    await sleep(input.timing.pollIntervalMs);
  }
  throw ApplicationFailure.nonRetryable('the video job did not finish in time', 'DeadlineExceeded');
}

/**
 * Runs of this version charge a video job the provider accepted even when cancelled (the provider bills
 * us for it) and poll it with one retried activity; runs started before it replay the old path, where
 * any cancel released the hold and every poll was a local activity and a timer.
 */
export const CHARGE_ACCEPTED_VIDEO_JOBS = 'charge-accepted-video-jobs';

/**
 * A video, for runs of this version. A cancel is free only until submission begins: from then on the
 * provider may have accepted the job and bills us, so the rest runs to its end and is charged on
 * delivery. The deadline is awaitVideo's own schedule-to-close timeout: no workflow timer.
 */
async function makeVideoCharged(input: GenerationInput, state: GenerationState, { submitVideo, awaitVideo, storeVideo }: ProviderActivities): Promise<StoredAssetRef[]> {
  if (CancellationScope.current().consideredCancelled) throw new CancelledFailure('cancelled before the video was submitted');
  return CancellationScope.nonCancellable(async () => {
    const firstFrame = input.inputs?.find((i) => i.role === 'first_frame');
    const handle = await submitVideo({ model: input.upstreamModel, prompt: input.prompt, ...input.video!, ...(firstFrame ? { firstFrame } : {}) });
    state.providerJob = handle;
    state.status = 'in_progress';
    setStatus('in_progress');
    await recordVideoStarted({ generationId: input.generationId, providerJob: handle });
    await awaitVideo({ generationId: input.generationId, handle, expectedMs: input.timing.expectedMs, pollIntervalMs: input.timing.pollIntervalMs });
    return [await storeVideo({ generationId: input.generationId, handle })];
  });
}

/** Runs `work` in its own scope, cancelling it when `ms` pass; an outer cancellation reaches both. */
async function withDeadline<T>(ms: number, work: () => Promise<T>, onTimeout: () => void): Promise<T> {
  const workScope = new CancellationScope();
  const timerScope = new CancellationScope();
  timerScope
    .run(() => sleep(ms))
    .then(
      () => {
        onTimeout();
        workScope.cancel();
      },
      () => undefined,
    );
  try {
    return await workScope.run(work);
  } finally {
    timerScope.cancel();
  }
}

function describeFailure(err: unknown, timedOut: boolean, deadlineMs: number): GenerationFailure {
  const timeout = { code: 'timeout', message: `The generation did not finish within ${Math.round(deadlineMs / 1000)} seconds; nothing was charged.` };
  if (timedOut || outOfTime(err)) return timeout;
  if (isCancellation(err)) return { code: 'cancelled', message: 'The generation was cancelled; nothing was charged.' };
  const app = applicationFailureIn(err);
  if (app?.type === 'DeadlineExceeded') return timeout;
  if (app?.type === 'GenerationRefused') {
    return { code: 'content_policy_violation', message: `The provider declined to generate this (${String(app.details?.[0] ?? 'safety')}); nothing was charged.` };
  }
  if (app?.type === 'ProviderRejected' && app.details?.[0] === 'invalid_request') {
    return { code: 'invalid_request', message: `The provider rejected the request: ${app.message}` };
  }
  return { code: 'provider_error', message: 'The generation failed at the provider; nothing was charged. Please retry.' };
}

/**
 * An activity that ran out of time (or whose next retry would): the generation's deadline passed. A local
 * activity's attempt is cut at the sooner of its start-to-close and what is left of its schedule-to-close,
 * and the worker may name either when both fall due together, so an image past its deadline can arrive as
 * a start-to-close timeout.
 */
function outOfTime(err: unknown): boolean {
  const cause = (err as { cause?: unknown })?.cause;
  if (cause instanceof TimeoutFailure && (cause.timeoutType === 'SCHEDULE_TO_CLOSE' || cause.timeoutType === 'START_TO_CLOSE')) return true;
  return err instanceof ActivityFailure && err.retryState === 'TIMEOUT';
}

function applicationFailureIn(err: unknown): ApplicationFailure | undefined {
  for (let e = err as { cause?: unknown } | undefined, depth = 0; e && depth < 5; e = e.cause as typeof e, depth++) {
    if (e instanceof ApplicationFailure) return e;
  }
  return undefined;
}

/** The caller's uploads travel by reference (asset keys), never as bytes in the history; absent when there are none. */
function uploads(input: GenerationInput): { inputs?: GenerationInput['inputs'] } {
  return input.inputs?.length ? { inputs: input.inputs } : {};
}

function setStatus(status: string) {
  upsertSearchAttributes([{ key: StatusAttr, value: status }]);
}
