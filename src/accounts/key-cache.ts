import { hashApiKey, looksLikeApiKey } from './api-key.js';
import type { KeyChangeFeed } from './key-changes.js';
import type { AccountRepository, ApiKeyRecord } from './repository.js';

/**
 * Resolves bearer keys to their records with a cache: the hot path skips the database. A change
 * to a key (revocation, settings) made by any process reaches every process's cache through
 * `changes` (PostgreSQL LISTEN/NOTIFY, key-changes.ts) within a moment, so while that feed is live
 * entries live `listenedTtlMs` (a backstop only); while it is down (or without one) they live
 * `ttlMs`, and a revoked key stops working within that on every instance. The same process
 * forgets at once.
 *
 * Known keys and unknown keys live in two separate bounded LRUs. Unknown keys are what an attacker
 * controls: a flood of random well-formed keys costs one lookup each, repeats of one cost none for
 * `ttlMs`, and they can only evict each other, never a customer's key. Concurrent requests with the
 * same key share one lookup (single flight), so a burst of one key is one query.
 */
export interface KeyCacheOptions {
  /** Entry lifetime without a live change feed (default 1 s). */
  ttlMs?: number;
  /** Entry lifetime while the change feed is live (default 60 s). */
  listenedTtlMs?: number;
  changes?: KeyChangeFeed;
  maxKnown?: number;
  maxUnknown?: number;
  /** Milliseconds since the epoch; tests hand in their own clock. */
  now?: () => number;
}

export class ApiKeyResolver {
  private readonly known: Lru<ApiKeyRecord>;
  private readonly unknown: Lru<null>;
  private readonly inFlight = new Map<string, Promise<ApiKeyRecord | null>>();
  private readonly ttlMs: number;
  private readonly listenedTtlMs: number;
  private readonly changes: KeyChangeFeed | undefined;
  private readonly now: () => number;
  /** Bumped by forget(): a lookup that started before a revocation must not cache what it read. */
  private epoch = 0;

  constructor(
    private readonly repo: Pick<AccountRepository, 'findKeyByHash'>,
    opts: KeyCacheOptions = {},
  ) {
    this.ttlMs = opts.ttlMs ?? 1_000;
    this.listenedTtlMs = opts.listenedTtlMs ?? 60_000;
    this.changes = opts.changes;
    this.changes?.on('changed', (keyId) => this.forget(keyId));
    this.changes?.on('lost', () => this.forgetAll());
    this.now = opts.now ?? Date.now;
    this.known = new Lru(opts.maxKnown ?? 50_000);
    this.unknown = new Lru(opts.maxUnknown ?? 10_000);
  }

  async resolve(token: string): Promise<ApiKeyRecord | null> {
    if (!looksLikeApiKey(token)) return null;
    const hash = hashApiKey(token);
    const now = this.now();
    const hit = this.known.get(hash, now) ?? this.unknown.get(hash, now);
    if (hit !== undefined) return hit;
    let pending = this.inFlight.get(hash);
    if (!pending) {
      pending = this.lookup(hash).finally(() => this.inFlight.delete(hash));
      this.inFlight.set(hash, pending);
    }
    return pending;
  }

  private async lookup(hash: string): Promise<ApiKeyRecord | null> {
    const epoch = this.epoch;
    const record = await this.repo.findKeyByHash(hash);
    if (epoch !== this.epoch) return record;
    // The TTL runs from the answer, not the question: a slow query must not shorten it to nothing.
    const until = this.now() + (this.changes?.live ? this.listenedTtlMs : this.ttlMs);
    if (record) this.known.set(hash, record, until);
    else this.unknown.set(hash, null, until);
    return record;
  }

  /** Takes effect at once here; other processes follow by the change feed (or within the short TTL). */
  forget(keyId: string) {
    this.epoch++;
    this.known.deleteWhere((record) => record.id === keyId);
  }

  /** Changes may have been missed (the feed reconnected): nothing cached is trusted. */
  forgetAll() {
    this.epoch++;
    this.known.clear();
    this.unknown.clear();
  }
}

/** Least recently used first out; a Map keeps insertion order, so a hit is re-inserted at the end. */
class Lru<V> {
  private readonly entries = new Map<string, { value: V; until: number }>();

  constructor(private readonly max: number) {}

  get(key: string, now: number): V | undefined {
    const entry = this.entries.get(key);
    if (!entry) return undefined;
    this.entries.delete(key);
    if (entry.until <= now) return undefined;
    this.entries.set(key, entry);
    return entry.value;
  }

  set(key: string, value: V, until: number) {
    this.entries.delete(key);
    this.entries.set(key, { value, until });
    while (this.entries.size > this.max) this.entries.delete(this.entries.keys().next().value!);
  }

  clear() {
    this.entries.clear();
  }

  deleteWhere(match: (value: V) => boolean) {
    for (const [key, entry] of this.entries) if (match(entry.value)) this.entries.delete(key);
  }
}
