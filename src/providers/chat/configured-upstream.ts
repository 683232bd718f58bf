import type { Config } from '../../config.js';
import type { ProviderSpec } from '../routes-file.js';
import { createAnthropicUpstream } from './anthropic-upstream.js';
import { ModelRoutes } from './model-routes.js';
import { UpstreamError } from './errors.js';
import { createChatUpstream, type ChatUpstream, type EmbeddingUpstream } from './upstream.js';

export interface ConfiguredChatUpstream {
  chatRoutes: ModelRoutes;
  /** Where POST /v1/embeddings goes: one OpenAI-compatible server for every embedding model. */
  embeddingUpstream: EmbeddingUpstream;
}

/**
 * `PROVIDERS_FILE` routes the models it lists; `UPSTREAM_BASE_URL` (+ `UPSTREAM_API_KEY`) serves
 * every other chat model. With neither, the chat sandbox (reached over loopback HTTP so the real
 * adapter is exercised either way) serves them all where allowed; otherwise a model has no route
 * and the route answers 503 model_unavailable.
 *
 * Embeddings follow the same precedence with one server for all embedding models (the routes file
 * lists chat models only): `UPSTREAM_BASE_URL` when set; else, with a `PROVIDERS_FILE`, its first
 * OpenAI-protocol provider (Anthropic has no embeddings API); else the chat sandbox where allowed;
 * otherwise an upstream that refuses with 503 model_unavailable.
 */
export function configuredChatUpstream(
  config: Pick<Config, 'upstream' | 'providers'>,
  sandbox?: { baseUrl: string; apiKey: string },
): ConfiguredChatUpstream {
  const adapters = new Map((config.providers?.providers ?? []).map((p) => [p.name, adapterFor(p)]));
  if (config.upstream.baseUrl) {
    const shorthand = createChatUpstream({ baseUrl: config.upstream.baseUrl, apiKey: config.upstream.apiKey });
    return { chatRoutes: new ModelRoutes(config.providers, adapters, shorthand), embeddingUpstream: shorthand };
  }
  if (config.providers) {
    const openAi = config.providers.providers.find((p) => p.api === 'openai');
    const embeddingUpstream = openAi ? createChatUpstream({ baseUrl: openAi.baseUrl, apiKey: openAi.apiKey, timeoutMs: openAi.timeoutMs }) : disabledEmbeddingUpstream;
    return { chatRoutes: new ModelRoutes(config.providers, adapters), embeddingUpstream };
  }
  const simulator = sandbox ? createChatUpstream(sandbox) : undefined;
  return { chatRoutes: new ModelRoutes(undefined, adapters, simulator), embeddingUpstream: simulator ?? disabledEmbeddingUpstream };
}

function adapterFor(provider: ProviderSpec): ChatUpstream {
  const options = { baseUrl: provider.baseUrl, apiKey: provider.apiKey, timeoutMs: provider.timeoutMs };
  return provider.api === 'anthropic' ? createAnthropicUpstream(options) : createChatUpstream(options);
}

const unavailable = () =>
  new UpstreamError(503, {
    error: { message: 'No embeddings upstream is configured on this installation.', type: 'api_error', code: 'model_unavailable', param: null },
  });

const disabledEmbeddingUpstream: EmbeddingUpstream = { embed: () => Promise.reject(unavailable()) };
