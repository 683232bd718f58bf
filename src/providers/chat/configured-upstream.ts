import type { Config } from '../../config.js';
import { UpstreamError } from './errors.js';
import { createChatUpstream, type ChatUpstream } from './upstream.js';

export interface ConfiguredChatUpstream {
  chatUpstream: ChatUpstream;
}

/**
 * `UPSTREAM_BASE_URL` (+ `UPSTREAM_API_KEY`) when set; otherwise the chat sandbox (reached over
 * loopback HTTP so the real adapter is exercised either way) where allowed; otherwise an upstream
 * that refuses, behind the route's 503 model_unavailable.
 */
export function configuredChatUpstream(
  config: Pick<Config, 'upstream'>,
  sandbox?: { baseUrl: string; apiKey: string },
): ConfiguredChatUpstream {
  if (config.upstream.baseUrl) {
    return { chatUpstream: createChatUpstream({ baseUrl: config.upstream.baseUrl, apiKey: config.upstream.apiKey }) };
  }
  if (sandbox) return { chatUpstream: createChatUpstream(sandbox) };
  return { chatUpstream: disabledChatUpstream };
}

const unavailable = () =>
  new UpstreamError(503, {
    error: { message: 'No chat upstream is configured on this installation.', type: 'api_error', code: 'model_unavailable', param: null },
  });

const disabledChatUpstream: ChatUpstream = {
  complete: () => Promise.reject(unavailable()),
  stream: () => Promise.reject(unavailable()),
  embed: () => Promise.reject(unavailable()),
};
