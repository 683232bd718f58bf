import type { Logger } from 'pino';
import type { Db } from '../db/connection.js';

/**
 * Keeps `api_keys.last_used_at` without a write per request: uses are noted in memory (latest
 * time per key) and written every few seconds in one statement for all keys seen. The column is
 * informational, so a process that dies loses at most one interval of it.
 */
export class LastUsedRecorder {
  private seen = new Map<string, Date>();
  private readonly timer: NodeJS.Timeout;
  private flushing: Promise<void> = Promise.resolve();

  constructor(
    private readonly db: Db,
    private readonly logger: Logger,
    intervalMs = 5_000,
  ) {
    this.timer = setInterval(() => void this.flush(), intervalMs);
    this.timer.unref();
  }

  touch(keyId: string, at = new Date()): void {
    this.seen.set(keyId, at);
  }

  /** Writes what was noted since the last flush; flushes never overlap. */
  flush(): Promise<void> {
    this.flushing = this.flushing.then(() => this.write());
    return this.flushing;
  }

  private async write(): Promise<void> {
    if (this.seen.size === 0) return;
    const batch = this.seen;
    this.seen = new Map();
    try {
      await this.db.raw(
        `UPDATE api_keys k SET last_used_at = GREATEST(k.last_used_at, v.at)
           FROM unnest(?::text[], ?::timestamptz[]) AS v(id, at)
          WHERE k.id = v.id`,
        [[...batch.keys()], [...batch.values()].map((d) => d.toISOString())],
      );
    } catch (err) {
      this.logger.warn({ err, keys: batch.size }, 'could not record when API keys were last used');
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    await this.flush();
  }
}
