// Assets in an S3-compatible bucket (AWS S3, MinIO, R2, …) through the official AWS SDK, which signs
// every request (SigV4) and hands out pre-signed GET links for customers. A PUT replaces the object
// whole, so a retried store is harmless.
import { createHash } from 'node:crypto';
import type { Readable } from 'node:stream';
import { DeleteObjectCommand, GetObjectCommand, PutObjectCommand, S3Client, S3ServiceException } from '@aws-sdk/client-s3';
import { getSignedUrl } from '@aws-sdk/s3-request-presigner';
import { assertAssetKey, type AssetContent, type AssetStore, type StoredAsset } from './asset-store.js';

export interface S3AssetStoreOptions {
  /** e.g. http://127.0.0.1:9000; unset means AWS S3 itself for the region. */
  endpoint?: string;
  bucket: string;
  region: string;
  /** Unset: the SDK's default chain (environment, profile, instance role). */
  credentials?: { accessKeyId: string; secretAccessKey: string; sessionToken?: string };
  /** Bucket in the path (`endpoint/bucket/key`) rather than the host name; what most non-AWS servers want. */
  forcePathStyle?: boolean;
  /** Prepended to every key, e.g. `cheapa/`. */
  prefix?: string;
  timeoutMs?: number;
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
  const timeoutMs = options.timeoutMs ?? 120_000;
  const client = new S3Client({
    region: options.region,
    endpoint: options.endpoint,
    forcePathStyle: options.forcePathStyle ?? false,
    credentials: options.credentials,
    // Checksums only where S3 requires them: S3-compatible servers differ in the newer checksum headers.
    requestChecksumCalculation: 'WHEN_REQUIRED',
    responseChecksumValidation: 'WHEN_REQUIRED',
    requestHandler: { connectionTimeout: Math.min(timeoutMs, 10_000), requestTimeout: timeoutMs },
  });
  const objectKey = (key: string) => {
    assertAssetKey(key);
    return `${options.prefix ?? ''}${key}`;
  };

  async function send<T>(what: string, run: () => Promise<T>): Promise<T> {
    try {
      return await run();
    } catch (err) {
      throw asStoreError(err, what);
    }
  }

  return {
    async put(key: string, bytes: Uint8Array, contentType: string): Promise<StoredAsset> {
      const Key = objectKey(key);
      await send('the upload', () => client.send(new PutObjectCommand({ Bucket: options.bucket, Key, Body: bytes, ContentType: contentType, ContentLength: bytes.byteLength })));
      return { key, size: bytes.byteLength, sha256: createHash('sha256').update(bytes).digest('hex') };
    },

    async get(key: string): Promise<AssetContent | null> {
      const Key = objectKey(key);
      try {
        const answer = await client.send(new GetObjectCommand({ Bucket: options.bucket, Key }));
        if (!answer.Body) throw new AssetStoreError('object storage answered without a body');
        return { size: answer.ContentLength ?? 0, body: answer.Body as Readable };
      } catch (err) {
        if (err instanceof S3ServiceException && (err.name === 'NoSuchKey' || err.$metadata.httpStatusCode === 404)) return null;
        throw asStoreError(err, 'the download');
      }
    },

    async delete(key: string): Promise<void> {
      const Key = objectKey(key);
      try {
        await client.send(new DeleteObjectCommand({ Bucket: options.bucket, Key }));
      } catch (err) {
        if (err instanceof S3ServiceException && err.$metadata.httpStatusCode === 404) return;
        throw asStoreError(err, 'the deletion');
      }
    },

    async presignedGetUrl(key: string, expiresInSeconds: number): Promise<string> {
      const Key = objectKey(key);
      return getSignedUrl(client, new GetObjectCommand({ Bucket: options.bucket, Key }), { expiresIn: expiresInSeconds });
    },
  };
}

function asStoreError(err: unknown, what: string): AssetStoreError {
  if (err instanceof AssetStoreError) return err;
  if (err instanceof S3ServiceException) {
    const status = err.$metadata.httpStatusCode;
    return new AssetStoreError(`object storage refused ${what}: HTTP ${status ?? '?'} ${err.name}`, status, err.name);
  }
  return new AssetStoreError(`object storage unreachable: ${(err as Error)?.message ?? String(err)}`);
}
