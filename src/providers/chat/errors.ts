import type { OpenAIErrorBody } from './types.js';

/** The upstream answered with an HTTP error (or an error event inside a stream). */
export class UpstreamError extends Error {
  readonly name = 'UpstreamError';
  constructor(
    readonly status: number,
    readonly body: OpenAIErrorBody,
    /** The upstream's `retry-after` header, passed on to the caller when it answered 429. */
    readonly retryAfter?: string,
  ) {
    super(`upstream answered ${status}: ${body.error.message}`);
  }
}

/** The upstream could not be reached, timed out, or dropped the connection before finishing. */
export class UpstreamConnectionError extends Error {
  readonly name = 'UpstreamConnectionError';
  constructor(
    message: string,
    options?: ErrorOptions & {
      /** False once the upstream had started answering: it may have done (and billed) the work. */
      beforeFirstByte?: boolean;
    },
  ) {
    super(message, options);
    this.beforeFirstByte = options?.beforeFirstByte ?? true;
  }
  readonly beforeFirstByte: boolean;
}

/** The upstream answered 2xx with something that is not an OpenAI chat completion. */
export class UpstreamProtocolError extends Error {
  readonly name = 'UpstreamProtocolError';
}

const MAX_MESSAGE_CHARS = 2000;

function defaultErrorType(status: number): string {
  if (status === 400 || status === 422) return 'invalid_request_error';
  if (status === 401) return 'authentication_error';
  if (status === 403) return 'permission_error';
  if (status === 404) return 'not_found_error';
  if (status === 429) return 'rate_limit_error';
  if (status >= 500) return 'api_error';
  return 'invalid_request_error';
}

/** A short non-JSON body (e.g. "Bad Gateway") is worth showing; an HTML error page is not. */
function plainText(raw: string): string | null {
  const text = raw.trim();
  return text && text.length <= 200 && !text.startsWith('<') ? text : null;
}

const asText = (value: unknown): string | null =>
  typeof value === 'string' ? value : typeof value === 'number' ? String(value) : null;

/**
 * OpenAI-compatible servers disagree on error bodies: OpenAI nests `{error:{…}}`, vLLM puts the
 * fields at the top level, Ollama sends `{error:"text"}`, proxies send HTML. Clients of ours only
 * ever see OpenAI's shape. `secrets` are scrubbed because some upstreams echo the key they rejected.
 */
export function normalizeUpstreamErrorBody(status: number, raw: string, secrets: string[] = []): OpenAIErrorBody {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const outer = parsed !== null && typeof parsed === 'object' ? (parsed as Record<string, unknown>) : undefined;
  const inner =
    outer?.error !== null && typeof outer?.error === 'object' ? (outer.error as Record<string, unknown>) : outer;

  let message =
    asText(inner?.message) ??
    asText(outer?.error) ??
    asText(outer?.detail) ??
    (outer ? null : plainText(raw)) ??
    `upstream answered HTTP ${status}`;
  for (const secret of secrets) {
    if (secret) message = message.split(secret).join('[redacted]');
  }
  if (message.length > MAX_MESSAGE_CHARS) message = `${message.slice(0, MAX_MESSAGE_CHARS)}…`;

  return {
    error: {
      message,
      type: asText(inner?.type) ?? defaultErrorType(status),
      code: asText(inner?.code),
      param: asText(inner?.param),
    },
  };
}
