import type { Db } from '../db/connection.js';
import { RateLimitExceeded } from './errors.js';

export interface RateWindow {
  limit: number;
  remaining: number;
  /** Milliseconds until the window ends and the count starts again. */
  resetMs: number;
}

/**
 * Requests per minute per key, shared by every API process through PostgreSQL: one row per key
 * holds the current fixed one-minute window (on the database clock) and its count, and each
 * request is one upsert that starts a new window or counts into the current one and returns the
 * count, so concurrent requests on any process each see their own exact position. A fixed window
 * can let up to twice the limit through around a window boundary; in exchange it is one indexed
 * row write per request. The write skips the WAL flush wait: a counter lost in a database crash
 * only lets a few more requests through, it never moves money.
 */
export class RequestRateLimiter {
  constructor(private readonly db: Db) {}

  /** Counts this request; throws RateLimitExceeded when it is over `rpm`, else returns the window. */
  async take(keyId: string, rpm: number): Promise<RateWindow> {
    const { rows } = await this.db.raw(
      `WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))
       INSERT INTO api_key_rate_windows AS w (api_key_id, window_start, requests)
       SELECT ?, date_trunc('minute', now()), 1 FROM async_commit
       ON CONFLICT (api_key_id) DO UPDATE SET
         requests = CASE WHEN w.window_start >= EXCLUDED.window_start THEN w.requests + 1 ELSE 1 END,
         window_start = GREATEST(w.window_start, EXCLUDED.window_start)
       RETURNING requests, ceil(extract(epoch FROM (window_start + interval '1 minute' - now())) * 1000)::integer AS reset_ms`,
      [keyId],
    );
    return decide(rpm, rows[0].requests as number, Math.max(0, rows[0].reset_ms as number));
  }
}

/** Pure: the answer for the `used`-th request of a window with room for `limit`. */
export function decide(limit: number, used: number, resetMs: number): RateWindow {
  if (used > limit) throw new RateLimitExceeded(limit, resetMs);
  return { limit, remaining: limit - used, resetMs };
}
