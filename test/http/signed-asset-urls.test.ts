import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promptPicture } from '../../src/sandboxes/gemini/png.js';
import type { Harness } from '../support/harness.js';
import { startLocalS3, type LocalS3 } from '../support/local-s3.js';
import { harnessWithGemini } from '../workflows/generation-fixtures.js';

async function imageUrl(h: Harness, key: string, prompt: string): Promise<{ url: string; id: string }> {
  const res = await h.call('POST', '/v1/images/generations', { key, body: { model: 'nano-banana-2', prompt, response_format: 'url' } });
  expect(res.status).toBe(200);
  const body = await res.json();
  return { url: body.data[0].url, id: body.id };
}

describe('response_format "url" with assets kept by the service', () => {
  let h: Harness;
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    ({ h, stop } = await harnessWithGemini());
  });
  afterAll(async () => stop?.());

  it('is a signed, expiring link that a browser can open without the API key', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const { url } = await imageUrl(h, key, 'a yellow kite');
    const link = new URL(url);
    expect(link.origin).toBe(h.baseUrl);
    expect(link.pathname).toMatch(/^\/assets\/generations\/.+\.png$/);
    expect(Number(link.searchParams.get('expires'))).toBeGreaterThan(Date.now() / 1000);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await res.arrayBuffer()).equals(promptPicture('a yellow kite'))).toBe(true);
    await h.expectBooksBalanced();
  });

  it('answers a tampered, moved or expired link with the same 403 that says nothing more', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const first = new URL((await imageUrl(h, key, 'a green door')).url);
    const second = new URL((await imageUrl(h, key, 'a blue door')).url);

    const tampered = new URL(first);
    tampered.searchParams.set('signature', `${first.searchParams.get('signature')!.slice(0, -1)}x`);
    const moved = new URL(second);
    moved.searchParams.set('signature', first.searchParams.get('signature')!);
    moved.searchParams.set('expires', first.searchParams.get('expires')!);
    const longer = new URL(first);
    longer.searchParams.set('expires', String(Number(first.searchParams.get('expires')) + 86_400));
    const path = first.pathname.slice('/assets/'.length);
    const expired = new URL(h.services.assetUrlSigner.urlFor(path, new Date(Date.now() - 2 * 3600_000)));
    const bare = new URL(first.pathname, first.origin);

    const bodies = new Set<string>();
    for (const url of [tampered, moved, longer, expired, bare]) {
      const res = await fetch(url);
      expect(res.status, url.href).toBe(403);
      bodies.add(await res.text());
    }
    expect(bodies.size).toBe(1);
    expect([...bodies][0]).not.toMatch(/expired at|signature mismatch|generations\//);
    expect((await fetch(first)).status).toBe(200);
  });
});

describe('response_format "url" with the S3-compatible store configured', () => {
  let s3: LocalS3;
  let h: Harness;
  let stop: (() => Promise<void>) | undefined;
  beforeAll(async () => {
    s3 = await startLocalS3();
    ({ h, stop } = await harnessWithGemini({
      env: {
        S3_ENDPOINT: s3.endpoint,
        S3_BUCKET: 'cheapa-assets',
        S3_REGION: s3.region,
        S3_ACCESS_KEY_ID: s3.credentials.accessKeyId,
        S3_SECRET_ACCESS_KEY: s3.credentials.secretAccessKey,
        S3_PREFIX: 'prod',
        ASSET_URL_TTL: '900',
      },
    }));
  });
  afterAll(async () => {
    await stop?.();
    await s3?.close();
  });

  it('stores the image in the bucket and hands out the store\u2019s own pre-signed GET link', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const { url, id } = await imageUrl(h, key, 'a silver moon');
    const link = new URL(url);
    expect(link.origin).toBe(s3.endpoint);
    expect(link.pathname).toMatch(/^\/cheapa-assets\/prod\/generations\//);
    expect(link.searchParams.get('X-Amz-Expires')).toBe('900');
    expect([...s3.objects.keys()].some((k) => k.startsWith('/cheapa-assets/prod/generations/'))).toBe(true);
    const res = await fetch(url);
    expect(res.status).toBe(200);
    expect(Buffer.from(await res.arrayBuffer()).equals(promptPicture('a silver moon'))).toBe(true);
    // The owner-only route reads the same object back from the bucket.
    const owned = await h.call('GET', `/v1/images/generations/${id}/0`, { key });
    expect(owned.status).toBe(200);
    expect(Buffer.from(await owned.arrayBuffer()).equals(promptPicture('a silver moon'))).toBe(true);
    await h.expectBooksBalanced();
  });
});
