import type { ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { usageOf, type ChatOutcome, type ChunkRelay, type HeldChatCall } from '../../chat/chat-call.js';
import type { ChatAnswered } from '../../chat/chat-record.js';
import { formatUsd, usdNumber } from '../../ledger/money.js';
import type { Abort } from '../../providers/chat/abort.js';
import { writeWithBackpressure } from '../../providers/chat/sse.js';
import type { ChatCompletionChunk } from '../../providers/chat/types.js';
import { ApiError } from '../errors.js';
import { upstreamFailure } from '../upstream-failure.js';
import type { BilledUsage, ChatFace, StreamFace } from './chat-face.js';

// The HTTP side of a chat call: how its outcome (src/chat/chat-call.ts) is answered, as one JSON
// body or as server-sent events in the caller's wire format (the face), and what the answer was
// for the request log.

export { DrainTimeout } from '../../chat/chat-call.js';

/** Exact decimal USD taken from the balance for this request (also a trailer on streams). */
export const COST_HEADER = 'x-request-cost-usd';
/** nginx's "client closed request": recorded when the caller hung up before the answer. */
const CLIENT_CLOSED = 499;

/** What a call that finished is answered, for the log: a 200 with the completion. */
export const COMPLETED: ChatAnswered = { status: 'completed', httpStatus: 200, errorCode: null };

/** An answer ready to be written: what it says for the log, and the write itself. */
export interface ChatAnswer {
  answered: ChatAnswered;
  /** Throws the ApiError of a failure not yet answered (the error handler writes it). */
  write(): void;
}

/**
 * Chunks relayed as they come, our model id in place of the upstream's. What one upstream read
 * brings (often several events, and the headers before the first) goes to the caller in one write:
 * the socket is corked until the microtasks relaying that read have run, so a busy stream costs a
 * syscall per read rather than per event, and a token-by-token one is written as soon as before.
 */
export function sseRelay(res: ServerResponse, call: HeldChatCall, face: StreamFace, clientGone: Abort): ChunkRelay {
  let corked = false;
  const uncork = () => {
    corked = false;
    res.uncork();
  };
  const batch = () => {
    if (corked) return;
    corked = true;
    res.cork();
    process.nextTick(uncork);
  };
  return {
    open() {
      batch();
      res.statusCode = 200;
      res.setHeader('content-type', 'text/event-stream; charset=utf-8');
      res.setHeader('cache-control', 'no-cache');
      res.setHeader('x-accel-buffering', 'no');
      res.setHeader('trailer', COST_HEADER);
      res.flushHeaders();
    },
    async chunk(chunk: ChatCompletionChunk) {
      const events = face.chunk({ ...chunk, model: call.model.id });
      if (!events) return;
      batch();
      await writeWithBackpressure(res, events, clientGone);
    },
  };
}

/** What was billed, in chat terms: the upstream's own usage report when it sent one, with `cost`. */
function billedUsage(outcome: ChatOutcome): BilledUsage {
  return { ...(outcome.upstreamUsage ?? usageOf(outcome.settlement)), cost: usdNumber(outcome.settlement.charge) };
}

/** Non-streamed: the completion with our model id and `usage.cost`, in one write (no ETag). */
export function completionAnswer(res: ServerResponse, call: HeldChatCall, face: ChatFace, outcome: ChatOutcome, logger: Logger): ChatAnswer {
  if (outcome.ending === 'client_closed') return closed(res, CLIENT_CLOSED);
  if (outcome.ending === 'failed') return failed(outcome.failure, call, logger);
  const { settlement, completion } = outcome;
  const usage = { ...(completion!.usage ?? usageOf(settlement)), cost: usdNumber(settlement.charge) };
  const body = JSON.stringify(face.completion({ ...completion!, model: call.model.id }, usage));
  return {
    answered: COMPLETED,
    write() {
      res.statusCode = 200;
      res.setHeader(COST_HEADER, formatUsd(settlement.charge));
      res.setHeader('content-type', 'application/json; charset=utf-8');
      res.setHeader('content-length', Buffer.byteLength(body));
      res.end(body);
    },
  };
}

/**
 * Streamed, once the hold is settled: the face's closing events (the usage with `cost`, `[DONE]`
 * or its equivalent), or the error as a last event. A stream that failed before its headers is
 * answered like a non-streamed failure.
 */
export function streamAnswer(res: ServerResponse, call: HeldChatCall, face: StreamFace, outcome: ChatOutcome, logger: Logger): ChatAnswer {
  const opened = res.headersSent;
  if (outcome.ending === 'client_closed') return closed(res, opened ? 200 : CLIENT_CLOSED);
  const charge = formatUsd(outcome.settlement.charge);
  const end = (tail: string) => {
    res.addTrailers({ [COST_HEADER]: charge });
    res.end(tail);
  };
  if (outcome.ending === 'failed') {
    if (!opened) return failed(outcome.failure, call, logger);
    const api = apiErrorOf(outcome.failure, call, logger);
    const tail = face.fail(api, billedUsage(outcome));
    return { answered: { status: 'failed', httpStatus: 200, errorCode: api.code }, write: () => end(tail) };
  }
  const tail = face.finish(billedUsage(outcome), outcome.usageChunk);
  const failedCode = face.failedCode?.() ?? null;
  return {
    answered: failedCode ? { status: 'failed', httpStatus: 200, errorCode: failedCode } : COMPLETED,
    write: () => end(tail),
  };
}

/** The caller hung up before the answer: recorded as such, and nothing left to write. */
function closed(res: ServerResponse, httpStatus: number): ChatAnswer {
  return { answered: { status: 'client_closed', httpStatus, errorCode: 'client_closed' }, write: () => res.end() };
}

function failed(failure: unknown, call: HeldChatCall, logger: Logger): ChatAnswer {
  const api = apiErrorOf(failure, call, logger);
  return {
    answered: { status: 'failed', httpStatus: api.status, errorCode: api.code },
    write() {
      throw api;
    },
  };
}

function apiErrorOf(failure: unknown, call: HeldChatCall, logger: Logger): ApiError {
  const requestId = call.caller.requestId;
  const api = upstreamFailure(failure, logger, requestId);
  if (api) return api;
  logger.error({ err: failure, requestId }, 'chat request failed');
  return new ApiError(500, 'server_error', 'internal_error', `The server had an error processing your request (request id ${requestId}).`);
}
