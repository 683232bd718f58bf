import { UpstreamConnectionError, UpstreamError, UpstreamProtocolError, normalizeUpstreamErrorBody } from './errors.js';
import { SSE_DONE, readSseEvents } from './sse.js';
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
  /** Aborting closes the upstream connection; the call then rejects with the signal's reason. */
  signal?: AbortSignal;
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

const DEFAULT_TIMEOUT_MS = 600_000;

/**
 * The adapter for any OpenAI-compatible chat server. Requests are sent once: a chat completion is
 * not idempotent upstream (it is billed there), so a failure is reported, never retried.
 */
export function createChatUpstream(options: ChatUpstreamOptions): ChatUpstream {
  const endpoint = `${new URL(options.baseUrl).href.replace(/\/+$/, '')}/chat/completions`;
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const secrets = options.apiKey ? [options.apiKey] : [];

  function headers(accept: string, requestId: string | undefined): Record<string, string> {
    const result: Record<string, string> = { 'content-type': 'application/json', accept };
    if (options.apiKey) result.authorization = `Bearer ${options.apiKey}`;
    if (requestId) result['x-client-request-id'] = requestId;
    return result;
  }

  async function post(body: unknown, accept: string, call: UpstreamCallOptions, link: Call): Promise<Response> {
    let response: Response;
    try {
      response = await fetch(endpoint, {
        method: 'POST',
        headers: headers(accept, call.requestId),
        body: JSON.stringify(body),
        signal: link.controller.signal,
      });
    } catch (error) {
      throw link.failure(error);
    }
    if (!response.ok) {
      const raw = await response.text().catch(() => '');
      throw new UpstreamError(response.status, normalizeUpstreamErrorBody(response.status, raw, secrets));
    }
    return response;
  }

  return {
    async complete(request, call = {}) {
      const { stream_options: _ignored, ...rest } = request;
      const link = new Call(timeoutMs, call.signal);
      try {
        const response = await post({ ...rest, stream: false }, 'application/json', call, link);
        const raw = await response.text();
        let parsed: unknown;
        try {
          parsed = JSON.parse(raw);
        } catch {
          throw new UpstreamProtocolError('upstream answered with a body that is not JSON');
        }
        if (!isCompletion(parsed)) throw new UpstreamProtocolError('upstream answer has no choices array');
        return parsed;
      } catch (error) {
        throw link.failure(error);
      } finally {
        link.end();
      }
    },

    async stream(request, call = {}) {
      const body = {
        ...request,
        stream: true,
        // We bill from the upstream's own count, so we always ask for it, whatever the client asked.
        stream_options: { ...(request.stream_options ?? {}), include_usage: true },
      };
      const link = new Call(timeoutMs, call.signal);
      let response: Response;
      try {
        response = await post(body, 'text/event-stream', call, link);
        if (response.headers.get('content-type')?.includes('application/json')) {
          await response.body?.cancel();
          throw new UpstreamProtocolError('upstream answered a streaming request with plain JSON');
        }
        if (!response.body) throw new UpstreamProtocolError('upstream stream has no body');
      } catch (error) {
        link.end();
        throw link.failure(error);
      }
      return chunks(response.body, link, secrets);
    },
  };
}

function isCompletion(value: unknown): value is ChatCompletion {
  return value !== null && typeof value === 'object' && Array.isArray((value as ChatCompletion).choices);
}

async function* chunks(
  body: ReadableStream<Uint8Array>,
  link: Call,
  secrets: string[],
): AsyncGenerator<ChatCompletionChunk> {
  const reader = body.getReader();
  const bytes = {
    async *[Symbol.asyncIterator]() {
      for (;;) {
        const { done, value } = await reader.read();
        if (done) return;
        link.heard();
        yield value;
      }
    },
  };
  let complete = false;
  try {
    for await (const event of readSseEvents(bytes)) {
      if (event.data === SSE_DONE) {
        complete = true;
        break;
      }
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
      yield payload as ChatCompletionChunk;
    }
    if (!complete) throw new UpstreamConnectionError('upstream closed the stream before [DONE]');
    releaseAfterDone(reader);
  } catch (error) {
    throw link.failure(error);
  } finally {
    if (!complete) link.controller.abort();
    link.end();
  }
}

/**
 * After `[DONE]` only the end of the HTTP body should follow. Reading it lets the keep-alive
 * connection carry the next request; the caller is not kept waiting for it, and a server that keeps
 * talking (or never ends the body) gets its connection closed.
 */
function releaseAfterDone(reader: ReadableStreamDefaultReader<Uint8Array>): void {
  const giveUp = setTimeout(() => void reader.cancel().catch(() => {}), 5_000);
  giveUp.unref();
  reader
    .read()
    .then(({ done }) => (done ? undefined : reader.cancel()))
    .catch(() => {})
    .finally(() => clearTimeout(giveUp));
}

/** One upstream call: its abort controller, the caller's signal linked in, and the silence watchdog. */
class Call {
  readonly controller = new AbortController();
  private timedOut = false;
  private readonly timer: NodeJS.Timeout;
  private readonly onCallerAbort = () => this.controller.abort(this.caller?.reason);

  constructor(
    private readonly timeoutMs: number,
    private readonly caller: AbortSignal | undefined,
  ) {
    this.timer = setTimeout(() => {
      this.timedOut = true;
      this.controller.abort();
    }, timeoutMs);
    if (caller?.aborted) this.controller.abort(caller.reason);
    else caller?.addEventListener('abort', this.onCallerAbort, { once: true });
  }

  heard(): void {
    this.timer.refresh();
  }

  end(): void {
    clearTimeout(this.timer);
    this.caller?.removeEventListener('abort', this.onCallerAbort);
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
    if (this.timedOut) return new UpstreamConnectionError(`upstream silent for ${this.timeoutMs} ms`);
    return new UpstreamConnectionError(`upstream connection failed: ${describe(error)}`, { cause: error });
  }
}

function describe(error: unknown): string {
  const cause = (error as { cause?: { code?: string; message?: string } } | null)?.cause;
  if (cause?.message) return cause.code ? `${cause.message} (${cause.code})` : cause.message;
  return error instanceof Error ? error.message : String(error);
}
