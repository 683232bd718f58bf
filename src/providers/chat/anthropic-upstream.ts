import { toAnthropicRequest, UntranslatableRequest } from './anthropic-request.js';
import { AnthropicStreamError, AnthropicStreamTranslator, fromAnthropicMessage, isAnthropicMessage } from './anthropic-response.js';
import { normalizeUpstreamErrorBody, UpstreamError, UpstreamProtocolError } from './errors.js';
import { createHttpChatUpstream, type ChatUpstream, type ChatUpstreamOptions, type WireProtocol } from './upstream.js';

/** The Messages API version whose wire format anthropic-request/-response translate. */
export const ANTHROPIC_VERSION = '2023-06-01';

/**
 * The adapter for Anthropic's Messages API, behind the same interface as OpenAI-compatible
 * upstreams: the gateway sends chat completions and gets chat completions back. `baseUrl` is the
 * API root without `/v1`, e.g. `https://api.anthropic.com`.
 */
export function createAnthropicUpstream(options: ChatUpstreamOptions): ChatUpstream {
  const upstream = createHttpChatUpstream(options, anthropicWire);
  // A request that cannot be said in Anthropic's terms is the caller's mistake: answered as a 400,
  // before anything is sent.
  const refuse = (error: unknown): never => {
    if (error instanceof UntranslatableRequest) {
      throw new UpstreamError(400, { error: { message: error.message, type: 'invalid_request_error', code: 'unsupported_value', param: error.param } });
    }
    throw error;
  };
  return {
    complete: (request, call) => upstream.complete(request, call).catch(refuse),
    stream: (request, call) => upstream.stream(request, call).catch(refuse),
  };
}

const anthropicWire: WireProtocol = {
  path: '/v1/messages',
  headers: (apiKey) => ({ 'anthropic-version': ANTHROPIC_VERSION, ...(apiKey ? { 'x-api-key': apiKey } : {}) }),
  encode: (request, stream) => toAnthropicRequest(request, stream),
  decode(body) {
    if (!isAnthropicMessage(body)) throw new UpstreamProtocolError('upstream answer is not an Anthropic message');
    return fromAnthropicMessage(body);
  },
  streamDecoder(secrets) {
    const translator = new AnthropicStreamTranslator();
    return (event) => {
      try {
        const chunks = translator.translate(event.event, event.data);
        return { chunks, end: translator.done };
      } catch (error) {
        if (error instanceof AnthropicStreamError) throw new UpstreamError(502, normalizeUpstreamErrorBody(502, error.data, secrets));
        throw new UpstreamProtocolError('upstream stream event is not valid JSON');
      }
    };
  },
};
