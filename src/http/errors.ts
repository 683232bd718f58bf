import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ErrorRequestHandler } from 'express';
import { TooManyResetRequests } from '../console/password-reset.js';
import { ConsoleUserConflict, EmailTaken, LinkInvalid, SignInRefused, SignUpClosed, TooManySignInAttempts } from '../console/sign-in.js';
import type { Logger } from 'pino';
import { z } from 'zod';
import { CoverLost, OutputLimitUnaffordable } from '../chat/chat-billing.js';
import { LeaseLapsed } from '../ledger/errors.js';
import {
  AccountNotFound,
  CaptureExceedsHold,
  HoldNotPending,
  IdempotencyConflict,
  InsufficientFunds,
  InvalidAmount,
  KeyLimitExceeded,
  formatUsd,
} from '../ledger/index.js';
import { nextPeriodStart } from '../keys/key-settings.js';
import { anthropicErrorBody, speaksAnthropic } from '../messages/anthropic-errors.js';
import { TooManyOpenDeposits } from '../payments/deposit-repository.js';
import { CustomDepositRefused } from '../support/custom-deposit.js';
import { SupportMoveRefused, TooManyOpenSupportRequests } from '../support/support-repository.js';
import { InvalidWebhookSignature } from '../payments/payment-gateway.js';
import { WebhookNotTaken } from '../payments/payment-webhook.js';
import {
  AmountNotOffered,
  CheckoutUnavailable,
  DepositKeyReused,
  DepositNotConfirmed,
  InvalidCryptoChoice,
  PaymentMethodUnavailable,
} from '../payments/deposit-starter.js';
import { WebhookUrlRefused } from '../alerts/webhook-url.js';
import { NoSavedCard } from '../payments/auto-topup.js';
import { CardNotDetached } from '../payments/card-removal.js';
import { UnsafeJson } from './input-guards.js';
import { rateLimitHeaders } from './rate-limit-headers.js';
import {
  ApiKeyNotFound,
  InvalidKeySettings,
  LastManagementKey,
  ManagementKeyRequired,
  ModelNotAllowed,
  RateLimitExceeded,
} from '../keys/errors.js';

/**
 * An error the API answers with, in OpenAI's shape: {"error":{"message","type","code","param"}}.
 * Domain errors stay typed values until here, where each maps to exactly one status.
 */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly type: string,
    readonly code: string | null,
    message: string,
    readonly param: string | null = null,
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
    this.name = 'ApiError';
  }

  body() {
    return { error: { message: this.message, type: this.type, code: this.code, param: this.param } };
  }
}

export const invalidRequest = (message: string, param: string | null = null, code: string | null = 'invalid_request') =>
  new ApiError(400, 'invalid_request_error', code, message, param);

/** What the JSON parser's refusal of a body (malformed, or not an object or array) is answered. */
export const invalidJson = () => invalidRequest('Request body is not valid JSON.', null, 'invalid_json');

export const unauthorized = (message: string) => new ApiError(401, 'invalid_request_error', 'invalid_api_key', message);

export const forbidden = (message: string) => new ApiError(403, 'permission_error', 'forbidden', message);

export const accountSuspended = (message: string) => new ApiError(403, 'permission_error', 'account_suspended', message);

export const notFound = (message: string, param: string | null = null) =>
  new ApiError(404, 'invalid_request_error', 'not_found', message, param);

export const payloadTooLarge = (limit?: number) =>
  new ApiError(413, 'invalid_request_error', 'request_too_large', `Request body is too large${limit ? ` (this endpoint accepts at most ${limit} bytes)` : ''}.`);

/** 429 for a per-account limit; `x-should-retry: false` because an SDK's quick retries cannot help. */
export const tooManyOpen = (message: string, code: string, retryAfterSeconds: number) =>
  new ApiError(429, 'rate_limit_error', code, message, null, { 'retry-after': String(retryAfterSeconds), 'x-should-retry': 'false' });

// A conflict is not resolved by sending the same request again; the official SDKs would retry it.
export const conflict = (message: string, code = 'conflict') =>
  new ApiError(409, 'invalid_request_error', code, message, null, { 'x-should-retry': 'false' });

/** The model is in the catalog but this install has no provider configured to serve it. */
export const modelUnavailable = (model: string) =>
  new ApiError(503, 'api_error', 'model_unavailable', `The model '${model}' is not available on this installation: no provider is configured for it. GET /v1/models lists what is.`, 'model', {
    'x-should-retry': 'false',
  });

export const insufficientFunds = (available: bigint, required?: bigint) =>
  new ApiError(
    402,
    'insufficient_funds',
    'insufficient_funds',
    `Insufficient funds: your available balance is $${formatUsd(available)}` +
      (required !== undefined ? ` and this request needs $${formatUsd(required)}` : '') +
      '. Add credit with POST /v1/billing/deposits or in the console (Add credit); your API key stays valid and works again as soon as the credit arrives.',
    null,
    // The official SDKs retry 409/429/5xx; an empty wallet is not worth retrying.
    { 'x-should-retry': 'false' },
  );

/** In OpenRouter's words, which agents already recognise and act on by lowering max_tokens. */
export const outputLimitUnaffordable = (requested: number, affordable: number) =>
  new ApiError(
    402,
    'insufficient_funds',
    'insufficient_funds',
    `This request requires more credits, or fewer max_tokens. You requested up to ${requested} tokens, but can only afford ${affordable}. Add credit with POST /v1/billing/deposits or lower max_tokens.`,
    'max_tokens',
    { 'x-should-retry': 'false' },
  );

/** The key's own limit, not the account's balance: the account's other keys keep working. */
export const keyLimitExceeded = (err: KeyLimitExceeded, now = new Date()) => {
  const resets = nextPeriodStart(err.reset, now);
  return new ApiError(
    402,
    'insufficient_funds',
    'key_limit_exceeded',
    `This API key has reached its ${err.reset ? `${err.reset} ` : ''}spend limit of $${formatUsd(err.limit)} ` +
      `($${formatUsd(err.used)} spent or reserved by requests in progress` +
      (resets ? ` this period); the limit resets at ${resets.toISOString()} (UTC).` : '); the limit does not reset.') +
      ' A management key can raise it with PATCH /v1/keys/{id}; the account\u2019s other keys are not affected.',
    null,
    { 'x-should-retry': 'false' },
  );
};

/** Turns a zod failure into a 400 naming the first offending field the way OpenAI does (`param`). */
export function fromZod(err: z.ZodError, where: 'body' | 'query' | 'params' = 'body'): ApiError {
  const issue = err.issues[0]!;
  const param = issue.path.length ? issue.path.join('.') : null;
  const prefix = param ? `Invalid '${param}'` : `Invalid request ${where}`;
  return invalidRequest(`${prefix}: ${issue.message}`, param, issue.code === 'unrecognized_keys' ? 'unknown_parameter' : 'invalid_value');
}

export function toApiError(err: unknown): ApiError | null {
  if (err instanceof ApiError) return err;
  const consoleError = consoleSignInError(err);
  if (consoleError) return consoleError;
  if (err instanceof InsufficientFunds) return insufficientFunds(err.available, err.required);
  if (err instanceof KeyLimitExceeded) return keyLimitExceeded(err);
  if (err instanceof OutputLimitUnaffordable) return outputLimitUnaffordable(err.requested, err.affordable);
  if (err instanceof CoverLost) {
    // A database crash lost its hold before it was flushed, or its process's allowance was released
    // after the lease lapsed and the balance no longer covers it: either way nothing was charged.
    return new ApiError(503, 'server_error', 'service_unavailable', 'The credit set aside for this request was lost while it was served (a database restart or a server stall); nothing was charged. Please retry.', null, {
      'retry-after': '2',
    });
  }
  if (err instanceof LeaseLapsed) {
    // This process stalled past its lease; it takes a new one, and a retry is served normally.
    return new ApiError(503, 'server_error', 'service_unavailable', 'This server is recovering from a stall; nothing was charged. Please retry.', null, {
      'retry-after': '1',
    });
  }
  if (err instanceof InvalidAmount) return invalidRequest(err.message, null, 'invalid_amount');
  if (err instanceof AccountNotFound) return notFound(err.message);
  if (err instanceof IdempotencyConflict) return conflict(err.message, 'idempotency_conflict');
  if (err instanceof HoldNotPending || err instanceof CaptureExceedsHold) return conflict(err.message, 'hold_not_pending');
  if (err instanceof z.ZodError) return fromZod(err);
  if (err instanceof PaymentMethodUnavailable) return invalidRequest(err.message, 'method', 'payment_method_unavailable');
  if (err instanceof AmountNotOffered) return invalidRequest(err.message, err.param, 'amount_not_offered');
  if (err instanceof InvalidCryptoChoice) return invalidRequest(err.message, err.param);
  if (err instanceof DepositKeyReused) return conflict(err.message, 'idempotency_conflict');
  if (err instanceof CheckoutUnavailable) {
    return new ApiError(502, 'api_error', 'payment_provider_unavailable', `${err.message} Deposit ${err.depositId} was not started; try again.`, null, {
      'x-should-retry': 'false',
    });
  }
  if (err instanceof DepositNotConfirmed) {
    return new ApiError(
      503,
      'api_error',
      'temporarily_unavailable',
      `Deposit ${err.depositId} could not be started right now. Repeat the request with the same Idempotency-Key to pick it up, or try again later.`,
      null,
      { 'retry-after': '5', 'x-should-retry': err.resumable ? 'true' : 'false' },
    );
  }
  if (err instanceof InvalidWebhookSignature) return new ApiError(400, 'invalid_request_error', 'invalid_signature', 'Webhook signature verification failed.');
  if (err instanceof WebhookNotTaken) return new ApiError(503, 'api_error', 'temporarily_unavailable', err.message, null, { 'retry-after': '5' });
  if (err instanceof TooManyOpenDeposits) return tooManyOpen(err.message, 'too_many_open_deposits', err.retryAfterSeconds);
  // Ops answer within a working day; an hour is an honest first hint.
  if (err instanceof TooManyOpenSupportRequests) return tooManyOpen(err.message, 'too_many_open_support_requests', 3600);
  if (err instanceof SupportMoveRefused) return conflict(err.message, 'support_status_conflict');
  if (err instanceof CustomDepositRefused) return err.conflict ? conflict(err.message, 'idempotency_conflict') : invalidRequest(err.message, err.param);
  // Thrown from the JSON parser's verify hook, which re-labels it 403: the code decides, not that status.
  if (err instanceof UnsafeJson) return invalidRequest(err.message, null, err.code);
  if (err instanceof NoSavedCard) return invalidRequest(err.message, null, 'no_saved_card');
  if (err instanceof CardNotDetached) {
    return new ApiError(502, 'api_error', 'payment_provider_unavailable', `${err.message} The card is still saved; nothing changed. Try again.`);
  }
  if (err instanceof WebhookUrlRefused) return invalidRequest(err.message, 'webhook_url', 'invalid_webhook_url');
  if (err instanceof ModelNotAllowed) return new ApiError(403, 'permission_error', 'model_not_allowed', err.message, 'model');
  if (err instanceof ManagementKeyRequired) return new ApiError(403, 'permission_error', 'permission_denied', err.message);
  if (err instanceof ApiKeyNotFound) return notFound(err.message, 'id');
  if (err instanceof LastManagementKey) return conflict(err.message, 'last_management_key');
  if (err instanceof InvalidKeySettings) return invalidRequest(err.message, err.param, 'invalid_value');
  if (err instanceof RateLimitExceeded) {
    return new ApiError(429, err.unit, 'rate_limit_exceeded', err.message, null, {
      'retry-after': String(Math.max(1, Math.ceil(err.resetMs / 1000))),
      ...rateLimitHeaders({ limit: err.limit, remaining: 0, resetMs: err.resetMs }, err.unit),
    });
  }
  if (isDependencyOutage(err)) {
    return new ApiError(503, 'server_error', 'service_unavailable', 'The service is briefly unavailable; nothing was changed. Please retry.', null, {
      'retry-after': '2',
    });
  }
  const e = err as { type?: string; status?: number; expose?: boolean; message?: string };
  // body-parser / multer errors carry a client status; their messages are safe to show.
  if (e?.type === 'entity.parse.failed') return invalidJson();
  if (e?.type === 'entity.too.large') return payloadTooLarge((err as { limit?: number }).limit);
  if (e?.expose && typeof e.status === 'number' && e.status >= 400 && e.status < 500) {
    return new ApiError(e.status, 'invalid_request_error', 'invalid_request', e.message ?? 'Invalid request.');
  }
  if ((err as { name?: string })?.name === 'MulterError') return invalidRequest(`Invalid multipart body: ${(err as Error).message}`);
  return null;
}

function consoleSignInError(err: unknown): ApiError | null {
  if (err instanceof SignInRefused) return new ApiError(401, 'invalid_request_error', 'invalid_credentials', err.message);
  if (err instanceof TooManySignInAttempts) {
    return new ApiError(429, 'rate_limit_error', 'too_many_sign_in_attempts', err.message, null, { 'retry-after': String(err.retryAfterSeconds) });
  }
  if (err instanceof TooManyResetRequests) {
    return new ApiError(429, 'rate_limit_error', 'too_many_reset_requests', err.message, null, { 'retry-after': String(err.retryAfterSeconds) });
  }
  if (err instanceof SignUpClosed) return new ApiError(403, 'permission_error', 'sign_up_closed', err.message);
  if (err instanceof EmailTaken) return conflict(err.message, 'email_taken');
  if (err instanceof LinkInvalid) return invalidRequest(err.message, 'token', 'invalid_link');
  if (err instanceof ConsoleUserConflict) return conflict(err.message, 'console_user_exists');
  return null;
}

function sendError(res: ServerResponse, err: ApiError, anthropic = false): void {
  for (const [k, v] of Object.entries(err.headers)) res.setHeader(k, v);
  const body = JSON.stringify(anthropic ? { ...anthropicErrorBody(err), request_id: res.getHeader('x-request-id') } : err.body());
  res.statusCode = err.status;
  res.setHeader('content-type', 'application/json; charset=utf-8');
  res.setHeader('content-length', Buffer.byteLength(body));
  res.end(body);
}

export function errorHandler(logger: Logger): ErrorRequestHandler {
  return (err, req, res, _next) => answerError(logger, err, req, res, req.originalUrl);
}

/**
 * Answers a request that failed with `err`, in the shape its API speaks; for the Express routes
 * (errorHandler) and the lean chat path (lean-chat.ts) alike, so both answer a failure the same way.
 */
export function answerError(logger: Logger, err: unknown, req: IncomingMessage, res: ServerResponse, url: string): void {
  // A refused request whose body was not read (unauthenticated, too large, unknown URL): close the
  // connection after answering instead of letting Node read and discard the rest of the body.
  if (!req.complete && !res.headersSent) res.setHeader('connection', 'close');
  const api = toApiError(err);
  // The Messages API's callers (Anthropic SDKs, Claude Code) read errors in Anthropic's shape.
  const anthropic = speaksAnthropic(url);
  if (api) {
    if (res.headersSent) return void res.end();
    return sendError(res, api, anthropic);
  }
  logger.error({ err, requestId: res.getHeader('x-request-id'), path: url.split('?')[0] }, 'unhandled error');
  if (res.headersSent) return void res.end();
  sendError(
    res,
    new ApiError(500, 'server_error', 'internal_error', `The server had an error processing your request (request id ${res.getHeader('x-request-id')}).`),
    anthropic,
  );
}

// SQLSTATE classes and codes that mean the database cannot be reached or is going away, not that
// the statement was wrong: 08 connection exception, 53300 too many connections, 57P01-57P03 shutdown.
const DB_OUTAGE_CODES = /^(08...|53300|57P0[123])$/;
const NET_OUTAGE_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'EHOSTUNREACH', 'ENOTFOUND']);
const PG_OUTAGE_MESSAGES =
  /(^| - )(Connection terminated|Client has encountered a connection error and is not queryable|timeout exceeded when trying to connect|timeout expired$|Query read timeout$)/;
// gRPC UNAVAILABLE and DEADLINE_EXCEEDED from the Temporal client.
const GRPC_OUTAGE_CODES = new Set([14, 4]);

/**
 * A dependency outage (PostgreSQL or Temporal unreachable) is the caller's to retry: 503 with
 * Retry-After, never a 500. Every write is one statement or an idempotent workflow step, so a
 * request cut off by an outage changed nothing or will be answered the same on retry.
 */
export function isDependencyOutage(err: unknown): boolean {
  const e = err as { code?: unknown; name?: string; message?: string; cause?: { code?: unknown } } | undefined;
  if (!e || typeof e !== 'object') return false;
  if (typeof e.code === 'string' && (DB_OUTAGE_CODES.test(e.code) || NET_OUTAGE_CODES.has(e.code))) return true;
  if (e.name === 'KnexTimeoutError') return true;
  // pg's own words, or knex's "<sql> - …" around them: the connection dropped under the statement, the
  // client saw that and refuses the next one (a transaction's ROLLBACK, found by the fault suite), the
  // pool could not connect in time, or a database that stopped answering (paused) let a connect or a
  // query run out its client-side timeout.
  if (typeof e.message === 'string' && PG_OUTAGE_MESSAGES.test(e.message)) return true;
  if (e.name === 'ConnectionError' || e.name === 'TransportError') return true;
  if (e.name === 'ServiceError' && typeof e.cause?.code === 'number' && GRPC_OUTAGE_CODES.has(e.cause.code)) return true;
  return false;
}
