// The shapes that cross the Temporal boundary (workflow input, update/query answers, activity arguments).
// Types only: workflow code imports this file, so it must stay free of runtime imports. Money travels as a
// decimal string of nano-dollars because workflow payloads are JSON and JSON has no bigint.

export type GenerationKind = 'image' | 'video';

export type GenerationStatus = 'queued' | 'in_progress' | 'completed' | 'failed' | 'rejected';

export interface ImageParams {
  aspectRatio?: string;
  imageSize?: string;
}

export interface VideoParams {
  aspectRatio: '16:9' | '9:16';
  durationSeconds: 4 | 6 | 8;
  resolution: '720p' | '1080p' | '4k';
}

/**
 * An image the caller uploaded (to edit, as a mask, as a video's first frame), stored in the asset
 * store: the workflow carries this reference, never the bytes, so its history stays small.
 */
export interface InputImageRef {
  role: 'image' | 'mask' | 'first_frame';
  key: string;
  contentType: string;
  size: number;
}

export interface GenerationTiming {
  /** After this long without a result the generation fails and its hold is released. */
  deadlineMs: number;
  pollIntervalMs: number;
  /** Typical duration, only to show a progress estimate (the provider reports none). */
  expectedMs: number;
  /** How long the hold lives; longer than the deadline so only a stuck run ever lets it expire. */
  holdTtlMs: number;
  /** Retries of a provider call that failed for a passing reason (rate limit, outage). */
  providerRetry: { initialIntervalMs: number; maximumAttempts: number };
}

export interface GenerationInput {
  generationId: string;
  accountId: string;
  requestId: string;
  /**
   * The calling key when it has a spend limit, null when it has none: known to the API, so placing the
   * hold need not look it up. Absent in runs started before it was added (the hold then looks it up).
   */
  budgetKeyId?: string | null;
  kind: GenerationKind;
  /** Our public model id (nano-banana-2, veo-3.1). */
  model: string;
  /** The provider's model id (the catalog's upstream_model). */
  upstreamModel: string;
  prompt: string;
  /** Assets asked for: 1–4 images, or 1 video. */
  count: number;
  unitPriceNanos: string;
  image?: ImageParams;
  video?: VideoParams;
  /** Uploaded images (image edits, image-to-video); absent for a prompt alone. */
  inputs?: InputImageRef[];
  timing: GenerationTiming;
}

export type HoldOutcome =
  | { ok: true; holdId: string }
  | { ok: false; reason: 'insufficient_funds'; availableNanos: string; requiredNanos: string }
  | { ok: false; reason: 'key_limit_exceeded'; keyId: string; limitNanos: string; usedNanos: string; limitReset: 'daily' | 'weekly' | 'monthly' | null }
  | { ok: false; reason: 'unavailable' | 'cancelled'; message: string };

export interface StoredAssetRef {
  index: number;
  key: string;
  size: number;
  sha256: string;
  contentType: string;
}

export interface GenerationFailure {
  /** content_policy_violation, provider_error, timeout, cancelled, hold_expired, … */
  code: string;
  message: string;
}

export interface GenerationState {
  generationId: string;
  kind: GenerationKind;
  status: GenerationStatus | 'placing_hold';
  holdId?: string;
  providerJob?: string;
  progress: number;
  delivered: number;
  chargedNanos: string;
  error?: GenerationFailure;
}

export interface GenerationResult {
  status: 'completed' | 'failed' | 'rejected';
  assets: StoredAssetRef[];
  chargedNanos: string;
  error?: GenerationFailure;
}
