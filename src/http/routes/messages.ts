import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { Router } from 'express';
import { z } from 'zod';
import type { HeldChatCall } from '../../chat/chat-call.js';
import { promptTokenBound } from '../../chat/prompt-bound.js';
import { countPromptTokens } from '../../chat/tokens.js';
import { messagesFace } from '../../messages/messages-face.js';
import {
  countTokensRequestSchema,
  messagesRequestSchema,
  promptOf,
  toChatRequest,
  UntranslatableMessage,
  type MessagesRequest,
  type TranslatedChatRequest,
} from '../../messages/messages-request.js';
import { nativeMessageRequest, nativeMessagesUpstreams } from '../../messages/native-upstream.js';
import { UpstreamError } from '../../providers/chat/errors.js';
import type { ChatRoute } from '../../providers/chat/model-routes.js';
import { chatCompletionRequestSchema } from '../../providers/chat/request-schema.js';
import type { ChatUpstream } from '../../providers/chat/upstream.js';
import type { Services } from '../../services.js';
import { ApiError, fromZod, invalidRequest } from '../errors.js';
import { openapi } from '../openapi.js';
import { COST_HEADER } from './chat-exchange.js';
import { chatServing, serveChat, chatCallerOf, type ChatCaller, type ChatServing } from './chat.js';

// Anthropic's Messages API for every chat model, served by the chat path (one hold, one settlement,
// one request-log row). A route whose provider speaks Anthropic (`api: "anthropic"`) is sent the
// caller's own body; the others get its translation to chat completions, and the answer is spelt
// back the Anthropic way. Errors take Anthropic's shape in src/http/errors.ts.

const ENDPOINT = '/v1/messages';
const COUNT_ENDPOINT = '/v1/messages/count_tokens';

const anthropicError = z.object({ type: z.literal('error'), error: z.object({ type: z.string(), message: z.string() }) });

/**
 * POST /v1/messages once its caller is known and its body parsed: served from Express
 * (messageRoutes) and from the lean path (src/http/lean-chat.ts), which takes the common case.
 */
export function createMessage(services: Services, serving: ChatServing) {
  const native = nativeMessagesUpstreams(services.config.providers);
  return async (body: unknown, caller: ChatCaller, requestHeaders: IncomingHttpHeaders, res: ServerResponse): Promise<void> => {
    res.setHeader('request-id', caller.requestId);
    const parsed = messagesRequestSchema.safeParse(body ?? {});
    if (!parsed.success) throw fromZod(parsed.error);
    const request = parsed.data;
    // What cannot be said in chat terms (documents, server tools, …) can still reach a native route.
    const untranslatable = translationRefusal(request);
    const anyNative = routesOf(services, request.model).some((route) => native.has(route.provider));
    if (untranslatable && !anyNative) throw untranslatable;
    const chat = untranslatable ? heldStandIn(request) : toChatRequest(request);
    const headers = anthropicHeaders(requestHeaders);
    await serveChat(serving, body, caller, res, {
      endpoint: ENDPOINT,
      face: messagesFace(caller.requestId),
      // The translation is checked like a chat request of the caller's own (tools, limits, fields).
      chatRequest() {
        const valid = chatCompletionRequestSchema.safeParse(chat);
        if (!valid.success) throw fromZod(valid.error);
        return valid.data;
      },
      // Native routes are sent the caller's body, the others its translation: the bound covers either.
      hold: { promptTokenBound: nativePromptBound(request, services.catalog.chat(request.model)?.context_window) },
      routed: (call) => ({
        ...call,
        routes: call.routes.map((route) => {
          const upstream = native.get(route.provider);
          if (upstream) return nativeRoute(route, upstream, request, headers, call);
          return untranslatable ? refusingRoute(route, untranslatable) : route;
        }),
      }),
    });
  };
}

export function messageRoutes(services: Services, serving: ChatServing = chatServing(services)): Router {
  const router = Router();
  const create = createMessage(services, serving);

  openapi.add({
    method: 'post',
    path: ENDPOINT,
    summary:
      'Anthropic Messages API (x-api-key or Bearer; anthropic-version accepted). Billed like chat: the worst case for max_tokens is held, the usage charged',
    tag: 'chat',
    auth: 'api_key',
    body: messagesRequestSchema,
    responses: {
      200: { description: `An Anthropic message (or, with stream: true, its event stream); usage.cost and the ${COST_HEADER} header say what was charged` },
      400: { description: 'invalid_request_error', schema: anthropicError },
      401: { description: 'authentication_error', schema: anthropicError },
      402: { description: 'billing_error: the balance cannot cover the prompt and max_tokens (the message says how many tokens it affords); nothing was sent upstream', schema: anthropicError },
      404: { description: 'not_found_error: no such model', schema: anthropicError },
      503: { description: 'api_error: no provider is configured for this model', schema: anthropicError },
    },
  });

  router.post(ENDPOINT, (req, res) => create(req.body, chatCallerOf(res), req.headers, res));

  openapi.add({
    method: 'post',
    path: COUNT_ENDPOINT,
    summary: 'Anthropic token counting: the prompt tokens of a Messages request, by the tokenizer our estimates use. Free',
    tag: 'chat',
    auth: 'api_key',
    body: countTokensRequestSchema,
    responses: {
      200: { description: 'The count', schema: z.object({ input_tokens: z.number().int() }) },
      400: { description: 'invalid_request_error', schema: anthropicError },
      404: { description: 'not_found_error: no such model', schema: anthropicError },
    },
  });

  router.post(COUNT_ENDPOINT, (req, res) => {
    res.setHeader('request-id', res.locals.requestId as string);
    const parsed = countTokensRequestSchema.safeParse(req.body ?? {});
    if (!parsed.success) throw fromZod(parsed.error);
    if (!services.catalog.chat(parsed.data.model)) {
      throw new ApiError(404, 'invalid_request_error', 'model_not_found', `The model '${parsed.data.model}' does not exist. GET /v1/models lists the chat models.`, 'model');
    }
    const prompt = translated(() => promptOf(parsed.data));
    res.json({ input_tokens: countPromptTokens(prompt.messages, prompt.tools) });
  });

  return router;
}

/** The translation's refusal (a 400 naming the field), or undefined when the request translates. */
function translationRefusal(request: MessagesRequest): ApiError | undefined {
  try {
    toChatRequest(request);
    return undefined;
  } catch (error) {
    if (error instanceof UntranslatableMessage) return invalidRequest(error.message, error.param, 'unsupported_value');
    throw error;
  }
}

function routesOf(services: Services, modelId: string): ChatRoute[] {
  const model = services.catalog.chat(modelId);
  return model ? services.chatRoutes.for(model) : [];
}

/**
 * The chat request a native-only body is held and estimated as: its prompt as text (an over-count,
 * and the hold's prompt bound is the body's own anyway). It is never sent: every other route refuses.
 */
function heldStandIn(request: MessagesRequest): TranslatedChatRequest {
  const { model, max_tokens, stream, system, messages, tools } = request;
  return {
    model,
    max_completion_tokens: max_tokens,
    ...(stream === true && { stream: true }),
    messages: [{ role: 'user', content: JSON.stringify({ system, messages, tools }) }],
  };
}

/**
 * The prompt bound of the body a native route is sent. A document's tokens cannot be told from its
 * bytes (a PDF page is billed as text plus an image; a URL or file id names content we never see),
 * so a request with one is held for the model's whole context window.
 */
function nativePromptBound(request: MessagesRequest, contextWindow: number | undefined): number {
  const bound = promptTokenBound(request);
  const hasDocument = request.messages.some((m) => Array.isArray(m.content) && m.content.some(isDocument));
  return hasDocument && contextWindow !== undefined ? Math.max(bound, contextWindow) : bound;
}

function isDocument(block: { type: string; content?: unknown }): boolean {
  if (block.type === 'document') return true;
  // Tool results may carry documents too.
  return block.type === 'tool_result' && Array.isArray(block.content) && block.content.some((b: { type?: unknown }) => b?.type === 'document');
}

/** The caller's Anthropic headers that change what the provider does; its credentials are never among them. */
function anthropicHeaders(requestHeaders: IncomingHttpHeaders): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ['anthropic-version', 'anthropic-beta']) {
    const value = requestHeaders[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(',') : value;
  }
  return headers;
}

/**
 * A route whose provider speaks Anthropic is sent the caller's own body, with the route's model id
 * and the output limit we held money for.
 */
function nativeRoute(route: ChatRoute, upstream: ChatUpstream, request: MessagesRequest, headers: Record<string, string>, call: HeldChatCall): ChatRoute {
  const body = (model: string) => nativeMessageRequest({ ...request, model, max_tokens: call.hold.maxTokens }, headers);
  return {
    ...route,
    upstream: {
      complete: (chat, options) => upstream.complete(body(chat.model), options),
      stream: (chat, options) => upstream.stream(body(chat.model), options),
    },
  };
}

/** A translating route for a request that does not translate: the translation's 400, and nothing sent. */
function refusingRoute(route: ChatRoute, refusal: ApiError): ChatRoute {
  const refuse = () => Promise.reject(new UpstreamError(400, refusal.body()));
  return { ...route, upstream: { complete: refuse, stream: refuse } };
}

function translated<T>(translate: () => T): T {
  try {
    return translate();
  } catch (error) {
    if (error instanceof UntranslatableMessage) throw invalidRequest(error.message, error.param, 'unsupported_value');
    throw error;
  }
}
