import { createHash } from 'node:crypto';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidAssetKey } from '../../src/storage/asset-store.js';
import { AssetStoreError, createS3AssetStore } from '../../src/storage/s3-asset-store.js';
import { startLocalS3, type LocalS3 } from '../support/local-s3.js';

let s3: LocalS3;
beforeAll(async () => {
  s3 = await startLocalS3();
});
afterAll(async () => s3?.close());

const storeWith = (o: { secretAccessKey?: string; prefix?: string; endpoint?: string } = {}) =>
  createS3AssetStore({
    endpoint: o.endpoint ?? s3.endpoint,
    bucket: 'assets',
    region: s3.region,
    credentials: { ...s3.credentials, ...(o.secretAccessKey ? { secretAccessKey: o.secretAccessKey } : {}) },
    forcePathStyle: true,
    prefix: o.prefix,
  });

describe('S3-compatible asset store (official AWS SDK)', () => {
  it('puts, gets and deletes an object under bucket and prefix, signed as S3 checks it', async () => {
    const store = storeWith({ prefix: 'cheapa/' });
    const bytes = Buffer.from('mp4 bytes');
    const stored = await store.put('generations/gen_1/video.mp4', bytes, 'video/mp4');
    expect(stored).toEqual({ key: 'generations/gen_1/video.mp4', size: 9, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(s3.objects.get('/assets/cheapa/generations/gen_1/video.mp4')).toEqual({ body: bytes, type: 'video/mp4' });
    const got = await store.get('generations/gen_1/video.mp4');
    expect(got?.size).toBe(9);
    expect(await buffer(got!.body)).toEqual(bytes);
    await store.delete('generations/gen_1/video.mp4');
    await store.delete('generations/gen_1/video.mp4');
    expect(await store.get('generations/gen_1/video.mp4')).toBeNull();
  });

  it('hands out a pre-signed GET link that works without credentials, and only for that object', async () => {
    const store = storeWith();
    await store.put('generations/gen_2/0.png', Buffer.from('png bytes'), 'image/png');
    const link = await store.presignedGetUrl!('generations/gen_2/0.png', 600);
    expect(new URL(link).searchParams.get('X-Amz-Expires')).toBe('600');
    const res = await fetch(link);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).toString()).toBe('png bytes');
    const elsewhere = new URL(link);
    elsewhere.pathname = elsewhere.pathname.replace('0.png', '1.png');
    expect((await fetch(elsewhere)).status).toBe(403);
    const tampered = new URL(link);
    tampered.searchParams.set('X-Amz-Expires', '6000');
    expect((await fetch(tampered)).status).toBe(403);
  });

  it('surfaces a refused signature as a typed error with the S3 code', async () => {
    const store = storeWith({ secretAccessKey: 'wrong' });
    await expect(store.put('a/b.png', Buffer.from('x'), 'image/png')).rejects.toMatchObject({ name: 'AssetStoreError', httpStatus: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuses unsafe keys before any request', async () => {
    await expect(storeWith().put('../x', Buffer.from('x'), 'image/png')).rejects.toBeInstanceOf(InvalidAssetKey);
  });

  it('reports an unreachable endpoint as a typed error', async () => {
    await expect(storeWith({ endpoint: 'http://127.0.0.1:1' }).get('a/b.png')).rejects.toBeInstanceOf(AssetStoreError);
  });
});
