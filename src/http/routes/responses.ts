import { Router, type Response } from 'express';
import { z } from 'zod';
import { ChatBilling, OutputLimitUnaffordable } from '../../chat/chat-billing.js';
import { CompletionTally } from '../../chat/completion-tally.js';
import { temporalHandOff } from '../../chat/durable-capture.js';
import { promptTokenBound } from '../../chat/prompt-bound.js';
import { RequestLog } from '../../chat/request-log.js';
import { budgetKeyOf } from '../../keys/key-budget.js';
import { assertModelAllowed } from '../../keys/key-settings.js';
import { toChatRequest } from '../../responses/chat-request.js';
import { nativeResponsesUpstreams } from '../../responses/native-upstream.js';
import { responseRequestSchema, unsupportedState, type ResponseRequest } from '../../responses/request-schema.js';
import { ResponseIds, responseShell } from '../../responses/response-object.js';
import type { Services } from '../../services.js';
import { authOf } from '../auth.js';
import { assertModelAvailable } from '../availability.js';
import { ApiError, fromZod, invalidRequest, modelUnavailable, toApiError } from '../errors.js';
import { openapi } from '../openapi.js';
import { COST_HEADER, DrainTimeout, type Call, type Context } from './chat-exchange.js';
import { openAiFace } from './chat-face.js';
import { MAX_TOKENS_CAP_HEADER } from './chat.js';
import { answerResponse, streamResponse, type ResponsesExchange } from './responses-exchange.js';

const ENDPOINT = '/v1/responses';

class ClientClosedRequest extends Error {
  readonly name = 'ClientClosedRequest';
}

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
 * POST /v1/responses, stateless: billed exactly as a chat completion (same hold, capture and
 * request row), through chat's exchange. Routes whose provider speaks the Responses API get the
 * request natively; the others (and the simulator) a translation to chat completions.
 */
export function responsesRoutes(services: Services): Router {
  const router = Router();
  const billing = new ChatBilling({
    ledger: services.ledger,
    logger: services.logger,
    lease: services.holdLease,
    handOff: temporalHandOff(services.temporal.client, services.temporal.taskQueue),
  });
  const requests = new RequestLog(services.db);
  const native = nativeResponsesUpstreams(services.config.providers);

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

  router.post(ENDPOINT, async (req, res) => {
    const startedAt = new Date();
    const started = performance.now();
    const { accountId, apiKeyId } = authOf(res);
    const requestId = res.locals.requestId as string;
    const call: Call = {
      model: typeof req.body?.model === 'string' ? req.body.model.slice(0, 200) : null,
      stream: req.body?.stream === true,
      status: 'failed',
      httpStatus: 500,
      errorCode: null,
      reservation: null,
      settlement: null,
      usageSource: null,
      upstreamMs: null,
    };
    const record = () =>
      requests
        .record({
          id: requestId,
          accountId,
          apiKeyId,
          endpoint: ENDPOINT,
          model: call.model,
          status: call.status,
          httpStatus: call.httpStatus,
          stream: call.stream,
          promptTokens: call.settlement?.promptTokens ?? null,
          completionTokens: call.settlement?.completionTokens ?? null,
          cost: call.settlement?.charge ?? 0n,
          holdId: call.reservation?.holdId ?? null,
          errorCode: call.errorCode,
          upstreamLatencyMs: call.upstreamMs === null ? null : Math.round(call.upstreamMs),
          overheadMs: Math.max(0, Math.round(performance.now() - started - (call.upstreamMs ?? 0))),
          maxTokens: call.reservation?.maxTokens ?? null,
          usageSource: call.usageSource,
          createdAt: startedAt,
          completedAt: new Date(),
        })
        // The money has moved by now; a lost log row must not turn a served request into an error.
        .catch((err) => services.logger.error({ err, requestId }, 'could not record the request'));

    let finish: () => void;
    try {
      finish = await serve(req.body, res, call, { services, billing, accountId, requestId, face: openAiFace }, native);
    } catch (error) {
      if (call.reservation && !call.settlement) {
        // As in chat: nothing is owed yet, so the hold goes back now rather than at expiry.
        await billing
          .release(call.reservation)
          .catch((err) => services.logger.error({ err, requestId }, 'could not release the hold; it will expire'));
      }
      const api = toApiError(error);
      call.status = 'failed';
      call.httpStatus = api?.status ?? 500;
      call.errorCode = api?.code ?? 'internal_error';
      await record();
      throw error;
    }
    await record();
    finish();
  });

  return router;
}

function parse(raw: unknown): ResponseRequest {
  const parsed = responseRequestSchema.safeParse(raw ?? {});
  if (!parsed.success) throw fromZod(parsed.error);
  const refused = unsupportedState(parsed.data);
  if (refused) throw invalidRequest(refused.message, refused.param, 'unsupported_parameter');
  return parsed.data;
}

/** Validate, hold, forward, settle; returns the last write, made once the request is recorded. */
async function serve(rawBody: unknown, res: Response, call: Call, ctx: Context, native: ResponsesExchange['native']): Promise<() => void> {
  const request = parse(rawBody);
  const model = ctx.services.catalog.chat(request.model);
  if (!model) {
    throw new ApiError(404, 'invalid_request_error', 'model_not_found', `The model '${request.model}' does not exist or is not a chat model. GET /v1/models lists the chat models and their prices.`, 'model');
  }
  assertModelAvailable(ctx.services, model);
  assertModelAllowed(authOf(res).key, model.id);
  const routes = ctx.services.chatRoutes.for(model);
  if (routes.length === 0) throw modelUnavailable(model.id);
  const requested = request.max_output_tokens ?? undefined;
  if (requested !== undefined && requested > model.max_output_tokens) {
    throw invalidRequest(`max_output_tokens is too large: ${requested}. The model ${model.id} supports at most ${model.max_output_tokens} output tokens.`, 'max_output_tokens', 'invalid_value');
  }
  const body = toChatRequest(request);

  try {
    call.reservation = await ctx.billing.reserve({
      accountId: ctx.accountId,
      apiKeyId: budgetKeyOf(authOf(res).key),
      requestId: ctx.requestId,
      model,
      // Native routes are sent the Responses body, the others its chat translation: the bound covers either.
      promptTokenBound: Math.max(promptTokenBound(body), promptTokenBound(request)),
      requestedMaxTokens: requested,
      choices: 1,
    });
  } catch (error) {
    if (!(error instanceof OutputLimitUnaffordable)) throw error;
    throw new ApiError(
      402,
      'insufficient_funds',
      'insufficient_funds',
      `This request requires more credits, or fewer max_output_tokens. You requested up to ${error.requested} tokens, but can only afford ${error.affordable}. Add credit with POST /v1/billing/deposits or lower max_output_tokens.`,
      'max_output_tokens',
      { 'x-should-retry': 'false' },
    );
  }
  if (requested === undefined && call.reservation.maxTokens < model.max_output_tokens) {
    res.setHeader(MAX_TOKENS_CAP_HEADER, String(call.reservation.maxTokens));
  }

  const clientGone = new AbortController();
  const upstreamStop = new AbortController();
  let drain: NodeJS.Timeout | undefined;
  let done = false;
  res.on('close', () => {
    if (res.writableFinished || done) return;
    clientGone.abort(new ClientClosedRequest('the client closed the connection'));
    // As in chat: the upstream bills us whether or not the caller reads on, so it is read until it reports usage.
    const seconds = ctx.services.config.chat.drainTimeoutSeconds;
    drain = setTimeout(() => upstreamStop.abort(new DrainTimeout(`the caller left and the upstream did not finish within ${seconds} s`)), seconds * 1000);
  });
  const ids = new ResponseIds(ctx.requestId);
  const exchange: ResponsesExchange = {
    ...ctx,
    res,
    call,
    body,
    model,
    reservation: call.reservation,
    routes,
    upstreamBody: { ...body, max_completion_tokens: call.reservation.maxTokens },
    signal: clientGone.signal,
    upstreamSignal: upstreamStop.signal,
    tally: new CompletionTally(),
    upstreamStarted: performance.now(),
    request,
    native,
    ids,
    shell: responseShell(request, ids, model.id, Math.floor(Date.now() / 1000)),
  };
  try {
    return await (request.stream === true ? streamResponse(exchange) : answerResponse(exchange));
  } finally {
    done = true;
    clearTimeout(drain);
  }
}
