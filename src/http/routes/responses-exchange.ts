import { formatUsd, usdNumber } from '../../ledger/money.js';
import type { Settlement } from '../../chat/settlement.js';
import type { CallEnding } from '../../chat/settlement.js';
import { writeWithBackpressure } from '../../providers/chat/sse.js';
import type { ChatCompletion, ChatCompletionChunk, ChatUsage } from '../../providers/chat/types.js';
import type { ChatUpstream } from '../../providers/chat/upstream.js';
import { NATIVE_EVENT, NATIVE_RESPONSE, nativeRequest } from '../../responses/native-upstream.js';
import type { ResponseRequest } from '../../responses/request-schema.js';
import { fromChatCompletion, responseUsage, type ResponseIds, type ResponseObject, type ResponseUsage } from '../../responses/response-object.js';
import { ChatStreamTranslator, ResponseEventNumbering, type ResponseEvent } from '../../responses/stream-events.js';
import { COST_HEADER, DrainTimeout, failedBeforeOutput, firstAccepting, settleProduced, upstreamFailure, type Exchange } from './chat-exchange.js';

// A Responses request once its hold is placed, through chat's exchange: the same route fallback,
// tally and settlement (so the same hold, capture and request row) as a chat completion. Each
// route gets the request natively when its provider speaks the Responses API, translated to chat
// completions otherwise; either answer reaches the caller as a Response.

export interface ResponsesExchange extends Exchange {
  request: ResponseRequest;
  /** Native Responses adapters by provider name (providers marked `"responses": true`). */
  native: ReadonlyMap<string, ChatUpstream>;
  ids: ResponseIds;
  shell: ResponseObject;
}

/** What the provider is sent natively: the caller's body with our model id, output limit and no storage. */
function nativeBody(x: ResponsesExchange, upstreamModel: string): Record<string, unknown> {
  const { previous_response_id: _none, ...body } = x.request;
  return { ...body, model: upstreamModel, max_output_tokens: x.reservation.maxTokens, store: false };
}

/** Non-streamed: one Response with `usage.cost`. */
export async function answerResponse(x: ResponsesExchange): Promise<() => void> {
  let completion: ChatCompletion;
  try {
    completion = await firstAccepting(x, (route, body, options) => {
      const native = x.native.get(route.provider);
      return native ? native.complete(nativeRequest(nativeBody(x, route.upstreamModel)), options) : route.upstream.complete(body, options);
    });
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
  const usage = { ...usageOf(x.tally.upstreamUsage, settlement), cost: usdNumber(settlement.charge) };
  const native = completion[NATIVE_RESPONSE] as ResponseObject | undefined;
  const response = native ? { ...native, id: x.ids.response, model: x.model.id, store: false, usage } : fromChatCompletion(x.shell, completion, x.ids, usage);
  return () => {
    x.res.setHeader(COST_HEADER, formatUsd(settlement.charge));
    x.res.json(response);
  };
}

/**
 * Streamed: events as the output comes; the terminal event (with usage and `cost`) only once the
 * hold is settled. A native stream is relayed event by event (our response id and model id in
 * place of the provider's), a chat stream translated.
 */
export async function streamResponse(x: ResponsesExchange): Promise<() => void> {
  let chunks: AsyncGenerator<ChatCompletionChunk>;
  // Whether the route that accepted the request (the last one tried) speaks Responses natively.
  let native = false;
  try {
    chunks = await firstAccepting(x, (route, body, options) => {
      const upstream = x.native.get(route.provider);
      native = upstream !== undefined;
      return upstream ? upstream.stream(nativeRequest(nativeBody(x, route.upstreamModel)), options) : route.upstream.stream(body, options);
    });
  } catch (error) {
    x.call.upstreamMs = performance.now() - x.upstreamStarted;
    return failedBeforeOutput(x, error);
  }

  const { res } = x;
  res.status(200);
  res.setHeader('content-type', 'text/event-stream; charset=utf-8');
  res.setHeader('cache-control', 'no-cache');
  res.setHeader('x-accel-buffering', 'no');
  res.setHeader('trailer', COST_HEADER);
  res.flushHeaders();

  const numbering = new ResponseEventNumbering();
  const send = (events: ResponseEvent[]) => writeWithBackpressure(res, events.map((e) => numbering.sse(e)).join(''), x.signal);
  const translator = new ChatStreamTranslator(x.shell, x.ids);
  let terminal: ResponseEvent | undefined;
  let failure: unknown;
  try {
    if (!native) await send(translator.start());
    for await (const chunk of chunks) {
      x.tally.addChunk(chunk);
      const event = chunk[NATIVE_EVENT] as ResponseEvent | undefined;
      if (native && event && /^response\.(completed|incomplete|failed)$/.test(event.type)) {
        terminal = event;
        continue;
      }
      // The caller left: read on, relaying nothing, until the upstream reports its usage.
      if (x.signal.aborted) continue;
      await send(native ? (event ? [ours(x, event)] : []) : translator.push(chunk));
    }
  } catch (error) {
    failure = error;
  }
  x.call.upstreamMs = performance.now() - x.upstreamStarted;

  const ending: CallEnding = failure === undefined ? 'finished' : failure instanceof DrainTimeout ? 'client_left' : 'upstream_failed';
  const settlement = await settleProduced(x, ending);
  x.call.httpStatus = 200;
  if (x.signal.aborted) {
    x.call.status = 'client_closed';
    x.call.errorCode = 'client_closed';
    return () => res.end();
  }
  const usage: ResponseUsage = { ...usageOf(x.tally.upstreamUsage, settlement), cost: usdNumber(settlement.charge) };
  let events: ResponseEvent[];
  if (failure !== undefined) {
    const api = upstreamFailure(failure, x);
    x.call.status = 'failed';
    x.call.errorCode = api.code;
    events = translator.fail({ code: api.code ?? 'upstream_error', message: api.message }, usage);
  } else if (native) {
    x.call.status = terminal?.type === 'response.failed' ? 'failed' : 'completed';
    if (terminal?.type === 'response.failed') x.call.errorCode = 'upstream_error';
    const response = { ...(terminal?.response as ResponseObject), id: x.ids.response, model: x.model.id, store: false, usage };
    events = [{ type: terminal?.type ?? 'response.completed', response }];
  } else {
    x.call.status = 'completed';
    events = translator.end(usage);
  }
  return () => {
    res.write(events.map((e) => numbering.sse(e)).join(''));
    res.addTrailers({ [COST_HEADER]: formatUsd(settlement.charge) });
    res.end();
  };
}

/** A provider's event with our response id and model id wherever it names the response. */
function ours(x: ResponsesExchange, event: ResponseEvent): ResponseEvent {
  const response = event.response as ResponseObject | undefined;
  if (!response || typeof response !== 'object') return event;
  return { ...event, response: { ...response, id: x.ids.response, model: x.model.id, store: false } };
}

function usageOf(reported: ChatUsage | undefined, s: Settlement): ResponseUsage {
  return responseUsage(reported ?? { prompt_tokens: s.promptTokens, completion_tokens: s.completionTokens });
}

/** The caller hung up before the answer (recorded as nginx's 499). */
function clientClosed(x: ResponsesExchange): () => void {
  x.call.status = 'client_closed';
  x.call.httpStatus = 499;
  x.call.errorCode = 'client_closed';
  return () => x.res.end();
}
