// Where generated images and videos live once delivered. Keys are ours (e.g. `generations/<id>/0.png`), chosen
// by the caller so that a retried store of the same asset overwrites instead of duplicating.
import type { Readable } from 'node:stream';

export interface StoredAsset {
  key: string;
  size: number;
  /** Lowercase hex SHA-256 of the stored bytes. */
  sha256: string;
}

export interface AssetContent {
  size: number;
  body: Readable;
}

export interface AssetStore {
  /** Stores the bytes under `key`, replacing any previous content atomically. */
  put(key: string, bytes: Uint8Array, contentType: string): Promise<StoredAsset>;
  /** The content, or null when nothing is stored under `key`. */
  get(key: string): Promise<AssetContent | null>;
  /** Removes the asset; removing a missing one is not an error. */
  delete(key: string): Promise<void>;
  /** Stores that hand out links of their own (an S3 pre-signed GET) offer them here. */
  presignedGetUrl?(key: string, expiresInSeconds: number): Promise<string>;
}

export class InvalidAssetKey extends Error {
  override readonly name = 'InvalidAssetKey';
}

const SEGMENT = /^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$/;

/** Keys are slash-separated segments of safe characters, never `.`/`..`, so they cannot escape the store. */
export function assertAssetKey(key: string): string[] {
  const segments = key.split('/');
  if (key.length > 512 || segments.length > 8 || !segments.every((s) => SEGMENT.test(s) && !/^\.+$/.test(s))) {
    throw new InvalidAssetKey(`invalid asset key: ${JSON.stringify(key.slice(0, 80))}`);
  }
  return segments;
}
