import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { once } from 'node:events';
import pino from 'pino';
import { ApiKeyResolver } from '../../src/accounts/key-cache.js';
import { KeyChangeFeed } from '../../src/accounts/key-changes.js';
import { AccountRepository } from '../../src/accounts/repository.js';
import { startHarness, type Harness } from '../support/harness.js';

/** The real repository on the real database, with its lookups counted. */
function countingRepo(db: Harness['services']['db']) {
  const repo = new AccountRepository(db);
  const counter = {
    lookups: 0,
    findKeyByHash: async (hash: string) => {
      counter.lookups++;
      return repo.findKeyByHash(hash);
    },
  };
  return counter;
}

const randomKey = () => 'sk-cheapa-' + randomBytes(32).toString('base64url');

describe('API key cache', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
  });
  afterAll(async () => h?.close());

  it('answers a repeated unknown key from the cache instead of the database', async () => {
    const repo = countingRepo(h.services.db);
    const resolver = new ApiKeyResolver(repo, { ttlMs: 60_000 });
    const keys = Array.from({ length: 200 }, randomKey);
    for (const key of keys) expect(await resolver.resolve(key)).toBeNull();
    expect(repo.lookups).toBe(200);
    for (const key of keys) expect(await resolver.resolve(key)).toBeNull();
    expect(repo.lookups).toBe(200);
  });

  it('never asks the database about a token that is not even shaped like a key', async () => {
    const repo = countingRepo(h.services.db);
    const resolver = new ApiKeyResolver(repo);
    for (const token of ['sk-cheapa-short', 'Bearer', 'sk-other-' + 'a'.repeat(43), 'x'.repeat(10_000)]) {
      expect(await resolver.resolve(token)).toBeNull();
    }
    expect(repo.lookups).toBe(0);
  });

  it('a flood of random keys past the cache size cannot evict a known key', async () => {
    const { key } = await h.createAccount();
    const repo = countingRepo(h.services.db);
    const resolver = new ApiKeyResolver(repo, { ttlMs: 60_000, maxKnown: 10, maxUnknown: 50 });
    expect(await resolver.resolve(key)).not.toBeNull();
    for (let i = 0; i < 500; i++) await resolver.resolve(randomKey());
    const before = repo.lookups;
    expect(await resolver.resolve(key)).not.toBeNull();
    expect(repo.lookups).toBe(before);
  });

  it('keeps the most recently used known keys when full, instead of clearing everything', async () => {
    const accounts = await Promise.all(Array.from({ length: 4 }, () => h.createAccount()));
    const repo = countingRepo(h.services.db);
    const resolver = new ApiKeyResolver(repo, { ttlMs: 60_000, maxKnown: 3 });
    const [a, b, c, d] = accounts.map((x) => x.key) as [string, string, string, string];
    for (const key of [a, b, c]) await resolver.resolve(key);
    await resolver.resolve(a); // a is now the most recent; b the least
    await resolver.resolve(d); // evicts b only
    const before = repo.lookups;
    for (const key of [a, c, d]) await resolver.resolve(key);
    expect(repo.lookups).toBe(before);
    await resolver.resolve(b);
    expect(repo.lookups).toBe(before + 1);
  });

  it('shares one database lookup among concurrent requests with the same key', async () => {
    const { key } = await h.createAccount();
    const repo = countingRepo(h.services.db);
    const resolver = new ApiKeyResolver(repo);
    const unknown = randomKey();
    const results = await Promise.all([...Array.from({ length: 50 }, () => resolver.resolve(key)), ...Array.from({ length: 50 }, () => resolver.resolve(unknown))]);
    expect(results.slice(0, 50).every((r) => r !== null)).toBe(true);
    expect(results.slice(50).every((r) => r === null)).toBe(true);
    expect(repo.lookups).toBe(2);
  });

  it('sees a revocation by another process once the TTL has passed, and its own at once', async () => {
    const { key, keyId } = await h.createAccount();
    let now = 1_000_000;
    const resolver = new ApiKeyResolver(countingRepo(h.services.db), { ttlMs: 1_000, now: () => now });
    expect((await resolver.resolve(key))?.revokedAt).toBeNull();

    await new AccountRepository(h.services.db).revokeKey(keyId); // as another process would
    expect((await resolver.resolve(key))?.revokedAt).toBeNull(); // still within the TTL
    now += 1_001;
    expect((await resolver.resolve(key))?.revokedAt).toBeInstanceOf(Date);

    const other = await h.createAccount();
    expect((await resolver.resolve(other.key))?.revokedAt).toBeNull();
    await new AccountRepository(h.services.db).revokeKey(other.keyId);
    resolver.forget(other.keyId);
    expect((await resolver.resolve(other.key))?.revokedAt).toBeInstanceOf(Date);
  });

  it('does not cache what a lookup read before a revocation in this process', async () => {
    const { key, keyId } = await h.createAccount();
    const resolver = new ApiKeyResolver(countingRepo(h.services.db), { ttlMs: 60_000 });
    const racing = resolver.resolve(key);
    resolver.forget(keyId);
    await racing;
    await new AccountRepository(h.services.db).revokeKey(keyId);
    expect((await resolver.resolve(key))?.revokedAt).toBeInstanceOf(Date);
  });

  it('sees a revocation by another process through LISTEN/NOTIFY, without waiting for its TTL', async () => {
    const { key, keyId } = await h.createAccount();
    const feed = KeyChangeFeed.forDb(h.services.db, pino({ level: 'silent' }));
    await feed.start();
    try {
      expect(feed.live).toBe(true);
      // A clock that never moves: only the notification can end the cached entry.
      const resolver = new ApiKeyResolver(countingRepo(h.services.db), { ttlMs: 1_000, changes: feed, now: () => 1_000_000 });
      expect((await resolver.resolve(key))?.revokedAt).toBeNull();
      const announced = once(feed, 'changed');
      await new AccountRepository(h.services.db).revokeKey(keyId); // as another process would
      expect(await announced).toEqual([keyId]);
      expect((await resolver.resolve(key))?.revokedAt).toBeInstanceOf(Date);
    } finally {
      await feed.close();
    }
  });

  it('does not announce the last-used bookkeeping, only changes that matter for authentication', async () => {
    const { keyId } = await h.createAccount();
    const feed = KeyChangeFeed.forDb(h.services.db, pino({ level: 'silent' }));
    await feed.start();
    const seen: string[] = [];
    feed.on('changed', (id) => seen.push(id));
    try {
      await h.services.db('api_keys').where({ id: keyId }).update({ last_used_at: new Date() });
      const announced = once(feed, 'changed');
      await new AccountRepository(h.services.db).revokeKey(keyId);
      await announced;
      expect(seen).toEqual([keyId]);
    } finally {
      await feed.close();
    }
  });
});
