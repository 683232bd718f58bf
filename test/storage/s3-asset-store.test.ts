import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { buffer } from 'node:stream/consumers';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InvalidAssetKey } from '../../src/storage/asset-store.js';
import { AssetStoreError, createS3AssetStore } from '../../src/storage/s3-asset-store.js';
import { signRequest } from '../../src/storage/sigv4.js';

describe('SigV4', () => {
  // The worked GET Object example of the S3 API reference ("Examples: Signature Calculations").
  it('reproduces the S3 documentation example signature', () => {
    const headers = signRequest({
      method: 'GET',
      url: new URL('https://examplebucket.s3.amazonaws.com/test.txt'),
      headers: { range: 'bytes=0-9' },
      payloadHash: 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
      region: 'us-east-1',
      credentials: { accessKeyId: 'AKIAIOSFODNN7EXAMPLE', secretAccessKey: 'wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY' },
      now: new Date('2013-05-24T00:00:00Z'),
    });
    expect(headers.authorization).toBe(
      'AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, ' +
        'SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, ' +
        'Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41',
    );
  });
});

// A minimal S3-protocol server: path-style objects in memory, SigV4 checked, payload hash checked, XML errors.
const credentials = { accessKeyId: 'AKIDLOCAL', secretAccessKey: 'local-secret' };
const objects = new Map<string, { body: Buffer; type: string }>();
let server: http.Server;
let endpoint: string;

function s3Error(res: http.ServerResponse, status: number, code: string) {
  res.writeHead(status, { 'content-type': 'application/xml' }).end(`<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`);
}

beforeAll(async () => {
  server = http.createServer(async (req, res) => {
    const body = await buffer(req);
    const auth = String(req.headers.authorization ?? '');
    const signed = /SignedHeaders=([^,]+)/.exec(auth)?.[1].split(';') ?? [];
    const amzDate = String(req.headers['x-amz-date'] ?? '');
    const now = new Date(amzDate.replace(/^(\d{4})(\d\d)(\d\d)T(\d\d)(\d\d)(\d\d)Z$/, '$1-$2-$3T$4:$5:$6Z'));
    const extra = Object.fromEntries(signed.filter((h) => !['host', 'x-amz-date', 'x-amz-content-sha256'].includes(h)).map((h) => [h, String(req.headers[h])]));
    const url = new URL(req.url!, `http://${req.headers.host}`);
    const expected = signRequest({ method: req.method!, url, headers: extra, payloadHash: String(req.headers['x-amz-content-sha256']), region: 'us-east-1', credentials, now });
    if (!auth || expected.authorization !== auth) return s3Error(res, 403, 'SignatureDoesNotMatch');
    if (req.method === 'PUT' && createHash('sha256').update(body).digest('hex') !== req.headers['x-amz-content-sha256']) {
      return s3Error(res, 400, 'XAmzContentSHA256Mismatch');
    }
    const key = decodeURIComponent(url.pathname);
    if (req.method === 'PUT') {
      objects.set(key, { body, type: String(req.headers['content-type']) });
      return res.writeHead(200, { etag: '"x"' }).end();
    }
    const found = objects.get(key);
    if (req.method === 'GET') {
      if (!found) return s3Error(res, 404, 'NoSuchKey');
      return res.writeHead(200, { 'content-type': found.type, 'content-length': found.body.length }).end(found.body);
    }
    if (req.method === 'DELETE') {
      objects.delete(key);
      return res.writeHead(204).end();
    }
    s3Error(res, 405, 'MethodNotAllowed');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  endpoint = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

describe('S3-compatible asset store', () => {
  it('puts, gets and deletes an object under bucket and prefix', async () => {
    const store = createS3AssetStore({ endpoint, bucket: 'assets', region: 'us-east-1', credentials, prefix: 'cheapa/' });
    const bytes = Buffer.from('mp4 bytes');
    const stored = await store.put('generations/gen_1/video.mp4', bytes, 'video/mp4');
    expect(stored).toEqual({ key: 'generations/gen_1/video.mp4', size: 9, sha256: createHash('sha256').update(bytes).digest('hex') });
    expect(objects.get('/assets/cheapa/generations/gen_1/video.mp4')).toEqual({ body: bytes, type: 'video/mp4' });
    const got = await store.get('generations/gen_1/video.mp4');
    expect(got?.size).toBe(9);
    expect(await buffer(got!.body)).toEqual(bytes);
    await store.delete('generations/gen_1/video.mp4');
    await store.delete('generations/gen_1/video.mp4');
    expect(await store.get('generations/gen_1/video.mp4')).toBeNull();
  });

  it('surfaces a refused signature as a typed error with the S3 code', async () => {
    const store = createS3AssetStore({ endpoint, bucket: 'assets', region: 'us-east-1', credentials: { ...credentials, secretAccessKey: 'wrong' } });
    await expect(store.put('a/b.png', Buffer.from('x'), 'image/png')).rejects.toMatchObject({ name: 'AssetStoreError', httpStatus: 403, code: 'SignatureDoesNotMatch' });
  });

  it('refuses unsafe keys before any request', async () => {
    const store = createS3AssetStore({ endpoint, bucket: 'assets', region: 'us-east-1', credentials });
    await expect(store.put('../x', Buffer.from('x'), 'image/png')).rejects.toBeInstanceOf(InvalidAssetKey);
  });

  it('reports an unreachable endpoint as a typed error', async () => {
    const store = createS3AssetStore({ endpoint: 'http://127.0.0.1:1', bucket: 'assets', region: 'us-east-1', credentials });
    await expect(store.get('a/b.png')).rejects.toBeInstanceOf(AssetStoreError);
  });
});
