// Assets in an S3-compatible bucket (AWS S3, MinIO, R2, …) over plain fetch with SigV4, path-style addressing.
// A PUT replaces the object whole, so a retried store is harmless; the signed payload hash lets the server
// reject a body damaged in transit.
import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { assertAssetKey, type AssetContent, type AssetStore, type StoredAsset } from './asset-store.js';
import { EMPTY_SHA256, signRequest, type SigV4Credentials } from './sigv4.js';

export interface S3AssetStoreOptions {
  /** e.g. https://s3.eu-west-1.amazonaws.com or http://127.0.0.1:9000 */
  endpoint: string;
  bucket: string;
  region: string;
  credentials: SigV4Credentials;
  /** Prepended to every key, e.g. `cheapa/`. */
  prefix?: string;
  timeoutMs?: number;
  fetch?: typeof fetch;
}

export class AssetStoreError extends Error {
  override readonly name = 'AssetStoreError';
  constructor(
    message: string,
    readonly httpStatus?: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

export function createS3AssetStore(options: S3AssetStoreOptions): AssetStore {
  const endpoint = options.endpoint.replace(/\/+$/, '');
  const fetchImpl = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 120_000;
  const prefix = options.prefix ?? '';

  async function send(method: string, key: string, body?: Uint8Array, extra: Record<string, string> = {}): Promise<Response> {
    assertAssetKey(key);
    const url = new URL(`${endpoint}/${encodeURIComponent(options.bucket)}/${`${prefix}${key}`.split('/').map(encodeURIComponent).join('/')}`);
    const payloadHash = body ? createHash('sha256').update(body).digest('hex') : EMPTY_SHA256;
    const headers = signRequest({ method, url, headers: extra, payloadHash, region: options.region, credentials: options.credentials, now: new Date() });
    delete headers.host;
    try {
      return await fetchImpl(url, { method, headers, body: body as BodyInit | undefined, signal: AbortSignal.timeout(timeoutMs) });
    } catch (err) {
      throw new AssetStoreError(`object storage unreachable: ${(err as Error).message}`);
    }
  }

  async function failure(res: Response, what: string): Promise<AssetStoreError> {
    const text = await res.text().catch(() => '');
    const code = /<Code>([^<]{1,64})<\/Code>/.exec(text)?.[1];
    return new AssetStoreError(`object storage refused ${what}: HTTP ${res.status}${code ? ` ${code}` : ''}`, res.status, code);
  }

  return {
    async put(key: string, bytes: Uint8Array, contentType: string): Promise<StoredAsset> {
      const res = await send('PUT', key, bytes, { 'content-type': contentType });
      if (!res.ok) throw await failure(res, 'the upload');
      await res.body?.cancel();
      return { key, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
    },

    async get(key: string): Promise<AssetContent | null> {
      const res = await send('GET', key);
      if (res.status === 404) {
        await res.body?.cancel();
        return null;
      }
      if (!res.ok || !res.body) throw await failure(res, 'the download');
      return { size: Number(res.headers.get('content-length') ?? 0), body: Readable.fromWeb(res.body as WebReadableStream<Uint8Array>) };
    },

    async delete(key: string): Promise<void> {
      const res = await send('DELETE', key);
      if (!res.ok && res.status !== 404) throw await failure(res, 'the deletion');
      await res.body?.cancel();
    },
  };
}
