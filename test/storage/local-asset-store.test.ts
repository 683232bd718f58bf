import { createHash } from 'node:crypto';
import { mkdtemp, readdir, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { InvalidAssetKey } from '../../src/storage/asset-store.js';
import { createLocalAssetStore } from '../../src/storage/local-asset-store.js';

let dataDir: string;
beforeEach(async () => {
  dataDir = await mkdtemp(path.join(os.tmpdir(), 'cheapa-assets-'));
});
afterEach(() => rm(dataDir, { recursive: true, force: true }));

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

describe('local asset store', () => {
  it('stores bytes under DATA_DIR/assets and reports their size and checksum', async () => {
    const store = createLocalAssetStore(dataDir);
    const bytes = Buffer.from('not really a png');
    expect(await store.put('generations/gen_1/0.png', bytes, 'image/png')).toEqual({
      key: 'generations/gen_1/0.png',
      size: bytes.length,
      sha256: sha(bytes),
    });
    expect(await readdir(path.join(dataDir, 'assets', 'generations', 'gen_1'))).toEqual(['0.png']);
    const got = await store.get('generations/gen_1/0.png');
    expect(got?.size).toBe(bytes.length);
    expect(await buffer(got!.body)).toEqual(bytes);
  });

  it('replaces an asset stored twice under one key, leaving no temp files', async () => {
    const store = createLocalAssetStore(dataDir);
    await store.put('a/b.mp4', Buffer.from('first attempt, longer'), 'video/mp4');
    await store.put('a/b.mp4', Buffer.from('retry'), 'video/mp4');
    expect(await buffer((await store.get('a/b.mp4'))!.body)).toEqual(Buffer.from('retry'));
    expect(await readdir(path.join(dataDir, 'assets', 'a'))).toEqual(['b.mp4']);
  });

  it('ends concurrent writes of one key with one whole file', async () => {
    const store = createLocalAssetStore(dataDir);
    const versions = Array.from({ length: 8 }, (_, i) => Buffer.alloc(64 * 1024, i));
    await Promise.all(versions.map((v) => store.put('k/v.bin', v, 'application/octet-stream')));
    const got = await buffer((await store.get('k/v.bin'))!.body);
    expect(versions.some((v) => v.equals(got))).toBe(true);
    expect(await readdir(path.join(dataDir, 'assets', 'k'))).toEqual(['v.bin']);
  });

  it('answers null for a missing asset and deletes idempotently', async () => {
    const store = createLocalAssetStore(dataDir);
    expect(await store.get('nothing/here.png')).toBeNull();
    await store.put('x/y.png', Buffer.from('1'), 'image/png');
    await store.delete('x/y.png');
    await store.delete('x/y.png');
    expect(await store.get('x/y.png')).toBeNull();
  });

  it.each(['../escape.png', 'a/../../b', '/abs/path', 'a//b', '.hidden', 'a/./b', 'a\\b', ''])(
    'refuses the key %j',
    async (key) => {
      const store = createLocalAssetStore(dataDir);
      await expect(store.put(key, Buffer.from('x'), 'image/png')).rejects.toBeInstanceOf(InvalidAssetKey);
      await expect(store.get(key)).rejects.toBeInstanceOf(InvalidAssetKey);
    },
  );
});
