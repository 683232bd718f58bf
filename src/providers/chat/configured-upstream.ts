import type { Config } from '../../config.js';
import type { ChatSandboxOptions } from '../../sandboxes/chat/chat-sandbox.js';
import { createChatUpstream, type ChatUpstream } from './upstream.js';

/** Where the app mounts the simulated upstream when no real one is configured. */
export const SIMULATED_UPSTREAM_PATH = '/sandbox/openai/v1';

export interface ConfiguredChatUpstream {
  chatUpstream: ChatUpstream;
  /** Set when the embedded simulator stands in for a real upstream: the app must mount it. */
  simulatedUpstream?: ChatSandboxOptions;
}

/**
 * `UPSTREAM_BASE_URL` (+ `UPSTREAM_API_KEY`) when set; otherwise the simulator served by this very
 * service, reached over loopback HTTP so the real adapter is exercised either way.
 */
export function configuredChatUpstream(config: Pick<Config, 'upstream' | 'port'>): ConfiguredChatUpstream {
  if (config.upstream.baseUrl) {
    return { chatUpstream: createChatUpstream({ baseUrl: config.upstream.baseUrl, apiKey: config.upstream.apiKey }) };
  }
  return {
    chatUpstream: createChatUpstream({ baseUrl: `http://127.0.0.1:${config.port}${SIMULATED_UPSTREAM_PATH}` }),
    simulatedUpstream: {},
  };
}
