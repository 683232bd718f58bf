import type { ServerResponse } from 'node:http';
import { Router } from 'express';
import { z } from 'zod';
import { OutputLimitUnaffordable } from '../../chat/chat-billing.js';
import type { HeldChatCall } from '../../chat/chat-call.js';
import { promptTokenBound } from '../../chat/prompt-bound.js';
import type { ChatRoute } from '../../providers/chat/model-routes.js';
import type { ChatUpstream } from '../../providers/chat/upstream.js';
import { toChatRequest } from '../../responses/chat-request.js';
import { nativeRequest, nativeResponsesUpstreams } from '../../responses/native-upstream.js';
import { responseRequestSchema, unsupportedState, type ResponseRequest } from '../../responses/request-schema.js';
import { ResponseIds, responseShell } from '../../responses/response-object.js';
import { responsesFace } from '../../responses/responses-face.js';
import type { Services } from '../../services.js';
import { ApiError, fromZod, invalidRequest } from '../errors.js';
import { openapi } from '../openapi.js';
import { COST_HEADER } from './chat-exchange.js';
import { chatServing, MAX_TOKENS_CAP_HEADER, serveChat, chatCallerOf, type ChatCaller, type ChatServing } from './chat.js';

const ENDPOINT = '/v1/responses';

const usageSchema = z.object({
  input_tokens: z.number().int(),
  input_tokens_details: z.object({ cached_tokens: z.number().int() }),
  output_tokens: z.number().int(),
  output_tokens_details: z.object({ reasoning_tokens: z.number().int() }),
  total_tokens: z.number().int(),
  cost: z.number().describe('USD charged for this request'),
});

const responseObjectSchema = z.looseObject({
  id: z.string().describe('resp_…'),
  object: z.literal('response'),
  created_at: z.number().int(),
  status: z.enum(['completed', 'incomplete', 'failed']),
  model: z.string(),
  output: z.array(z.looseObject({ type: z.string().describe('message (content: output_text parts) or function_call (call_id, name, arguments)') })),
  usage: usageSchema,
  error: z.looseObject({ code: z.string(), message: z.string() }).nullable(),
  incomplete_details: z.object({ reason: z.string() }).nullable(),
});

/**
 * POST /v1/responses once its caller is known and its body parsed: served from Express
 * (responsesRoutes) and from the lean path (src/http/lean-chat.ts), which takes the common case.
 */
export function createResponse(services: Services, serving: ChatServing) {
  const native = nativeResponsesUpstreams(services.config.providers);
  return async (body: unknown, caller: ChatCaller, res: ServerResponse): Promise<void> => {
    const request = parse(body);
    const model = services.catalog.chat(request.model);
    if (!model) {
      throw new ApiError(404, 'invalid_request_error', 'model_not_found', `The model '${request.model}' does not exist or is not a chat model. GET /v1/models lists the chat models and their prices.`, 'model');
    }
    const requested = request.max_output_tokens ?? undefined;
    if (requested !== undefined && requested > model.max_output_tokens) {
      throw invalidRequest(`max_output_tokens is too large: ${requested}. The model ${model.id} supports at most ${model.max_output_tokens} output tokens.`, 'max_output_tokens', 'invalid_value');
    }
    // The caller's output limit is the chat request's: held for, capped by the balance, sent upstream.
    const chat = { ...toChatRequest(request), ...(requested !== undefined && { max_completion_tokens: requested }) };
    const ids = new ResponseIds(caller.requestId);
    await serveChat(serving, body, caller, res, {
      endpoint: ENDPOINT,
      face: responsesFace(responseShell(request, ids, model.id, Math.floor(Date.now() / 1000)), ids),
      chatRequest: () => chat,
      // Native routes are sent the Responses body, the others its chat translation: the bound covers either.
      hold: { promptTokenBound: promptTokenBound(request) },
      routed: (call) => ({ ...call, routes: call.routes.map((route) => nativeRoute(route, native.get(route.provider), request, call)) }),
      refusal: (error) => (error instanceof OutputLimitUnaffordable ? unaffordable(error) : undefined),
    });
  };
}

/**
 * POST /v1/responses, stateless: billed exactly as a chat completion (same hold, capture and
 * request row), through chat's call (src/chat/chat-call.ts). Routes whose provider speaks the
 * Responses API get the request natively; the others (and the simulator) a translation to chat
 * completions.
 */
export function responsesRoutes(services: Services, serving: ChatServing = chatServing(services)): Router {
  const router = Router();
  const create = createResponse(services, serving);

  openapi.add({
    method: 'post',
    path: ENDPOINT,
    summary:
      'OpenAI Responses (stateless; `stream` supported). Billed like a chat completion: the worst case is held first, 402 when max_output_tokens is unaffordable, ' +
      `otherwise the output is limited to what the balance affords (the ${MAX_TOKENS_CAP_HEADER} header says so). \`store\` absent means false here; store: true and previous_response_id are refused`,
    tag: 'chat',
    auth: 'api_key',
    body: responseRequestSchema,
    responses: {
      200: {
        description:
          `The Response (or, with stream: true, text/event-stream events from response.created to response.completed, each with sequence_number); usage.cost and the ${COST_HEADER} header (a trailer on streams) say what was charged`,
        schema: responseObjectSchema,
      },
      400: { description: 'invalid_request_error: a malformed body, an unknown field (`unknown_parameter`), previous_response_id or store: true (nothing is stored here)' },
      402: { description: 'insufficient_funds: not even the input is affordable, or the max_output_tokens asked for is not; nothing was sent upstream' },
      503: { description: 'model_unavailable: no provider is configured for this model' },
    },
  });

  router.post(ENDPOINT, (req, res) => create(req.body, chatCallerOf(res), res));

  return router;
}

function parse(raw: unknown): ResponseRequest {
  const parsed = responseRequestSchema.safeParse(raw ?? {});
  if (!parsed.success) throw fromZod(parsed.error);
  const refused = unsupportedState(parsed.data);
  if (refused) throw invalidRequest(refused.message, refused.param, 'unsupported_parameter');
  return parsed.data;
}

/**
 * A route whose provider speaks Responses natively is sent the caller's own body (with the route's
 * model id, the output limit we held money for, and nothing stored); its answers come back in chat
 * terms for the tally, with the provider's Response or events attached for the face.
 */
function nativeRoute(route: ChatRoute, upstream: ChatUpstream | undefined, request: ResponseRequest, call: HeldChatCall): ChatRoute {
  if (!upstream) return route;
  const { previous_response_id: _none, ...caller } = request;
  const body = (model: string) => nativeRequest({ ...caller, model, max_output_tokens: call.hold.maxTokens, store: false });
  return {
    ...route,
    upstream: {
      complete: (chat, options) => upstream.complete(body(chat.model), options),
      stream: (chat, options) => upstream.stream(body(chat.model), options),
    },
  };
}

function unaffordable(error: OutputLimitUnaffordable): ApiError {
  return new ApiError(
    402,
    'insufficient_funds',
    'insufficient_funds',
    `This request requires more credits, or fewer max_output_tokens. You requested up to ${error.requested} tokens, but can only afford ${error.affordable}. Add credit with POST /v1/billing/deposits or lower max_output_tokens.`,
    'max_output_tokens',
    { 'x-should-retry': 'false' },
  );
}
