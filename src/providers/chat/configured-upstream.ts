import type { Config } from '../../config.js';
import type { ProviderSpec } from '../routes-file.js';
import { createAnthropicUpstream } from './anthropic-upstream.js';
import { ModelRoutes } from './model-routes.js';
import { createChatUpstream, type ChatUpstream } from './upstream.js';

export interface ConfiguredChatUpstream {
  chatRoutes: ModelRoutes;
}

/**
 * `PROVIDERS_FILE` routes the models it lists; `UPSTREAM_BASE_URL` (+ `UPSTREAM_API_KEY`) serves
 * every other chat model. With neither, the chat sandbox (reached over loopback HTTP so the real
 * adapter is exercised either way) serves them all where allowed; otherwise a model has no route
 * and the route answers 503 model_unavailable.
 */
export function configuredChatUpstream(
  config: Pick<Config, 'upstream' | 'providers'>,
  sandbox?: { baseUrl: string; apiKey: string },
): ConfiguredChatUpstream {
  const adapters = new Map((config.providers?.providers ?? []).map((p) => [p.name, adapterFor(p)]));
  if (config.upstream.baseUrl) {
    const shorthand = createChatUpstream({ baseUrl: config.upstream.baseUrl, apiKey: config.upstream.apiKey });
    return { chatRoutes: new ModelRoutes(config.providers, adapters, shorthand) };
  }
  if (config.providers) return { chatRoutes: new ModelRoutes(config.providers, adapters) };
  return { chatRoutes: new ModelRoutes(undefined, adapters, sandbox ? createChatUpstream(sandbox) : undefined) };
}

function adapterFor(provider: ProviderSpec): ChatUpstream {
  const options = { baseUrl: provider.baseUrl, apiKey: provider.apiKey, timeoutMs: provider.timeoutMs };
  return provider.api === 'anthropic' ? createAnthropicUpstream(options) : createChatUpstream(options);
}
