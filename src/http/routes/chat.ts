import type { ServerResponse } from 'node:http';
import { Router, type Response } from 'express';
import { ChatBilling } from '../../chat/chat-billing.js';
import {
  completeChat,
  holdChatCall,
  streamChat,
  type ChatDeps,
  type ChatOutcome,
  type ChatSignals,
  type HeldChatCall,
  type HoldOptions,
  type RowAtCapture,
  type SettledCall,
} from '../../chat/chat-call.js';
import { chatRequestRecord, type ChatAnswered } from '../../chat/chat-record.js';
import { temporalHandOff } from '../../chat/durable-capture.js';
import { RequestLog } from '../../chat/request-log.js';
import { Abort } from '../../providers/chat/abort.js';
import { chatCompletionRequestSchema, type ValidChatCompletionRequest } from '../../providers/chat/request-schema.js';
import type { Services } from '../../services.js';
import { authOf, type AuthContext } from '../auth.js';
import { fromZod, toApiError } from '../errors.js';
import { openapi } from '../openapi.js';
import { COMPLETED, completionAnswer, COST_HEADER, DrainTimeout, sseRelay, streamAnswer, type ChatAnswer } from './chat-exchange.js';
import { openAiFace, type ChatFace, type StreamFace } from './chat-face.js';
import { chatCompletionSchema } from './chat-schemas.js';

const ENDPOINT = '/v1/chat/completions';
/** Set when a request without max_tokens was limited to the output the balance affords. */
export const MAX_TOKENS_CAP_HEADER = 'x-max-tokens-cap';

class ClientClosedRequest extends Error {
  readonly name = 'ClientClosedRequest';
}

/** What serving chat requests needs besides the request itself. */
export interface ChatServing extends ChatDeps {
  requests: RequestLog;
}

/** Who calls: the key that was checked, and the request id every answer and log row carries. */
export interface ChatCaller extends AuthContext {
  requestId: string;
}

/** The caller of an Express route behind the API key middleware. */
export function chatCallerOf(res: Response): ChatCaller {
  return { ...authOf(res), requestId: res.locals.requestId as string };
}

export function chatServing(services: Services): ChatServing {
  const billing = new ChatBilling({
    ledger: services.ledger,
    logger: services.logger,
    lease: services.holdLease,
    handOff: temporalHandOff(services.temporal.client, services.temporal.taskQueue),
    allowances: services.chatAllowances,
  });
  return { services, billing, requests: new RequestLog(services.db) };
}

/**
 * An API surface that sells chat: its endpoint (for the request log), the wire format of its
 * answers, and how its body becomes a chat-completions request.
 */
export interface ChatSurface {
  endpoint: string;
  face: ChatFace;
  /** The caller's body as a valid chat-completions request; throws the 4xx that refuses it. */
  chatRequest(): ValidChatCompletionRequest;
  hold?: HoldOptions;
  /** The held call as it goes upstream (e.g. routes that take the caller's own wire natively). */
  routed?(call: HeldChatCall): HeldChatCall;
  /** A refusal of the hold spelt for this surface (e.g. naming its own output-limit field). */
  refusal?(error: unknown): unknown;
}

/**
 * POST /v1/chat/completions once its caller is known and its body parsed: served from Express
 * (chatRoutes) and from the lean path (src/http/lean-chat.ts), which takes the common case.
 */
export function chatCompletions(serving: ChatServing) {
  return (body: unknown, caller: ChatCaller, res: ServerResponse): Promise<void> =>
    serveChat(serving, body, caller, res, {
      endpoint: ENDPOINT,
      face: openAiFace,
      chatRequest() {
        const parsed = chatCompletionRequestSchema.safeParse(body ?? {});
        if (!parsed.success) throw fromZod(parsed.error);
        return parsed.data;
      },
    });
}

export function chatRoutes(services: Services, serving: ChatServing = chatServing(services)): Router {
  const router = Router();
  const complete = chatCompletions(serving);

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

  router.post(ENDPOINT, (req, res) => complete(req.body, chatCallerOf(res), res));

  return router;
}

/**
 * One chat request from validation to its request-log row: hold, upstream call with fallback,
 * settlement (src/chat/chat-call.ts), answer in the surface's wire format. Every endpoint that
 * sells chat goes through here, so there is one billing path whatever API the caller speaks. The
 * request is recorded before the caller learns the outcome: by the capture's own statement when the
 * answer is known by then (RowAtCapture), else just before the answer is written.
 */
export async function serveChat(serving: ChatServing, body: unknown, caller: ChatCaller, res: ServerResponse, surface: ChatSurface): Promise<void> {
  const { services, requests } = serving;
  const startedAt = new Date();
  const started = performance.now();
  const { accountId, apiKeyId, key, requestId } = caller;
  const raw = body as { model?: unknown; stream?: unknown } | null | undefined;
  const stream = raw?.stream === true;
  let call: HeldChatCall | undefined;
  let outcome: ChatOutcome | null = null;
  const rowOf = (settled: SettledCall | null, answered: ChatAnswered) =>
    chatRequestRecord({
      requestId,
      accountId,
      apiKeyId,
      endpoint: surface.endpoint,
      model: typeof raw?.model === 'string' ? raw.model.slice(0, 200) : null,
      stream,
      startedAt,
      started,
      hold: call?.hold ?? null,
      outcome: settled,
      answered,
    });
  // A call that finished with the caller still there is answered a plain 200, so its row can go with
  // the capture. A face that reads failures out of the stream (Responses) knows its answer only later.
  // Should the caller leave between the capture and the answer, the row still says what it was sent.
  const rowAtCapture = (signals: ChatSignals, streamFace?: StreamFace): RowAtCapture => (settled) =>
    signals.clientGone.aborted || streamFace?.failedCode ? null : rowOf(settled, COMPLETED);
  const record = (answered: ChatAnswered) => {
    // The key's tokens per minute count what was settled; batched, never awaited here.
    if (outcome && key.tpm !== null) services.keys.tokens.add(key.id, outcome.settlement.promptTokens + outcome.settlement.completionTokens);
    if (outcome?.recorded) return Promise.resolve();
    return (
      requests
        .record(rowOf(outcome, answered))
        // The money has moved by now; a lost log row must not turn a served request into an error.
        .catch((err) => services.logger.error({ err, requestId }, 'could not record the request'))
    );
  };

  let answer: ChatAnswer;
  try {
    const request = surface.chatRequest();
    try {
      call = await holdChatCall(serving, request, { accountId, key, requestId }, surface.hold);
    } catch (error) {
      throw surface.refusal?.(error) ?? error;
    }
    const held = surface.routed?.(call) ?? call;
    if (held.outputCapped) res.setHeader(MAX_TOKENS_CAP_HEADER, String(held.hold.maxTokens));
    if (stream) {
      const face = surface.face.stream({ model: held.model.id, requestId, includeUsage: request.stream_options?.include_usage === true });
      outcome = await withCallerWatch(res, services, (signals) =>
        streamChat(serving, held, signals, sseRelay(res, held, face, signals.clientGone), rowAtCapture(signals, face)),
      );
      answer = streamAnswer(res, held, face, outcome, services.logger);
    } else {
      outcome = await withCallerWatch(res, services, (signals) => completeChat(serving, held, signals, rowAtCapture(signals)));
      answer = completionAnswer(res, held, surface.face, outcome, services.logger);
    }
  } catch (error) {
    const api = toApiError(error);
    await record({ status: 'failed', httpStatus: api?.status ?? 500, errorCode: api?.code ?? 'internal_error' });
    throw error;
  }
  await record(answer.answered);
  answer.write();
}

/**
 * Runs `work` with signals for the caller leaving (nothing more is written to it) and, a drain bound
 * later, for stopping the upstream: the upstream bills us for the answer whether or not the caller
 * reads it, so it is read on until it reports usage, but a stalled upstream must not hold us forever.
 */
async function withCallerWatch<T>(res: ServerResponse, services: Services, work: (signals: ChatSignals) => Promise<T>): Promise<T> {
  const clientGone = new Abort();
  const upstreamStop = new Abort();
  let drain: NodeJS.Timeout | undefined;
  let done = false;
  const onClose = () => {
    if (res.writableFinished || done) return;
    clientGone.abort(new ClientClosedRequest('the client closed the connection'));
    const seconds = services.config.chat.drainTimeoutSeconds;
    drain = setTimeout(() => upstreamStop.abort(new DrainTimeout(`the caller left and the upstream did not finish within ${seconds} s`)), seconds * 1000);
  };
  res.on('close', onClose);
  try {
    return await work({ clientGone, upstreamStop });
  } finally {
    done = true;
    clearTimeout(drain);
  }
}
