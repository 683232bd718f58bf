import type { ProvidersFile } from '../providers/routes-file.js';
import { UpstreamError, UpstreamProtocolError, normalizeUpstreamErrorBody } from '../providers/chat/errors.js';
import { createHttpChatUpstream, type ChatUpstream, type WireProtocol } from '../providers/chat/upstream.js';
import type { SseEvent } from '../providers/chat/sse.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest, FinishReason } from '../providers/chat/types.js';

// The Responses API of a provider marked `"responses": true` in PROVIDERS_FILE, spoken through the
// chat adapter's HTTP client (pool, timeouts, aborts, typed errors) with a wire of its own. Its
// answers come back in chat-completion terms, so that the chat exchange (fallback, tally,
// settlement) handles them unchanged, and carry the provider's own response or event untouched
// for the caller: `response` on a completion, `event` on a chunk.

/** The provider's own Response object, on a completion decoded from it. */
export const NATIVE_RESPONSE = 'response';
/** The provider's own streaming event, on a chunk decoded from it. */
export const NATIVE_EVENT = 'event';

type Json = Record<string, any>;

/**
 * The adapter's request type is chat's; a Responses body travels in it with an empty message list,
 * which this wire drops before sending.
 */
export function nativeRequest(body: Json): ChatCompletionRequest {
  return { ...body, model: String(body.model), messages: [] };
}

const responsesWire: WireProtocol = {
  path: '/responses',
  headers: (apiKey): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
  encode(request, stream) {
    const { messages: _carrier, ...body } = request;
    return { ...body, stream };
  },
  decode(body) {
    if (!isResponse(body)) throw new UpstreamProtocolError('upstream answer is not a Response object');
    return asCompletion(body);
  },
  streamDecoder: (secrets) => (event) => decodeEvent(event, secrets),
};

export function createResponsesUpstream(options: { baseUrl: string; apiKey?: string; timeoutMs?: number }): ChatUpstream {
  return createHttpChatUpstream(options, responsesWire);
}

/** The native Responses adapters of the providers marked `"responses": true`, by provider name. */
export function nativeResponsesUpstreams(file: ProvidersFile | undefined): ReadonlyMap<string, ChatUpstream> {
  const native = new Map<string, ChatUpstream>();
  for (const p of file?.providers ?? []) {
    if (p.api === 'openai' && p.responses) native.set(p.name, createResponsesUpstream({ baseUrl: p.baseUrl, apiKey: p.apiKey, timeoutMs: p.timeoutMs }));
  }
  return native;
}

function isResponse(value: unknown): value is Json {
  return value !== null && typeof value === 'object' && Array.isArray((value as Json).output);
}

const TERMINAL = new Set(['response.completed', 'response.incomplete', 'response.failed']);

function decodeEvent(event: SseEvent, secrets: string[]): { chunks: ChatCompletionChunk[]; end: boolean } {
  let payload: Json;
  try {
    payload = JSON.parse(event.data) as Json;
  } catch {
    throw new UpstreamProtocolError('upstream stream event is not JSON');
  }
  const type = typeof payload?.type === 'string' ? payload.type : event.event;
  if (type === 'error') throw new UpstreamError(502, normalizeUpstreamErrorBody(502, JSON.stringify({ error: payload.error ?? payload }), secrets));
  const chunk: ChatCompletionChunk = { id: '', object: 'chat.completion.chunk', created: 0, model: '', choices: [], [NATIVE_EVENT]: payload };
  if (type === 'response.output_text.delta' || type === 'response.function_call_arguments.delta' || type === 'response.refusal.delta') {
    // What the tally counts as produced, should the stream be cut before it reports usage.
    if (typeof payload.delta === 'string') chunk.choices = [{ index: 0, delta: { content: payload.delta }, finish_reason: null }];
  }
  if (TERMINAL.has(type)) {
    const usage = isResponse(payload.response) ? asCompletion(payload.response).usage : undefined;
    if (usage) chunk.usage = usage;
    return { chunks: [chunk], end: true };
  }
  return { chunks: [chunk], end: false };
}

/** The tally's view of a Response: its text and calls as one chat choice, its usage as chat usage. */
function asCompletion(response: Json): ChatCompletion {
  let text = '';
  const toolCalls: Json[] = [];
  for (const item of response.output as Json[]) {
    if (item?.type === 'message' && Array.isArray(item.content)) {
      for (const part of item.content as Json[]) if (typeof part?.text === 'string') text += part.text;
    }
    if (item?.type === 'function_call') toolCalls.push({ id: item.call_id, type: 'function', function: { name: item.name, arguments: item.arguments } });
  }
  const finish: FinishReason = response.status === 'incomplete' ? 'length' : toolCalls.length ? 'tool_calls' : 'stop';
  const completion: ChatCompletion = {
    id: String(response.id ?? ''),
    object: 'chat.completion',
    created: Number(response.created_at ?? 0),
    model: String(response.model ?? ''),
    choices: [{ index: 0, message: { role: 'assistant', content: text, ...(toolCalls.length ? { tool_calls: toolCalls } : {}) }, finish_reason: finish }],
    [NATIVE_RESPONSE]: response,
  };
  const u = response.usage as Json | null | undefined;
  if (u && Number.isSafeInteger(u.input_tokens) && Number.isSafeInteger(u.output_tokens)) {
    completion.usage = {
      prompt_tokens: u.input_tokens,
      completion_tokens: u.output_tokens,
      total_tokens: u.input_tokens + u.output_tokens,
      prompt_tokens_details: { cached_tokens: u.input_tokens_details?.cached_tokens ?? 0 },
      completion_tokens_details: { reasoning_tokens: u.output_tokens_details?.reasoning_tokens ?? 0 },
    };
  }
  return completion;
}
