// Typed outcomes of a media provider call that did not deliver an asset. Activities map `retryable` onto
// Temporal's retry policy: a refusal or a bad request must not be repeated (and must not be billed), while
// rate limits and provider outages are worth another attempt.

/** The provider answered but declined to produce the asset (safety block, refusal, no image). Never retried. */
export class GenerationRefused extends Error {
  override readonly name = 'GenerationRefused';
  readonly retryable = false;
  constructor(
    /** Provider reason such as SAFETY, IMAGE_SAFETY, RAI_FILTERED, TEXT_ONLY. */
    readonly reason: string,
    message: string,
  ) {
    super(message);
  }
}

export type ProviderFailureKind =
  | 'rate_limited'
  | 'unavailable'
  | 'timeout'
  | 'network'
  | 'bad_response'
  | 'invalid_request'
  | 'auth'
  | 'not_found';

/** The call itself failed (HTTP error, network, malformed answer). */
export class MediaProviderError extends Error {
  override readonly name = 'MediaProviderError';
  constructor(
    readonly kind: ProviderFailureKind,
    message: string,
    readonly retryable: boolean,
    readonly httpStatus?: number,
    /** The provider's own status word, e.g. RESOURCE_EXHAUSTED. */
    readonly providerStatus?: string,
    /** Delay the provider asked for before a retry, when it said so. */
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

const RETRYABLE_HTTP = new Set([408, 429, 500, 502, 503, 504]);

export function failureKindForHttp(status: number): ProviderFailureKind {
  if (status === 429) return 'rate_limited';
  if (status === 408 || status === 504) return 'timeout';
  if (status >= 500) return 'unavailable';
  if (status === 401 || status === 403) return 'auth';
  if (status === 404) return 'not_found';
  return 'invalid_request';
}

export const isRetryableHttp = (status: number): boolean => RETRYABLE_HTTP.has(status);
