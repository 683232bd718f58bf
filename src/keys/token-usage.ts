import type { Logger } from 'pino';
import type { Db } from '../db/connection.js';

/**
 * Adds the tokens of settled requests to their key's rate window (src/keys/rate-limit.ts), for keys
 * with a tpm, without a write on the answer path: tokens are summed in memory per key and written
 * every `intervalMs` in one statement for all keys seen. What this costs in precision: tokens
 * settled in the last interval are not yet seen by other requests (a key can overshoot its tpm by
 * what it settles in one interval, on top of the requests already in flight, which are never
 * counted before they settle), and tokens written just after a minute turns count in the new
 * minute. A process that dies loses at most one interval of counts: a limit, never money.
 */
export class TokenRecorder {
  private pending = new Map<string, number>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    intervalMs = 1_000,
  ) {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  add(keyId: string, tokens: number): void {
    if (!Number.isSafeInteger(tokens) || tokens <= 0) return;
    this.pending.set(keyId, (this.pending.get(keyId) ?? 0) + tokens);
  }

  /** Writes what was added since the last flush; flushes never overlap. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (this.pending.size === 0) return;
    const batch = this.pending;
    this.pending = new Map();
    try {
      // The same window arithmetic as the request count: a minute no request opened yet starts here.
      await this.db.raw(
        `WITH async_commit AS (SELECT set_config('synchronous_commit', 'off', true))
         INSERT INTO api_key_rate_windows AS w (api_key_id, window_start, requests, tokens)
         SELECT v.id, date_trunc('minute', now()), 0, v.n
           FROM async_commit, unnest(?::text[], ?::bigint[]) AS v(id, n)
           JOIN api_keys k ON k.id = v.id
         ON CONFLICT (api_key_id) DO UPDATE SET
           tokens = CASE WHEN w.window_start >= EXCLUDED.window_start THEN w.tokens + EXCLUDED.tokens ELSE EXCLUDED.tokens END,
           requests = CASE WHEN w.window_start >= EXCLUDED.window_start THEN w.requests ELSE 0 END,
           window_start = GREATEST(w.window_start, EXCLUDED.window_start)`,
        [[...batch.keys()], [...batch.values()]],
      );
    } catch (err) {
      this.logger.warn({ err, keys: batch.size }, 'could not count the tokens of API keys with a tpm');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
