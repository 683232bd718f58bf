import { hashApiKey, looksLikeApiKey } from './api-key.js';
import type { AccountRepository, ApiKeyRecord } from './repository.js';

/**
 * Resolves bearer keys to their records with a short-lived cache: the hot path skips the
 * database, and a revoked key stops working within `ttlMs` on every instance (no cross-node
 * invalidation needed). Misses are cached too, so a flood of wrong keys cannot hammer Postgres.
 */
export class ApiKeyResolver {
  private readonly cache = new Map<string, { record: ApiKeyRecord | null; until: number }>();

  constructor(
    private readonly repo: AccountRepository,
    private readonly ttlMs = 1_000,
    private readonly maxEntries = 50_000,
  ) {}

  async resolve(token: string): Promise<ApiKeyRecord | null> {
    if (!looksLikeApiKey(token)) return null;
    const hash = hashApiKey(token);
    const now = Date.now();
    const hit = this.cache.get(hash);
    if (hit && hit.until > now) return hit.record;
    const record = await this.repo.findKeyByHash(hash);
    if (this.cache.size >= this.maxEntries) this.cache.clear();
    this.cache.set(hash, { record, until: now + this.ttlMs });
    return record;
  }

  /** Same-process revocation takes effect at once; other processes follow within the TTL. */
  forget(keyId: string) {
    for (const [hash, entry] of this.cache) if (entry.record?.id === keyId) this.cache.delete(hash);
  }
}
