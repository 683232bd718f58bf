import type { Config } from '../../config.js';
import type { ChatSandboxOptions } from '../../sandboxes/chat/chat-sandbox.js';
import type { ProviderSpec } from '../routes-file.js';
import { createAnthropicUpstream } from './anthropic-upstream.js';
import { ModelRoutes } from './model-routes.js';
import { createChatUpstream, type ChatUpstream } from './upstream.js';

/** Where the app mounts the simulated upstream when no real one is configured. */
export const SIMULATED_UPSTREAM_PATH = '/sandbox/openai/v1';

export interface ConfiguredChatUpstream {
  chatRoutes: ModelRoutes;
  /** Set when the embedded simulator stands in for a real upstream: the app must mount it. */
  simulatedUpstream?: ChatSandboxOptions;
}

/**
 * `PROVIDERS_FILE` routes the models it lists; `UPSTREAM_BASE_URL` (+ `UPSTREAM_API_KEY`) serves
 * every other chat model. With neither, the simulator served by this very service serves them all,
 * reached over loopback HTTP so the real adapter is exercised either way.
 */
export function configuredChatUpstream(config: Pick<Config, 'upstream' | 'port' | 'providers'>): ConfiguredChatUpstream {
  const adapters = new Map((config.providers?.providers ?? []).map((p) => [p.name, adapterFor(p)]));
  if (config.upstream.baseUrl) {
    const shorthand = createChatUpstream({ baseUrl: config.upstream.baseUrl, apiKey: config.upstream.apiKey });
    return { chatRoutes: new ModelRoutes(config.providers, adapters, shorthand) };
  }
  if (config.providers) return { chatRoutes: new ModelRoutes(config.providers, adapters) };
  const simulator = createChatUpstream({ baseUrl: `http://127.0.0.1:${config.port}${SIMULATED_UPSTREAM_PATH}` });
  return { chatRoutes: new ModelRoutes(undefined, adapters, simulator), simulatedUpstream: {} };
}

function adapterFor(provider: ProviderSpec): ChatUpstream {
  const options = { baseUrl: provider.baseUrl, apiKey: provider.apiKey, timeoutMs: provider.timeoutMs };
  return provider.api === 'anthropic' ? createAnthropicUpstream(options) : createChatUpstream(options);
}
