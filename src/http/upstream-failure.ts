import type { Logger } from 'pino';
import { UpstreamConnectionError, UpstreamError, UpstreamProtocolError } from '../providers/chat/errors.js';
import { ApiError, toApiError } from './errors.js';

/**
 * What the caller is told when a model provider fails (chat and embeddings alike), or null when the
 * error is not the provider's. A provider's own words about its overload or limits would name it
 * (and sometimes our account), so 429 and 5xx answers carry our words with its status and code.
 */
export function upstreamFailure(error: unknown, logger: Logger, requestId: string): ApiError | null {
  if (error instanceof UpstreamError) {
    logger.warn({ requestId, status: error.status, upstream: error.body.error }, 'upstream answered with an error');
    // These concern our own credentials or account with the provider, not the caller's.
    if (error.status === 401 || error.status === 402 || error.status === 403) {
      return new ApiError(502, 'upstream_error', 'upstream_unavailable', 'The model provider refused the request on our side. Please try again later.');
    }
    const e = error.body.error;
    if (error.status === 429) {
      const wait: Record<string, string> = error.retryAfter ? { 'retry-after': error.retryAfter } : {};
      return new ApiError(429, e.type, e.code, 'The model is rate limited upstream. Please retry later.', null, wait);
    }
    if (error.status >= 500) {
      // 502/503/504 already say "the service behind me"; a provider's bare 500 would read as our own
      // internal error, so it is answered as the bad gateway it is.
      const status = error.status >= 502 && error.status <= 504 ? error.status : 502;
      return new ApiError(status, e.type, e.code, `The model's provider failed (HTTP ${error.status}). Please try again.`);
    }
    return new ApiError(error.status, e.type, e.code, e.message, e.param);
  }
  if (error instanceof UpstreamConnectionError || error instanceof UpstreamProtocolError) {
    logger.warn({ requestId, err: error }, 'upstream failed');
    return new ApiError(502, 'upstream_error', 'upstream_unavailable', 'The model provider could not be reached or gave no valid answer. Please try again.');
  }
  return toApiError(error);
}
