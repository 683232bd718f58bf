import { Router, type Response } from 'express';
import { ChatBilling } from '../../chat/chat-billing.js';
import { CompletionTally } from '../../chat/completion-tally.js';
import { temporalHandOff } from '../../chat/durable-capture.js';
import { refusedField } from '../../chat/forwarded-fields.js';
import { promptTokenBound } from '../../chat/prompt-bound.js';
import { RequestLog } from '../../chat/request-log.js';
import { chatCompletionRequestSchema, type ValidChatCompletionRequest } from '../../providers/chat/request-schema.js';
import type { Services } from '../../services.js';
import { budgetKeyOf } from '../../keys/key-budget.js';
import { assertModelAllowed } from '../../keys/key-settings.js';
import { authOf } from '../auth.js';
import { assertModelAvailable } from '../availability.js';
import { ApiError, fromZod, invalidRequest, modelUnavailable, toApiError } from '../errors.js';
import { openapi } from '../openapi.js';
import { answer, COST_HEADER, DrainTimeout, relayStream, type Call, type Context, type Exchange } from './chat-exchange.js';
import { openAiFace, type ChatFace } from './chat-face.js';
import { chatCompletionSchema } from './chat-schemas.js';

const ENDPOINT = '/v1/chat/completions';
/** Set when a request without max_tokens was limited to the output the balance affords. */
export const MAX_TOKENS_CAP_HEADER = 'x-max-tokens-cap';

class ClientClosedRequest extends Error {
  readonly name = 'ClientClosedRequest';
}

/** What serving chat requests needs besides the request itself. */
export interface ChatServing {
  services: Services;
  billing: ChatBilling;
  requests: RequestLog;
}

export function chatServing(services: Services): ChatServing {
  const billing = new ChatBilling({
    ledger: services.ledger,
    logger: services.logger,
    lease: services.holdLease,
    handOff: temporalHandOff(services.temporal.client, services.temporal.taskQueue),
  });
  return { services, billing, requests: new RequestLog(services.db) };
}

export function chatRoutes(services: Services): Router {
  const router = Router();
  const serving = chatServing(services);

  openapi.add({
    method: 'post',
    path: ENDPOINT,
    summary:
      `Chat completion (OpenAI-compatible, \`stream\` supported). The worst case is held first; without max_tokens, the output is limited to what the balance affords (the ${MAX_TOKENS_CAP_HEADER} header says so)`,
    tag: 'chat',
    auth: 'api_key',
    body: chatCompletionRequestSchema,
    responses: {
      200: {
        description: `The completion (or, with stream: true, text/event-stream chunks ending in [DONE]); usage.cost and the ${COST_HEADER} header say what was charged`,
        schema: chatCompletionSchema,
      },
      400: { description: 'invalid_request_error; `unknown_parameter` or `unsupported_parameter` (with `param`) for a field the gateway does not forward (see the README, Chat request fields)' },
      402: { description: 'insufficient_funds: not even the prompt is affordable, or the max_tokens asked for is not (the message says how many are); nothing was sent upstream' },
      503: { description: 'model_unavailable: no provider is configured for this model' },
    },
  });

  router.post(ENDPOINT, (req, res) => serveChat(serving, req.body, res, ENDPOINT, openAiFace));

  return router;
}

/**
 * One chat request from validation to its request-log row: hold, upstream call with fallback,
 * settlement, answer in `face`'s wire format. Every endpoint that sells chat goes through here, so
 * there is one billing path whatever API the caller speaks. `body` is a chat-completions request.
 */
export async function serveChat(serving: ChatServing, body: unknown, res: Response, endpoint: string, face: ChatFace): Promise<void> {
  const { services, billing, requests } = serving;
  const startedAt = new Date();
  const started = performance.now();
  const { accountId, apiKeyId } = authOf(res);
  const requestId = res.locals.requestId as string;
  const request = body as { model?: unknown; stream?: unknown } | null | undefined;
  const call: Call = {
    model: typeof request?.model === 'string' ? request.model.slice(0, 200) : null,
    stream: request?.stream === true,
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
        endpoint,
        model: call.model,
        status: call.status,
        httpStatus: call.httpStatus,
        stream: call.stream,
        promptTokens: call.settlement?.promptTokens ?? null,
        completionTokens: call.settlement?.completionTokens ?? null,
      // Only the provider's own report has a cache split; an estimate leaves it unknown.
      cachedTokens: call.usageSource === 'upstream' ? (call.settlement?.cachedTokens ?? null) : null,
      cacheWriteTokens: call.usageSource === 'upstream' ? (call.settlement?.cacheWriteTokens ?? null) : null,
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
    finish = await serve(body, res, call, { services, billing, accountId, requestId, face });
  } catch (error) {
    if (call.reservation && !call.settlement) {
      // An unexpected failure after the hold and before anything was owed: give the money back now
      // rather than at expiry. Once a settlement exists the hold is never released here: its
      // charge is owed, and the capture (or its hand-off) is what settles it.
      // Releasing a hold that did get captured changes nothing, so this is safe either way.
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
}


/**
 * Everything up to the last write: validate, hold, forward, settle. Returns the last write so that
 * the request is recorded before the caller learns the outcome.
 */
async function serve(rawBody: unknown, res: Response, call: Call, ctx: Context): Promise<() => void> {
  const parsed = chatCompletionRequestSchema.safeParse(rawBody ?? {});
  if (!parsed.success) throw fromZod(parsed.error);
  const body = parsed.data;
  const refused = refusedField(body);
  if (refused) {
    throw invalidRequest(refused.message, refused.param, refused.reason === 'unknown' ? 'unknown_parameter' : 'unsupported_parameter');
  }
  const model = ctx.services.catalog.chat(body.model);
  if (!model) {
    const media = ctx.services.catalog.generation(body.model);
    throw new ApiError(
      404,
      'invalid_request_error',
      'model_not_found',
      media
        ? `The model '${body.model}' generates ${media.kind}s: use POST /v1/${media.kind}s${media.kind === 'image' ? '/generations' : ''}.`
        : `The model '${body.model}' does not exist. GET /v1/models lists the chat models and their prices.`,
      'model',
    );
  }
  assertModelAvailable(ctx.services, model);
  assertModelAllowed(authOf(res).key, model.id);
  const routes = ctx.services.chatRoutes.for(model);
  if (routes.length === 0) throw modelUnavailable(model.id);
  const limitField = body.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const requested = body.max_completion_tokens ?? body.max_tokens ?? undefined;
  if (requested !== undefined && requested > model.max_output_tokens) {
    throw invalidRequest(
      `${limitField} is too large: ${requested}. The model ${model.id} supports at most ${model.max_output_tokens} completion tokens.`,
      limitField,
      'invalid_value',
    );
  }
  const choices = body.n ?? 1;

  call.reservation = await ctx.billing.reserve({
    accountId: ctx.accountId,
    apiKeyId: budgetKeyOf(authOf(res).key),
    requestId: ctx.requestId,
    model,
    promptTokenBound: promptTokenBound(body),
    requestedMaxTokens: requested,
    choices,
  });

  if (requested === undefined && call.reservation.maxTokens < model.max_output_tokens) {
    // The caller set no limit and the balance does not cover the model's longest answer.
    res.setHeader(MAX_TOKENS_CAP_HEADER, String(call.reservation.maxTokens));
  }

  const clientGone = new AbortController();
  const upstreamStop = new AbortController();
  let drain: NodeJS.Timeout | undefined;
  let done = false;
  res.on('close', () => {
    if (res.writableFinished || done) return;
    clientGone.abort(new ClientClosedRequest('the client closed the connection'));
    // The upstream bills us for the answer whether or not the caller reads it, so the upstream is
    // read on until it reports usage; the bound keeps a stalled upstream from holding us forever.
    const seconds = ctx.services.config.chat.drainTimeoutSeconds;
    drain = setTimeout(() => upstreamStop.abort(new DrainTimeout(`the caller left and the upstream did not finish within ${seconds} s`)), seconds * 1000);
  });
  const exchange: Exchange = {
    ...ctx,
    res,
    call,
    body,
    model,
    reservation: call.reservation,
    routes,
    upstreamBody: withOutputLimit(body, call.reservation.maxTokens),
    signal: clientGone.signal,
    upstreamSignal: upstreamStop.signal,
    tally: new CompletionTally(),
    upstreamStarted: performance.now(),
  };
  try {
    return await (body.stream === true ? relayStream(exchange) : answer(exchange));
  } finally {
    done = true;
    clearTimeout(drain);
  }
}

/** The upstream is held to the limit we held money for, under whichever name the caller used. */
function withOutputLimit(body: ValidChatCompletionRequest, maxTokens: number): ValidChatCompletionRequest {
  const limited = { ...body };
  if (body.max_tokens != null) limited.max_tokens = maxTokens;
  if (body.max_completion_tokens != null || body.max_tokens == null) limited.max_completion_tokens = maxTokens;
  return limited;
}

