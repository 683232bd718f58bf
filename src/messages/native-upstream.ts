import { ANTHROPIC_VERSION } from '../providers/chat/anthropic-upstream.js';
import { AnthropicStreamError, AnthropicStreamTranslator, fromAnthropicMessage, isAnthropicMessage } from '../providers/chat/anthropic-response.js';
import { normalizeUpstreamErrorBody, UpstreamError, UpstreamProtocolError } from '../providers/chat/errors.js';
import type { SseEvent } from '../providers/chat/sse.js';
import type { ChatCompletionChunk, ChatCompletionRequest } from '../providers/chat/types.js';
import { createHttpChatUpstream, type ChatUpstream, type WireProtocol } from '../providers/chat/upstream.js';
import type { ProvidersFile } from '../providers/routes-file.js';

// Anthropic's Messages API spoken natively, for POST /v1/messages on a route whose provider has
// `api: "anthropic"`: the caller's own body goes out, so nothing is lost in a round trip through
// chat completions (thinking, cache_control, top_k, documents, citations, tool_choice details). As
// with native Responses (src/responses/native-upstream.ts), answers come back in chat-completion
// terms for the chat exchange (fallback, tally, settlement) and carry the provider's own message
// or event untouched for the face: `anthropic_message` on a completion, `anthropic_event` on a chunk.

/** The provider's own Message object, on a completion decoded from it. */
export const NATIVE_MESSAGE = 'anthropic_message';
/** The provider's own streaming event, on a chunk decoded from it. */
export const NATIVE_MESSAGE_EVENT = 'anthropic_event';

/** The Anthropic headers of the caller passed on (`anthropic-version`, `anthropic-beta`): never sent in the body. */
const CALLER_HEADERS = Symbol('anthropic caller headers');

type Json = Record<string, any>;
type CarryingRequest = ChatCompletionRequest & { [CALLER_HEADERS]?: Record<string, string> };

/**
 * The adapter's request type is chat's; a Messages body travels in it as it is (its `messages` are
 * Anthropic's), with the caller's Anthropic headers beside it.
 */
export function nativeMessageRequest(body: Json, headers: Record<string, string>): ChatCompletionRequest {
  const request: CarryingRequest = { ...body, model: String(body.model), messages: body.messages as ChatCompletionRequest['messages'] };
  request[CALLER_HEADERS] = headers;
  return request;
}

const messagesWire: WireProtocol = {
  path: '/v1/messages',
  headers(apiKey, request) {
    const caller = (request as CarryingRequest | undefined)?.[CALLER_HEADERS] ?? {};
    return { 'anthropic-version': ANTHROPIC_VERSION, ...caller, ...(apiKey ? { 'x-api-key': apiKey } : {}) };
  },
  encode(request, stream) {
    const { stream: _asked, ...body } = request;
    return stream ? { ...body, stream: true } : body;
  },
  decode(body) {
    if (!isAnthropicMessage(body)) throw new UpstreamProtocolError('upstream answer is not an Anthropic message');
    return { ...fromAnthropicMessage(body), [NATIVE_MESSAGE]: body };
  },
  streamDecoder(secrets) {
    const translator = new AnthropicStreamTranslator();
    return (event) => decodeEvent(translator, event, secrets);
  },
};

export function createNativeMessagesUpstream(options: { baseUrl: string; apiKey?: string; timeoutMs?: number }): ChatUpstream {
  return createHttpChatUpstream(options, messagesWire);
}

/** The native Messages adapters of the providers with `api: "anthropic"`, by provider name. */
export function nativeMessagesUpstreams(file: ProvidersFile | undefined): ReadonlyMap<string, ChatUpstream> {
  const native = new Map<string, ChatUpstream>();
  for (const p of file?.providers ?? []) {
    if (p.api === 'anthropic') native.set(p.name, createNativeMessagesUpstream({ baseUrl: p.baseUrl, apiKey: p.apiKey, timeoutMs: p.timeoutMs }));
  }
  return native;
}

/**
 * One event in, one chunk out carrying it: the translator's chunk when the event says something in
 * chat terms (text, tool calls, usage), an empty one otherwise. Thinking is counted as reasoning, so
 * that a stream cut before its usage is billed for the thinking it produced too.
 */
function decodeEvent(translator: AnthropicStreamTranslator, event: SseEvent, secrets: string[]): { chunks: ChatCompletionChunk[]; end: boolean } {
  let chunks: ChatCompletionChunk[];
  let payload: Json;
  try {
    chunks = translator.translate(event.event, event.data);
    payload = JSON.parse(event.data) as Json;
  } catch (error) {
    if (error instanceof AnthropicStreamError) throw new UpstreamError(502, normalizeUpstreamErrorBody(502, error.data, secrets));
    throw new UpstreamProtocolError('upstream stream event is not valid JSON');
  }
  const delta = payload?.type === 'content_block_delta' ? (payload.delta as Json | undefined) : undefined;
  if (chunks.length === 0 && delta?.type === 'thinking_delta' && typeof delta.thinking === 'string') {
    chunks = [{ id: '', object: 'chat.completion.chunk', created: 0, model: '', choices: [{ index: 0, delta: { reasoning_content: delta.thinking }, finish_reason: null }] }];
  }
  const [first, ...rest] = chunks.length ? chunks : [{ id: '', object: 'chat.completion.chunk' as const, created: 0, model: '', choices: [] }];
  return { chunks: [{ ...first!, [NATIVE_MESSAGE_EVENT]: { ...payload, type: payload?.type ?? event.event } }, ...rest], end: translator.done };
}
