import type { Response } from 'express';
import type { ChatBilling, Reservation } from '../../chat/chat-billing.js';
import type { CompletionTally } from '../../chat/completion-tally.js';
import type { RequestRecord } from '../../chat/request-log.js';
import { isBillable, type CallEnding, type Settlement } from '../../chat/settlement.js';
import { formatUsd, usdNumber } from '../../ledger/money.js';
import type { ChatModel } from '../../pricing/catalog.js';
import { movesToNextRoute } from '../../providers/chat/fallback.js';
import type { ChatRoute } from '../../providers/chat/model-routes.js';
import type { ValidChatCompletionRequest } from '../../providers/chat/request-schema.js';
import { writeWithBackpressure } from '../../providers/chat/sse.js';
import type { ChatCompletion, ChatCompletionChunk, ChatUsage } from '../../providers/chat/types.js';
import type { UpstreamCallOptions } from '../../providers/chat/upstream.js';
import type { Services } from '../../services.js';
import { ApiError } from '../errors.js';
import { upstreamFailure as answerForUpstream } from '../upstream-failure.js';
import type { ChatFace } from './chat-face.js';

// One chat request once its hold is placed: the upstream call (plain or streamed), the settlement
// of what it produced, and the answer. Each step leaves the hold captured or released.

/** Exact decimal USD taken from the balance for this request (also a trailer on streams). */
export const COST_HEADER = 'x-request-cost-usd';
/** nginx's "client closed request": recorded when the caller hung up before the answer. */
const CLIENT_CLOSED = 499;

/** The caller left and the upstream was still not done at the drain bound: it is stopped. */
export class DrainTimeout extends Error {
  readonly name = 'DrainTimeout';
}

/** What is known about one call as it goes; written to the request log when it ends. */
export interface Call {
  model: string | null;
  stream: boolean;
  status: RequestRecord['status'];
  httpStatus: number;
  errorCode: string | null;
  reservation: Reservation | null;
  settlement: Settlement | null;
  usageSource: RequestRecord['usageSource'];
  upstreamMs: number | null;
}

export interface Context {
  services: Services;
  billing: ChatBilling;
  accountId: string;
  requestId: string;
  /** The wire format of the answer (OpenAI chat completions, Anthropic Messages). */
  face: ChatFace;
}

export interface Exchange extends Context {
  res: Response;
  call: Call;
  body: ValidChatCompletionRequest;
  model: ChatModel;
  reservation: Reservation;
  /** Tried in order until one accepts the request (see movesToNextRoute). */
  routes: ChatRoute[];
  /** What every route is sent, with its own upstream model id. */
  upstreamBody: ValidChatCompletionRequest;
  /** Fires when the caller leaves: nothing more is written to it. */
  signal: AbortSignal;
  /** Fires at the drain bound after the caller left: the upstream call is stopped. */
  upstreamSignal: AbortSignal;
  tally: CompletionTally;
  upstreamStarted: number;
}

/** Non-streamed: the upstream's completion with our model id and `usage.cost`. */
export async function answer(x: Exchange): Promise<() => void> {
  let completion: ChatCompletion;
  try {
    // Not stopped when the caller leaves: the upstream bills us for the answer all the same.
    completion = await firstAccepting(x, (route, body, options) => route.upstream.complete(body, options));
  } catch (error) {
    x.call.upstreamMs = performance.now() - x.upstreamStarted;
    return failedBeforeOutput(x, error);
  }
  x.call.upstreamMs = performance.now() - x.upstreamStarted;
  x.tally.addCompletion(completion);
  const settlement = await settleProduced(x, 'finished');
  if (x.signal.aborted) return clientClosed(x);
  x.call.status = 'completed';
  x.call.httpStatus = 200;
  const usage = { ...(completion.usage ?? usageFields(settlement)), cost: usdNumber(settlement.charge) };
  return () => {
    x.res.setHeader(COST_HEADER, formatUsd(settlement.charge));
    x.res.json(x.face.completion({ ...completion, model: x.model.id }, usage));
  };
}

/**
 * Streamed: chunks are relayed as they come; the usage chunk (with `cost`, when the caller asked
 * for it) and `[DONE]` only follow once the hold is settled.
 */
export async function relayStream(x: Exchange): Promise<() => void> {
  let chunks: AsyncGenerator<ChatCompletionChunk>;
  try {
    chunks = await firstAccepting(x, (route, body, options) => route.upstream.stream(body, options));
  } catch (error) {
    x.call.upstreamMs = performance.now() - x.upstreamStarted;
    return failedBeforeOutput(x, error);
  }

  const { res } = x;
  const face = x.face.stream({ model: x.model.id, requestId: x.requestId, includeUsage: x.body.stream_options?.include_usage === true });
  res.status(200);
  res.setHeader('content-type', 'text/event-stream; charset=utf-8');
  res.setHeader('cache-control', 'no-cache');
  res.setHeader('x-accel-buffering', 'no');
  res.setHeader('trailer', COST_HEADER);
  res.flushHeaders();

  let usageChunk: ChatCompletionChunk | undefined;
  let failure: unknown;
  try {
    for await (const chunk of chunks) {
      x.tally.addChunk(chunk);
      if (chunk.choices.length === 0 && chunk.usage) {
        usageChunk = chunk;
        continue;
      }
      // The caller left: read on, relaying nothing, until the upstream reports its usage.
      if (x.signal.aborted) continue;
      const events = face.chunk({ ...chunk, model: x.model.id });
      if (events) await writeWithBackpressure(res, events, x.signal);
    }
  } catch (error) {
    failure = error;
  }
  x.call.upstreamMs = performance.now() - x.upstreamStarted;

  // Whatever happened, what the upstream billed us is charged (at most the hold), the rest released.
  const ending: CallEnding = failure === undefined ? 'finished' : failure instanceof DrainTimeout ? 'client_left' : 'upstream_failed';
  const settlement = await settleProduced(x, ending);
  x.call.httpStatus = 200;
  if (x.signal.aborted) {
    x.call.status = 'client_closed';
    x.call.errorCode = 'client_closed';
    return () => res.end();
  }
  if (failure !== undefined) {
    const api = upstreamFailure(failure, x);
    x.call.status = 'failed';
    x.call.errorCode = api.code;
    return () => {
      res.write(face.fail(api));
      res.end();
    };
  }
  x.call.status = 'completed';
  return () => {
    const usage = { ...(x.tally.upstreamUsage ?? usageFields(settlement)), cost: usdNumber(settlement.charge) };
    res.write(face.finish(usage, usageChunk));
    res.addTrailers({ [COST_HEADER]: formatUsd(settlement.charge) });
    res.end();
  };
}

/**
 * The first route that accepts the request. A route that fails in a way another may not (see
 * movesToNextRoute) hands over to the next; nothing was produced, so nothing is owed for it, and the
 * one hold placed before the first try covers whichever route answers.
 */
export async function firstAccepting<T>(
  x: Exchange,
  attempt: (route: ChatRoute, body: ValidChatCompletionRequest, options: UpstreamCallOptions) => Promise<T>,
): Promise<T> {
  const options = { signal: x.upstreamSignal, requestId: x.requestId };
  for (const [i, route] of x.routes.entries()) {
    try {
      return await attempt(route, { ...x.upstreamBody, model: route.upstreamModel }, options);
    } catch (error) {
      if (i === x.routes.length - 1 || !movesToNextRoute(error) || x.upstreamSignal.aborted) throw error;
      x.services.logger.warn(
        { requestId: x.requestId, provider: route.provider, reason: (error as Error).message },
        'chat route failed before answering; trying the next',
      );
    }
  }
  throw new Error('a chat model reached the upstream call without routes');
}

/**
 * Charges what the upstream billed us: its own count, or, when it stopped before reporting, our
 * estimate of the prompt plus the output seen. Only an upstream failure before any output is free
 * (see isBillable). The settlement is recorded before the capture: from then on the hold is owed
 * and never released by this request.
 */
export async function settleProduced(x: Exchange, ending: CallEnding): Promise<Settlement> {
  if (!isBillable(ending, x.tally.produced)) {
    await x.billing.release(x.reservation);
    x.call.settlement = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, cost: 0n, charge: 0n };
    return x.call.settlement;
  }
  const usage = x.tally.usage(x.body, x.reservation.maxTokens * (x.body.n ?? 1));
  x.call.usageSource = usage.source;
  const settlement = x.billing.settlementOf(x.reservation, x.model, usage, x.requestId);
  x.call.settlement = settlement;
  await x.billing.capture(x.reservation, settlement, x.requestId);
  return settlement;
}

/**
 * The upstream call ended without an answer. Stopped by us at the drain bound after the caller
 * left, it was working on the prompt all that time: the prompt is charged. Failed by itself, it
 * produced nothing we owe: everything is released.
 */
export async function failedBeforeOutput(x: Exchange, error: unknown): Promise<() => void> {
  if (error instanceof DrainTimeout) {
    await settleProduced(x, 'client_left');
    return clientClosed(x);
  }
  await x.billing.release(x.reservation);
  x.call.settlement = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, cost: 0n, charge: 0n };
  if (x.signal.aborted) return clientClosed(x);
  throw upstreamFailure(error, x);
}

/** The caller hung up before the answer: recorded as such, and nothing left to write. */
function clientClosed(x: Exchange): () => void {
  x.call.status = 'client_closed';
  x.call.httpStatus = CLIENT_CLOSED;
  x.call.errorCode = 'client_closed';
  return () => x.res.end();
}

export function upstreamFailure(error: unknown, x: Exchange): ApiError {
  return answerForUpstream(error, x.services.logger, x.requestId) ?? asInternal(error, x);
}

function asInternal(error: unknown, x: Exchange): ApiError {
  x.services.logger.error({ err: error, requestId: x.requestId }, 'chat request failed');
  return new ApiError(500, 'server_error', 'internal_error', `The server had an error processing your request (request id ${x.requestId}).`);
}

function usageFields(s: Settlement): ChatUsage {
  return { prompt_tokens: s.promptTokens, completion_tokens: s.completionTokens, total_tokens: s.promptTokens + s.completionTokens };
}
