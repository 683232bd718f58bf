import { UpstreamConnectionError, UpstreamError } from './errors.js';

/**
 * Whether a failed route lets the next one be tried. Only failures where the provider did no work
 * we could be billed for, and that another provider may not share: it could not be reached or was
 * silent before its first byte, it failed (5xx) or it is rate limiting us (429). A 4xx is about the
 * request itself and would fail everywhere; anything after the first byte may already be billed.
 */
export function movesToNextRoute(error: unknown): boolean {
  if (error instanceof UpstreamConnectionError) return error.beforeFirstByte;
  if (error instanceof UpstreamError) return error.status === 429 || error.status >= 500;
  return false;
}
