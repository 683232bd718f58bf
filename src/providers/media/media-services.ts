import { createHash } from 'node:crypto';
import type { Config } from '../../config.js';
import type { AssetStore } from '../../storage/asset-store.js';
import { createLocalAssetStore } from '../../storage/local-asset-store.js';
import { createS3AssetStore } from '../../storage/s3-asset-store.js';
import { AssetUrlSigner, assetLinksFor, type AssetLinks } from '../../storage/signed-url.js';
import { createGeminiMediaProvider } from './gemini.js';
import type { MediaProvider } from './media-provider.js';
import { createGeminiSandbox, type GeminiSandbox } from '../../sandboxes/gemini/gemini-sandbox.js';

export const SANDBOX_GEMINI_PATH = '/sandbox/gemini';

export interface MediaServices {
  media: MediaProvider;
  assets: AssetStore;
  /** Links customers can open without a key (response_format=url). */
  assetLinks: AssetLinks;
  /** Checks the links this service signs itself (served under /assets). */
  assetUrlSigner: AssetUrlSigner;
  /** Present when GEMINI_API_KEY is unset: the app mounts it at /sandbox/gemini and `media` talks to it. */
  sandboxGemini?: GeminiSandbox;
}

/**
 * The real Gemini adapter, pointed at Google when a key is configured, or at the embedded simulated Gemini
 * served by this same service. The sandbox key is derived from the admin token so that an API process and
 * a separate worker process agree on it without another secret to configure.
 */
export function createMediaServices(config: Config, adminToken: string): MediaServices {
  const assets = configuredAssetStore(config);
  // Derived like the sandbox key below: every process of one install signs and checks alike.
  const secret = config.assetUrls.secret ?? createHash('sha256').update(`cheapa-asset-urls:${adminToken}`).digest('hex');
  const assetUrlSigner = new AssetUrlSigner(secret, config.publicUrl, config.assetUrls.ttlSeconds);
  const stored = { assets, assetUrlSigner, assetLinks: assetLinksFor(assets, assetUrlSigner, config.assetUrls.ttlSeconds) };
  if (config.gemini.apiKey) {
    return { ...stored, media: createGeminiMediaProvider({ apiKey: config.gemini.apiKey, baseUrl: config.gemini.baseUrl }) };
  }
  const apiKey = `sandbox-${createHash('sha256').update(`cheapa-sandbox-gemini:${adminToken}`).digest('hex').slice(0, 32)}`;
  const sandboxGemini = createGeminiSandbox({
    apiKey,
    imageDelayMs: config.generations.simulatedImageDelayMs,
    videoDelayMs: config.generations.simulatedVideoDelayMs,
  });
  return {
    ...stored,
    sandboxGemini,
    media: createGeminiMediaProvider({ apiKey, baseUrl: `http://127.0.0.1:${config.port}${SANDBOX_GEMINI_PATH}` }),
  };
}

/** The S3-compatible bucket when one is configured, otherwise files under DATA_DIR/assets. */
export function configuredAssetStore(config: Pick<Config, 's3' | 'dataDir'>): AssetStore {
  const s3 = config.s3;
  if (!s3) return createLocalAssetStore(config.dataDir);
  return createS3AssetStore({
    endpoint: s3.endpoint,
    bucket: s3.bucket,
    region: s3.region,
    credentials: s3.accessKeyId && s3.secretAccessKey ? { accessKeyId: s3.accessKeyId, secretAccessKey: s3.secretAccessKey } : undefined,
    forcePathStyle: s3.forcePathStyle,
    prefix: s3.prefix === undefined || s3.prefix.endsWith('/') ? s3.prefix : `${s3.prefix}/`,
  });
}
