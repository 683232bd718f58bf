import type { Db } from '../db/connection.js';
import { RateLimitExceeded } from './errors.js';

export interface RateWindow {
  limit: number;
  remaining: number;
  /** Milliseconds until the window ends and the count starts again. */
  resetMs: number;
}

/** The windows a key is limited by; a limit the key does not have is absent. */
export interface KeyWindows {
  requests?: RateWindow;
  tokens?: RateWindow;
}

/**
 * Requests and tokens per minute per key, shared by every API process through PostgreSQL: one row
 * per key holds the current fixed one-minute window (on the database clock), its request count and
 * the tokens of the requests settled in it (added by TokenRecorder, src/keys/token-usage.ts). Each
 * request is one upsert that starts a new window or counts into the current one and returns both
 * counts, so concurrent requests on any process each see their own exact position, and a key with
 * a tpm pays nothing more than one with an rpm. A fixed window can let up to twice the limit
 * through around a window boundary; in exchange it is one indexed row write per request. The write
 * skips the WAL flush wait: a counter lost in a database crash only lets a few more requests
 * through, it never moves money.
 */
export class RequestRateLimiter {
  constructor(private readonly db: Db) {}

  /**
   * Counts this request; throws RateLimitExceeded when it is over `rpm`, or when the tokens already
   * settled in the window reach `tpm`; else returns the windows.
   */
  async take(keyId: string, limits: { rpm: number | null; tpm: number | null }): Promise<KeyWindows> {
    const { rows } = await this.db.raw(
      `WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))
       INSERT INTO api_key_rate_windows AS w (api_key_id, window_start, requests, tokens)
       SELECT ?, date_trunc('minute', now()), 1, 0 FROM async_commit
       ON CONFLICT (api_key_id) DO UPDATE SET
         requests = CASE WHEN w.window_start >= EXCLUDED.window_start THEN w.requests + 1 ELSE 1 END,
         tokens = CASE WHEN w.window_start >= EXCLUDED.window_start THEN w.tokens ELSE 0 END,
         window_start = GREATEST(w.window_start, EXCLUDED.window_start)
       RETURNING requests, tokens, ceil(extract(epoch FROM (window_start + interval '1 minute' - now())) * 1000)::integer AS reset_ms`,
      [keyId],
    );
    const resetMs = Math.max(0, rows[0].reset_ms as number);
    const windows: KeyWindows = {};
    if (limits.rpm !== null) windows.requests = decide(limits.rpm, rows[0].requests as number, resetMs);
    if (limits.tpm !== null) windows.tokens = decideTokens(limits.tpm, Number(rows[0].tokens), resetMs);
    return windows;
  }
}

/** Pure: the answer for the `used`-th request of a window with room for `limit`. */
export function decide(limit: number, used: number, resetMs: number): RateWindow {
  if (used > limit) throw new RateLimitExceeded(limit, resetMs);
  return { limit, remaining: limit - used, resetMs };
}

/**
 * Pure: the answer for a request in a window whose settled requests used `used` tokens. A request's
 * own tokens are not known before it is served, so it is refused only once the window is spent.
 */
export function decideTokens(limit: number, used: number, resetMs: number): RateWindow {
  if (used >= limit) throw new RateLimitExceeded(limit, resetMs, 'tokens', used);
  return { limit, remaining: limit - used, resetMs };
}
