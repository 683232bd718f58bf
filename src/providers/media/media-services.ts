import { createHash } from 'node:crypto';
import type { Config } from '../../config.js';
import type { AssetStore } from '../../storage/asset-store.js';
import { createLocalAssetStore } from '../../storage/local-asset-store.js';
import { createGeminiMediaProvider } from './gemini.js';
import type { MediaProvider } from './media-provider.js';
import { createGeminiSandbox, type GeminiSandbox } from '../../sandboxes/gemini/gemini-sandbox.js';

export const SANDBOX_GEMINI_PATH = '/sandbox/gemini';

export interface MediaServices {
  media: MediaProvider;
  assets: AssetStore;
  /** Present when GEMINI_API_KEY is unset: the app mounts it at /sandbox/gemini and `media` talks to it. */
  sandboxGemini?: GeminiSandbox;
}

/**
 * The real Gemini adapter, pointed at Google when a key is configured, or at the embedded simulated Gemini
 * served by this same service. The sandbox key is derived from the admin token so that an API process and
 * a separate worker process agree on it without another secret to configure.
 */
export function createMediaServices(config: Config, adminToken: string): MediaServices {
  const assets = createLocalAssetStore(config.dataDir);
  if (config.gemini.apiKey) {
    return { assets, media: createGeminiMediaProvider({ apiKey: config.gemini.apiKey, baseUrl: config.gemini.baseUrl }) };
  }
  const apiKey = `sandbox-${createHash('sha256').update(`cheapa-sandbox-gemini:${adminToken}`).digest('hex').slice(0, 32)}`;
  const sandboxGemini = createGeminiSandbox({
    apiKey,
    imageDelayMs: config.generations.simulatedImageDelayMs,
    videoDelayMs: config.generations.simulatedVideoDelayMs,
  });
  return {
    assets,
    sandboxGemini,
    media: createGeminiMediaProvider({ apiKey, baseUrl: `http://127.0.0.1:${config.port}${SANDBOX_GEMINI_PATH}` }),
  };
}
