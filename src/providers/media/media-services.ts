import type { Config } from '../../config.js';
import type { AssetStore } from '../../storage/asset-store.js';
import { createLocalAssetStore } from '../../storage/local-asset-store.js';
import { createS3AssetStore } from '../../storage/s3-asset-store.js';
import { MediaProviderError } from './failures.js';
import { createGeminiMediaProvider } from './gemini.js';
import type { MediaProvider } from './media-provider.js';

export interface MediaServices {
  media: MediaProvider;
  assets: AssetStore;
}

/**
 * The real Gemini adapter, pointed at Google when a key is configured, or at the Gemini sandbox
 * where allowed; otherwise a provider that refuses (not retried), behind the routes' 503
 * model_unavailable.
 */
export function createMediaServices(config: Config, sandbox?: { baseUrl: string; apiKey: string }): MediaServices {
  const assets = configuredAssetStore(config);
  if (config.gemini.apiKey) {
    return { assets, media: createGeminiMediaProvider({ apiKey: config.gemini.apiKey, baseUrl: config.gemini.baseUrl }) };
  }
  if (sandbox) return { assets, media: createGeminiMediaProvider(sandbox) };
  return { assets, media: disabledMediaProvider };
}

const unavailable = () => new MediaProviderError('auth', 'No image/video provider is configured on this installation.', false);

const disabledMediaProvider: MediaProvider = {
  generateImage: () => Promise.reject(unavailable()),
  startVideo: () => Promise.reject(unavailable()),
  getVideoOperation: () => Promise.reject(unavailable()),
  downloadVideo: () => Promise.reject(unavailable()),
};

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
