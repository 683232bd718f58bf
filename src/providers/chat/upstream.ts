import type { IncomingHttpHeaders } from 'node:http';
import type { Readable } from 'node:stream';
import { Pool, type Dispatcher } from 'undici';
import { Abort } from './abort.js';
import { UpstreamConnectionError, UpstreamError, UpstreamProtocolError, normalizeUpstreamErrorBody } from './errors.js';
import { SSE_DONE, SseParser, type SseEvent } from './sse.js';
import type { EmbeddingsRequest, EmbeddingsResponse } from './embedding-types.js';
import type { ChatCompletion, ChatCompletionChunk, ChatCompletionRequest } from './types.js';

export interface ChatUpstreamOptions {
  /** OpenAI-compatible API root, e.g. `https://api.openai.com/v1` or `http://127.0.0.1:PORT/v1`. */
  baseUrl: string;
  apiKey?: string;
  /**
   * Longest wait for the response headers (and, without streaming, for the whole body); inside a
   * stream, the longest silence between two reads. Matches the OpenAI SDK's 10-minute default.
   */
  timeoutMs?: number;
}

export interface UpstreamCallOptions {
  /** Aborting closes the upstream connection; the call then rejects with the abort's reason. */
  signal?: Abort;
  /** Sent as `X-Client-Request-Id` so a request can be traced across both services. */
  requestId?: string;
}

export interface ChatUpstream {
  complete(request: ChatCompletionRequest, options?: UpstreamCallOptions): Promise<ChatCompletion>;
  /**
   * Resolves once the upstream has accepted the request (HTTP errors reject here, before any chunk),
   * then yields every chunk up to `[DONE]`. Leaving the loop early closes the upstream connection.
   */
  stream(request: ChatCompletionRequest, options?: UpstreamCallOptions): Promise<AsyncGenerator<ChatCompletionChunk>>;
}

/** OpenAI-compatible servers also answer embeddings; Anthropic's Messages API does not. */
export interface EmbeddingUpstream {
  /** `POST /embeddings` on the same server, sent once like a completion. */
  embed(request: EmbeddingsRequest, options?: UpstreamCallOptions): Promise<EmbeddingsResponse>;
}

const DEFAULT_TIMEOUT_MS = 600_000;
/** Far above any completion (128k tokens is about 1 MB of JSON); an endless body must not eat memory. */
const MAX_BODY_BYTES = 64 * 1024 * 1024;

/**
 * The adapter for any OpenAI-compatible chat server. Requests are sent once: a chat completion is
 * not idempotent upstream (it is billed there), so a failure is reported, never retried.
 *
 * It speaks HTTP through undici's `request` on a keep-alive pool per upstream origin: measured on the
 * gateway's hot path, node:http's client cost twice its CPU per call (ClientRequest, the agent's
 * socket bookkeeping), and fetch over a millisecond more (web streams and their promises).
 */
export function createChatUpstream(options: ChatUpstreamOptions): ChatUpstream & EmbeddingUpstream {
  return createHttpChatUpstream(options, openAiWire);
}

/**
 * How one provider's API spells a chat call: its path and auth headers, the request body, and the
 * answer back in chat-completion terms. The HTTP handling around it (pool, timeouts, limits,
 * aborts, typed errors) is the same for all.
 */
export interface WireProtocol {
  /** Appended to the provider's base URL. */
  path: string;
  /** `request` is absent for embeddings: a wire may take headers the caller sent from it. */
  headers(apiKey: string | undefined, request?: ChatCompletionRequest): Record<string, string>;
  encode(request: ChatCompletionRequest, stream: boolean): unknown;
  /** A whole answer; throws UpstreamProtocolError when it is not one. */
  decode(body: unknown): ChatCompletion;
  /** A fresh decoder per streamed call: one server-sent event in, its chunks out, and whether it ended the answer. */
  streamDecoder(secrets: string[]): (event: SseEvent) => { chunks: ChatCompletionChunk[]; end: boolean };
}

const openAiWire: WireProtocol = {
  path: '/chat/completions',
  headers: (apiKey): Record<string, string> => (apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
  encode(request, stream) {
    if (stream) {
      // We bill from the upstream's own count, so we always ask for it, whatever the client asked.
      return { ...request, stream: true, stream_options: { ...(request.stream_options ?? {}), include_usage: true } };
    }
    const { stream_options: _ignored, ...rest } = request;
    return { ...rest, stream: false };
  },
  decode(body) {
    if (!isCompletion(body)) throw new UpstreamProtocolError('upstream answer has no choices array');
    return body;
  },
  streamDecoder: (secrets) => (event) => {
    if (event.data === SSE_DONE) return { chunks: [], end: true };
    let payload: unknown;
    try {
      payload = JSON.parse(event.data);
    } catch {
      throw new UpstreamProtocolError('upstream stream event is not JSON');
    }
    const fields = payload as Record<string, unknown> | null;
    if (fields?.error) {
      // A failure after the 200 was sent; it has no HTTP status of its own.
      throw new UpstreamError(502, normalizeUpstreamErrorBody(502, event.data, secrets));
    }
    if (!Array.isArray(fields?.choices)) throw new UpstreamProtocolError('upstream stream chunk has no choices array');
    return { chunks: [payload as ChatCompletionChunk], end: false };
  },
};

/**
 * `embed` posts OpenAI's `/embeddings` beside the wire's chat path; only the OpenAI wire's callers
 * (`createChatUpstream`) expose it.
 */
export function createHttpChatUpstream(options: ChatUpstreamOptions, wire: WireProtocol): ChatUpstream & EmbeddingUpstream {
  const root = new URL(options.baseUrl).href.replace(/\/+$/, '');
  const endpoint = new URL(`${root}${wire.path}`);
  const embeddingsEndpoint = new URL(`${root}/embeddings`);
  // One pool per origin (chat and embeddings share it). undici's own header and body timeouts are
  // off: Call's watchdog is the one timeout, so every silence is reported the same way.
  const pool = new Pool(endpoint.origin, { headersTimeout: 0, bodyTimeout: 0 });
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const secrets = options.apiKey ? [options.apiKey] : [];

  function post(body: unknown, accept: string, call: UpstreamCallOptions, link: Call, request?: ChatCompletionRequest, target = endpoint): Promise<Answer> {
    const headers: Record<string, string> = { 'content-type': 'application/json', accept };
    Object.assign(headers, wire.headers(options.apiKey, request));
    if (call.requestId) headers['x-client-request-id'] = call.requestId;
    return pool.request({ path: target.pathname + target.search, method: 'POST', headers, body: JSON.stringify(body), signal: link.stop }).then(
      async (response) => {
        link.heard();
        const status = response.statusCode;
        if (status >= 200 && status < 300) return response;
        const raw = await readText(response, link).catch(() => '');
        throw new UpstreamError(status, normalizeUpstreamErrorBody(status, raw, secrets), retryAfterOf(response.headers));
      },
      (error: unknown) => {
        throw link.failure(error);
      },
    );
  }

  return {
    async complete(request, call = {}) {
      const link = new Call(timeoutMs, call.signal);
      try {
        const response = await post(wire.encode(request, false), 'application/json', call, link, request);
        const raw = await readText(response, link);
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          throw new UpstreamProtocolError('upstream answered with a body that is not JSON');
        }
        return wire.decode(parsed);
      } catch (error) {
        throw link.failure(error);
      } finally {
        link.end();
      }
    },

    async stream(request, call = {}) {
      const body = wire.encode(request, true);
      const link = new Call(timeoutMs, call.signal);
      let response: Answer;
      try {
        response = await post(body, 'text/event-stream', call, link, request);
        if (String(response.headers['content-type'] ?? '').includes('application/json')) {
          discard(response.body);
          throw new UpstreamProtocolError('upstream answered a streaming request with plain JSON');
        }
      } catch (error) {
        link.end();
        throw link.failure(error);
      }
      return chunks(response, link, wire.streamDecoder(secrets));
    },

    async embed(request, call = {}) {
      const link = new Call(timeoutMs, call.signal);
      try {
        const response = await post(request, 'application/json', call, link, undefined, embeddingsEndpoint);
        let parsed: unknown;
        try {
          parsed = JSON.parse(await readText(response, link));
        } catch (error) {
          if (error instanceof SyntaxError) throw new UpstreamProtocolError('upstream answered with a body that is not JSON');
          throw error;
        }
        if (!Array.isArray((parsed as EmbeddingsResponse | null)?.data)) throw new UpstreamProtocolError('upstream answer has no data array');
        return parsed as EmbeddingsResponse;
      } catch (error) {
        throw link.failure(error);
      } finally {
        link.end();
      }
    },
  };
}

function isCompletion(value: unknown): value is ChatCompletion {
  return value !== null && typeof value === 'object' && Array.isArray((value as ChatCompletion).choices);
}

/** An upstream's answer once its headers came. */
type Answer = Dispatcher.ResponseData;

async function readText(response: Answer, link: Call): Promise<string> {
  const parts: Buffer[] = [];
  let size = 0;
  for await (const part of response.body as AsyncIterable<Buffer>) {
    link.heard();
    size += part.length;
    if (size > MAX_BODY_BYTES) {
      discard(response.body);
      throw new UpstreamProtocolError('upstream answer exceeds 64 MiB');
    }
    parts.push(part);
  }
  return Buffer.concat(parts).toString('utf8');
}

async function* chunks(
  response: Answer,
  link: Call,
  decode: ReturnType<WireProtocol['streamDecoder']>,
): AsyncGenerator<ChatCompletionChunk> {
  const parser = new SseParser();
  let complete = false;
  // The chunks of one read's events (or of the body's end), returning true at the end event.
  // Synchronous: a read's events cost no promise each on their way to the caller.
  function* chunksOf(events: SseEvent[]): Generator<ChatCompletionChunk, boolean> {
    for (const event of events) {
      const decoded = decode(event);
      yield* decoded.chunks;
      if (decoded.end) return true;
    }
    return false;
  }
  try {
    // Not destroyed on an early return: after [DONE] the connection can still go back to the pool.
    for await (const part of response.body.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>) {
      link.heard();
      if ((complete = yield* chunksOf(parser.push(part)))) break;
      parser.refuseOverlong();
    }
    if (!complete) complete = yield* chunksOf(parser.end());
    if (!complete) throw new UpstreamConnectionError('upstream closed the stream before [DONE]', { beforeFirstByte: false });
    releaseAfterDone(response.body);
  } catch (error) {
    throw link.failure(error);
  } finally {
    if (!complete) discard(response.body);
    link.end();
  }
}

/**
 * After `[DONE]` only the end of the HTTP body should follow. Reading it lets the keep-alive
 * connection carry the next request; the caller is not kept waiting for it, and a server that keeps
 * talking (or never ends the body) gets its connection closed.
 */
function releaseAfterDone(response: Readable): void {
  if (response.readableEnded) return;
  const giveUp = setTimeout(() => discard(response), 5_000);
  giveUp.unref();
  response.once('data', () => discard(response));
  response.once('close', () => clearTimeout(giveUp));
  response.on('error', ignore);
  response.resume();
}

/**
 * Closes an answer's connection before its end. undici reports that as an error of the body
 * (`UND_ERR_ABORTED`), which no one reads any more: unheard, it would end the process.
 */
function discard(body: Readable): void {
  body.on('error', ignore);
  body.destroy();
}

function ignore(): void {}

/** One upstream call: its own abort, the caller's linked in, and the silence watchdog. */
class Call {
  readonly stop = new Abort();
  private timedOut = false;
  private answered = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onCallerAbort = () => this.stop.abort(this.caller?.reason);

  constructor(
    private readonly timeoutMs: number,
    private readonly caller: Abort | undefined,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.stop.abort();
    }, timeoutMs);
    if (caller?.aborted) this.stop.abort(caller.reason);
    else caller?.once('abort', this.onCallerAbort);
  }

  heard(): void {
    this.answered = true;
    this.timer.refresh();
  }

  end(): void {
    clearTimeout(this.timer);
    this.caller?.removeListener('abort', this.onCallerAbort);
  }

  /** What the caller should see for `error`: their own abort reason, or one of the typed upstream errors. */
  failure(error: unknown): unknown {
    if (this.caller?.aborted) return this.caller.reason;
    if (
      error instanceof UpstreamError ||
      error instanceof UpstreamConnectionError ||
      error instanceof UpstreamProtocolError
    ) {
      return error;
    }
    const beforeFirstByte = !this.answered;
    if (this.timedOut) return new UpstreamConnectionError(`upstream silent for ${this.timeoutMs} ms`, { beforeFirstByte });
    return new UpstreamConnectionError(`upstream connection failed: ${describe(error)}`, { cause: error, beforeFirstByte });
  }
}

export function retryAfterOf(headers: IncomingHttpHeaders): string | undefined {
  const value = headers['retry-after'];
  return typeof value === 'string' && /^[\w ,:.-]{1,64}$/.test(value) ? value : undefined;
}

function describe(error: unknown): string {
  const e = error as { code?: string; message?: string; cause?: { code?: string; message?: string } } | null;
  const source = e?.cause?.message ? e.cause : e;
  if (!source?.message) return String(error);
  return source.code && !source.message.includes(source.code) ? `${source.message} (${source.code})` : source.message;
}
