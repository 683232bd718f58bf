import type { ApiKeyRecord } from '../accounts/repository.js';
import { assertModelAvailable } from '../http/availability.js';
import { ApiError, invalidRequest, modelUnavailable } from '../http/errors.js';
import { budgetKeyOf } from '../keys/key-budget.js';
import { assertModelAllowed } from '../keys/key-settings.js';
import type { ChatModel } from '../pricing/catalog.js';
import type { Abort } from '../providers/chat/abort.js';
import { movesToNextRoute } from '../providers/chat/fallback.js';
import type { ChatRoute } from '../providers/chat/model-routes.js';
import type { ValidChatCompletionRequest } from '../providers/chat/request-schema.js';
import type { ChatCompletion, ChatCompletionChunk, ChatUsage } from '../providers/chat/types.js';
import type { UpstreamCallOptions } from '../providers/chat/upstream.js';
import type { Services } from '../services.js';
import type { ChatBilling, ChatHold } from './chat-billing.js';
import { CompletionTally } from './completion-tally.js';
import { refusedField } from './forwarded-fields.js';
import { promptTokenBound } from './prompt-bound.js';
import type { RequestRecord } from './request-log.js';
import { isBillable, type CallEnding, type Settlement } from './settlement.js';

// One paid chat completion, as the domain sees it: a validated request is checked against the
// catalog and the key, its worst case held; the upstream call (plain or streamed) then ends in a
// ChatOutcome, a value that says how the hold was settled and what the caller is owed. Every path
// leaves the hold captured or released. The HTTP route (and the endpoints that translate to chat
// completions) only shape the answer and record the request from the outcome.

/** The caller left and the upstream was still not done at the drain bound: it is stopped. */
export class DrainTimeout extends Error {
  readonly name = 'DrainTimeout';
}

export interface ChatCaller {
  accountId: string;
  /** The calling key with its settings (model allow-list). */
  key: ApiKeyRecord;
  /** Also the hold's idempotency key: one hold per request. */
  requestId: string;
}

export interface ChatDeps {
  services: Services;
  billing: ChatBilling;
}

/** A chat call whose hold is placed: what it may cost and where it goes. */
export interface HeldChatCall {
  caller: ChatCaller;
  request: ValidChatCompletionRequest;
  model: ChatModel;
  hold: ChatHold;
  /** Tried in order until one accepts the request (see movesToNextRoute). */
  routes: ChatRoute[];
  /** What every route is sent, with its own upstream model id. */
  upstreamRequest: ValidChatCompletionRequest;
  /** The caller set no output limit and the balance affords less than the model's longest answer. */
  outputCapped: boolean;
}

export interface ChatSignals {
  /** Fires when the caller leaves: nothing more is relayed to it. */
  clientGone: Abort;
  /** Fires at the drain bound after the caller left: the upstream call is stopped. */
  upstreamStop: Abort;
}

/**
 * How a held call ended. `completed`: the answer is the caller's (with `completion` when not
 * streamed). `client_closed`: the caller left first. `failed`: the upstream failed, `failure` says
 * how (the caller maps it to an answer). In every case `settlement` is what was taken from the hold.
 */
export interface ChatOutcome {
  ending: 'completed' | 'client_closed' | 'failed';
  settlement: Settlement;
  usageSource: 'upstream' | 'estimated' | null;
  upstreamMs: number;
  /** The upstream's own usage report, when it sent one. */
  upstreamUsage?: ChatUsage;
  completion?: ChatCompletion;
  /** The streamed usage chunk (choices empty), held back until the hold is settled. */
  usageChunk?: ChatCompletionChunk;
  failure?: unknown;
  /** The request's log row was written by the capture's own statement (see RowAtCapture). */
  recorded?: boolean;
}

/** What a finished call settled, as the request's log row needs it. */
export type SettledCall = Pick<ChatOutcome, 'settlement' | 'usageSource' | 'upstreamMs'>;

/**
 * The request's log row for a call that finished, built at its capture so that the capture's own
 * statement writes it: one commit and no round trip of its own before the answer. Null when the
 * answer is not yet certain (the caller left, say): the route then records the request afterwards.
 */
export type RowAtCapture = (settled: SettledCall) => RequestRecord | null;

const NOTHING: Settlement = { promptTokens: 0, completionTokens: 0, cachedTokens: 0, cacheWriteTokens: 0, cost: 0n, charge: 0n };

export interface HoldOptions {
  /**
   * The prompt's token bound, when the request may reach a route in another form than the chat
   * request (a native Responses route is sent the caller's own body): the larger of the two.
   */
  promptTokenBound?: number;
}

/**
 * Checks the request against the catalog, the key and the model's limits, and holds its worst
 * case (lowering the output limit to what the balance affords). Throws the refusal (ApiError,
 * InsufficientFunds, OutputLimitUnaffordable) when it cannot go upstream; nothing is held then.
 */
export async function holdChatCall(deps: ChatDeps, request: ValidChatCompletionRequest, caller: ChatCaller, opts: HoldOptions = {}): Promise<HeldChatCall> {
  const { services } = deps;
  const refused = refusedField(request);
  if (refused) {
    throw invalidRequest(refused.message, refused.param, refused.reason === 'unknown' ? 'unknown_parameter' : 'unsupported_parameter');
  }
  const model = services.catalog.chat(request.model);
  if (!model) {
    const media = services.catalog.generation(request.model);
    throw new ApiError(
      404,
      'invalid_request_error',
      'model_not_found',
      media
        ? `The model '${request.model}' generates ${media.kind}s: use POST /v1/${media.kind}s${media.kind === 'image' ? '/generations' : ''}.`
        : `The model '${request.model}' does not exist. GET /v1/models lists the chat models and their prices.`,
      'model',
    );
  }
  assertModelAvailable(services, model);
  assertModelAllowed(caller.key, model.id);
  const routes = services.chatRoutes.for(model);
  if (routes.length === 0) throw modelUnavailable(model.id);
  const limitField = request.max_completion_tokens != null ? 'max_completion_tokens' : 'max_tokens';
  const requested = request.max_completion_tokens ?? request.max_tokens ?? undefined;
  if (requested !== undefined && requested > model.max_output_tokens) {
    throw invalidRequest(
      `${limitField} is too large: ${requested}. The model ${model.id} supports at most ${model.max_output_tokens} completion tokens.`,
      limitField,
      'invalid_value',
    );
  }
  const hold = await deps.billing.hold({
    accountId: caller.accountId,
    apiKeyId: budgetKeyOf(caller.key),
    requestId: caller.requestId,
    model,
    promptTokenBound: Math.max(promptTokenBound(request), opts.promptTokenBound ?? 0),
    requestedMaxTokens: requested,
    choices: request.n ?? 1,
  });
  return {
    caller,
    request,
    model,
    hold,
    routes,
    upstreamRequest: withOutputLimit(request, hold.maxTokens),
    outputCapped: requested === undefined && hold.maxTokens < model.max_output_tokens,
  };
}

/** Non-streamed: the upstream's completion, settled. Never stopped when the caller leaves: the upstream bills us all the same. */
export async function completeChat(deps: ChatDeps, call: HeldChatCall, signals: ChatSignals, rowAtCapture?: RowAtCapture): Promise<ChatOutcome> {
  return releasedOnSurprise(deps, call, async (settled) => {
    const started = performance.now();
    const tally = new CompletionTally();
    let completion: ChatCompletion;
    try {
      completion = await firstAccepting(deps, call, signals, (route, body, options) => route.upstream.complete(body, options));
    } catch (error) {
      return failedBeforeOutput(deps, call, signals, tally, error, performance.now() - started, settled);
    }
    const upstreamMs = performance.now() - started;
    tally.addCompletion(completion);
    const { settlement, usageSource, recorded } = await settleProduced(deps, call, tally, 'finished', settled, { upstreamMs, rowAtCapture });
    if (signals.clientGone.aborted) return { ending: 'client_closed', settlement, usageSource, upstreamMs, recorded };
    return { ending: 'completed', settlement, usageSource, upstreamMs, completion, upstreamUsage: tally.upstreamUsage, recorded };
  });
}

/** Where a streamed call's chunks go: `open` once the upstream accepted, then each chunk in order. */
export interface ChunkRelay {
  open(): void;
  chunk(chunk: ChatCompletionChunk): Promise<void>;
}

/**
 * Streamed: chunks are relayed as they come (none once the caller left); the usage chunk is held
 * back in the outcome, to follow only once the hold is settled.
 */
export async function streamChat(
  deps: ChatDeps,
  call: HeldChatCall,
  signals: ChatSignals,
  relay: ChunkRelay,
  rowAtCapture?: RowAtCapture,
): Promise<ChatOutcome> {
  return releasedOnSurprise(deps, call, async (settled) => {
    const started = performance.now();
    const tally = new CompletionTally();
    let chunks: AsyncGenerator<ChatCompletionChunk>;
    try {
      chunks = await firstAccepting(deps, call, signals, (route, body, options) => route.upstream.stream(body, options));
    } catch (error) {
      return failedBeforeOutput(deps, call, signals, tally, error, performance.now() - started, settled);
    }
    relay.open();
    let usageChunk: ChatCompletionChunk | undefined;
    let failure: unknown;
    try {
      for await (const chunk of chunks) {
        tally.addChunk(chunk);
        if (chunk.choices.length === 0 && chunk.usage) {
          usageChunk = chunk;
          continue;
        }
        // The caller left: read on, relaying nothing, until the upstream reports its usage.
        if (!signals.clientGone.aborted) await relay.chunk(chunk);
      }
    } catch (error) {
      failure = error;
    }
    const upstreamMs = performance.now() - started;
    // Whatever happened, what the upstream billed us is charged (at most the hold), the rest released.
    const ending: CallEnding = failure === undefined ? 'finished' : failure instanceof DrainTimeout ? 'client_left' : 'upstream_failed';
    const { settlement, usageSource, recorded } = await settleProduced(deps, call, tally, ending, settled, { upstreamMs, rowAtCapture });
    const base = { settlement, usageSource, upstreamMs, upstreamUsage: tally.upstreamUsage, usageChunk, recorded };
    if (signals.clientGone.aborted) return { ...base, ending: 'client_closed' };
    if (failure !== undefined) return { ...base, ending: 'failed', failure };
    return { ...base, ending: 'completed' };
  });
}

interface Settled {
  /** Set once the hold is owed (or released) by the settlement: never released by a surprise after that. */
  done: boolean;
}

/**
 * An unexpected failure after the hold and before anything was owed gives the money back now rather
 * than at expiry. Once settled, the hold is never released here: its charge is owed, and the capture
 * (or its hand-off) is what settles it. Releasing a hold that did get captured changes nothing.
 */
async function releasedOnSurprise(deps: ChatDeps, call: HeldChatCall, run: (settled: Settled) => Promise<ChatOutcome>): Promise<ChatOutcome> {
  const settled: Settled = { done: false };
  try {
    return await run(settled);
  } catch (error) {
    if (!settled.done) {
      await deps.billing
        .release(call.hold)
        .catch((err) => deps.services.logger.error({ err, requestId: call.caller.requestId }, 'could not release the hold; it will expire'));
    }
    throw error;
  }
}

/**
 * The first route that accepts the request. A route that fails in a way another may not (see
 * movesToNextRoute) hands over to the next; nothing was produced, so nothing is owed for it, and the
 * one hold placed before the first try covers whichever route answers.
 */
async function firstAccepting<T>(
  deps: ChatDeps,
  call: HeldChatCall,
  signals: ChatSignals,
  attempt: (route: ChatRoute, body: ValidChatCompletionRequest, options: UpstreamCallOptions) => Promise<T>,
): Promise<T> {
  const options = { signal: signals.upstreamStop, requestId: call.caller.requestId };
  for (const [i, route] of call.routes.entries()) {
    try {
      return await attempt(route, { ...call.upstreamRequest, model: route.upstreamModel }, options);
    } catch (error) {
      if (i === call.routes.length - 1 || !movesToNextRoute(error) || signals.upstreamStop.aborted) throw error;
      deps.services.logger.warn(
        { requestId: call.caller.requestId, provider: route.provider, reason: (error as Error).message },
        'chat route failed before answering; trying the next',
      );
    }
  }
  throw new Error('a chat model reached the upstream call without routes');
}

/**
 * Charges what the upstream billed us: its own count, or, when it stopped before reporting, our
 * estimate of the prompt plus the output seen. Only an upstream failure before any output is free
 * (see isBillable: a finished answer is charged even if empty). The settlement is fixed before the
 * capture: from then on the hold is owed and never released by this request.
 */
async function settleProduced(
  deps: ChatDeps,
  call: HeldChatCall,
  tally: CompletionTally,
  ending: CallEnding,
  settled: Settled,
  row: { upstreamMs: number; rowAtCapture?: RowAtCapture } = { upstreamMs: 0 },
): Promise<Pick<ChatOutcome, 'settlement' | 'usageSource' | 'recorded'>> {
  if (!isBillable(ending, tally.produced)) {
    await deps.billing.release(call.hold);
    settled.done = true;
    return { settlement: NOTHING, usageSource: null, recorded: false };
  }
  const usage = tally.usage(call.request, call.hold.maxTokens * (call.request.n ?? 1));
  const settlement = deps.billing.settlementOf(call.hold, call.model, usage, call.caller.requestId);
  settled.done = true;
  // Only a call that finished knows its answer at the capture.
  const request = ending === 'finished' ? (row.rowAtCapture?.({ settlement, usageSource: usage.source, upstreamMs: row.upstreamMs }) ?? undefined) : undefined;
  const { recorded } = await deps.billing.capture(call.hold, settlement, call.caller.requestId, request);
  return { settlement, usageSource: usage.source, recorded };
}

/**
 * The upstream call ended without an answer. Stopped by us at the drain bound after the caller
 * left, it was working on the prompt all that time: the prompt is charged. Failed by itself, it
 * produced nothing we owe: everything is released.
 */
async function failedBeforeOutput(
  deps: ChatDeps,
  call: HeldChatCall,
  signals: ChatSignals,
  tally: CompletionTally,
  error: unknown,
  upstreamMs: number,
  settled: Settled,
): Promise<ChatOutcome> {
  if (error instanceof DrainTimeout) {
    const { settlement, usageSource } = await settleProduced(deps, call, tally, 'client_left', settled);
    return { ending: 'client_closed', settlement, usageSource, upstreamMs };
  }
  await deps.billing.release(call.hold);
  settled.done = true;
  if (signals.clientGone.aborted) return { ending: 'client_closed', settlement: NOTHING, usageSource: null, upstreamMs };
  return { ending: 'failed', settlement: NOTHING, usageSource: null, upstreamMs, failure: error };
}

/** The upstream is held to the limit we held money for, under whichever name the caller used. */
function withOutputLimit(request: ValidChatCompletionRequest, maxTokens: number): ValidChatCompletionRequest {
  const limited = { ...request };
  if (request.max_tokens != null) limited.max_tokens = maxTokens;
  if (request.max_completion_tokens != null || request.max_tokens == null) limited.max_completion_tokens = maxTokens;
  return limited;
}

/** The usage fields of a settlement, for an answer whose upstream reported none. */
export function usageOf(s: Settlement): ChatUsage {
  return { prompt_tokens: s.promptTokens, completion_tokens: s.completionTokens, total_tokens: s.promptTokens + s.completionTokens };
}
