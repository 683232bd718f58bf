// Links to stored assets that a browser can open without a bearer token: the path and an expiry,
// signed with HMAC-SHA256 under a per-install secret. Anyone holding the link may fetch the asset
// until it expires, as with OpenAI's image URLs or an S3 pre-signed GET; nothing else is reachable.
import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { Config } from '../config.js';
import { assertAssetKey, type AssetStore } from './asset-store.js';

/** Where the app serves signed links; mounted outside /v1, so no API key is asked for. */
export const SIGNED_ASSET_PATH = '/assets';

export interface SignedAssetQuery {
  expires: string;
  signature: string;
}

export class AssetUrlSigner {
  private readonly secret: Buffer;

  constructor(
    secret: string,
    private readonly publicUrl: string,
    private readonly ttlSeconds: number,
  ) {
    this.secret = Buffer.from(secret, 'utf8');
  }

  /** An absolute URL to `key`, valid for the configured time from `now`. */
  urlFor(key: string, now: Date = new Date()): string {
    const path = pathOf(key);
    const expires = String(Math.floor(now.getTime() / 1000) + this.ttlSeconds);
    return `${this.publicUrl}${path}?expires=${expires}&signature=${this.mac(path, expires)}`;
  }

  /** True only for a signature this secret made for this very path and expiry, before that expiry. */
  verify(key: string, query: SignedAssetQuery, now: Date = new Date()): boolean {
    if (!/^\d{1,12}$/.test(query.expires) || Number(query.expires) * 1000 <= now.getTime()) return false;
    let path: string;
    try {
      path = pathOf(key);
    } catch {
      return false;
    }
    const expected = Buffer.from(this.mac(path, query.expires), 'utf8');
    const given = Buffer.from(query.signature, 'utf8');
    return given.length === expected.length && timingSafeEqual(given, expected);
  }

  private mac(path: string, expires: string): string {
    return createHmac('sha256', this.secret).update(`GET\n${path}\n${expires}`).digest('base64url');
  }
}

function pathOf(key: string): string {
  return `${SIGNED_ASSET_PATH}/${assertAssetKey(key).map(encodeURIComponent).join('/')}`;
}

/** The link handed to customers for a stored asset. */
export interface AssetLinks {
  urlFor(key: string): Promise<string>;
}

/** The store's own pre-signed link where it has one; otherwise a link to this service, signed here. */
export function assetLinksFor(store: AssetStore, signer: AssetUrlSigner, ttlSeconds: number): AssetLinks {
  return {
    urlFor: (key) => (store.presignedGetUrl ? store.presignedGetUrl(key, ttlSeconds) : Promise.resolve(signer.urlFor(key))),
  };
}

/**
 * The signer and the links of one install. Without ASSET_URL_SECRET the key is derived from the
 * admin token, so that every process of the install signs and checks alike with nothing more to configure.
 */
export function createAssetLinks(config: Pick<Config, 'assetUrls' | 'publicUrl'>, store: AssetStore, adminToken: string) {
  const secret = config.assetUrls.secret ?? createHash('sha256').update(`cheapa-asset-urls:${adminToken}`).digest('hex');
  const assetUrlSigner = new AssetUrlSigner(secret, config.publicUrl, config.assetUrls.ttlSeconds);
  return { assetUrlSigner, assetLinks: assetLinksFor(store, assetUrlSigner, config.assetUrls.ttlSeconds) };
}
