import { timingSafeEqual, createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';
import type { RequestHandler, Response } from 'express';
import { looksLikeApiKey } from '../accounts/api-key.js';
import type { ApiKeyRecord } from '../accounts/repository.js';
import type { KeyManager } from '../keys/key-management.js';
import { isExpired } from '../keys/key-settings.js';
import type { Services } from '../services.js';
import { speaksAnthropic } from '../messages/anthropic-errors.js';
import { suspensionMessage } from '../accounts/suspension.js';
import { consoleMayCall } from './console-access.js';
import { consoleSession, sessionToken } from './console-session.js';
import { accountSuspended, forbidden, unauthorized } from './errors.js';

export interface AuthContext {
  accountId: string;
  apiKeyId: string;
  /** The calling key with its settings (allow-list, limits), as resolved for this request. */
  key: ApiKeyRecord;
}

export function authOf(res: Response): AuthContext {
  const auth = res.locals.auth as AuthContext | undefined;
  if (!auth) throw new Error('route is missing the API key middleware');
  return auth;
}

/** A signed-in console customer calling one of the endpoints console-access.ts opens to sessions. */
export interface ConsoleCaller {
  accountId: string;
  consoleUserId: string;
}

/** The account a request acts for, whether it came with an API key or a console session. */
export function accountOf(res: Response): string {
  const auth = res.locals.auth as AuthContext | undefined;
  const caller = res.locals.consoleCaller as ConsoleCaller | undefined;
  const accountId = auth?.accountId ?? caller?.accountId;
  if (!accountId) throw new Error('route is missing the API key middleware');
  return accountId;
}

/** Who manages the account's keys on this request: the calling key, or the signed-in account person. */
export function keyManagerOf(res: Response): KeyManager {
  const auth = res.locals.auth as AuthContext | undefined;
  if (auth) return auth.key;
  return { accountId: accountOf(res), manage: true };
}

/** The calling key, or null for a console session. */
export function keyOf(res: Response): AuthContext | null {
  return (res.locals.auth as AuthContext | undefined) ?? null;
}

function bearer(header: string | undefined): string | null {
  if (!header) return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m ? m[1]! : '';
}

/** The key a request was sent with: null when it has none, '' when its Authorization header is malformed. */
export function apiKeyToken(headers: IncomingHttpHeaders, anthropic: boolean): string | null {
  // Anthropic's SDKs and Claude Code send the key as x-api-key; only their endpoints take it.
  const apiKeyHeader = anthropic ? headers['x-api-key'] : undefined;
  return bearer(headers.authorization) ?? (typeof apiKeyHeader === 'string' ? apiKeyHeader.trim() : null);
}

/** 401 for a missing, malformed, unknown or revoked key; the message never echoes the key. */
export function requireApiKey(services: Services): RequestHandler {
  return async (req, res, next) => {
    const anthropic = speaksAnthropic(req.originalUrl);
    const token = apiKeyToken(req.headers, anthropic);
    if (token === null && sessionToken(req) && consoleMayCall(req.method, req.baseUrl + req.path)) {
      const session = await consoleSession(req, services);
      if (!session?.user.accountId) throw forbidden('This console sign-in has no customer account.');
      res.locals.consoleCaller = { accountId: session.user.accountId, consoleUserId: session.user.id } satisfies ConsoleCaller;
      return next();
    }
    if (token === null) {
      throw unauthorized(
        anthropic
          ? "You didn't provide an API key. Send it as 'x-api-key: YOUR_API_KEY' or 'Authorization: Bearer YOUR_API_KEY'."
          : "You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_API_KEY'.",
      );
    }
    res.locals.auth = await apiKeyAuth(services, token);
    next();
  };
}

/** The key behind a token that was sent ('' for a malformed Authorization header); 401 or 403 when it may not call. */
export async function apiKeyAuth(services: Services, token: string): Promise<AuthContext> {
  if (!token) throw unauthorized("Malformed Authorization header. Use 'Authorization: Bearer YOUR_API_KEY'.");
  const record = await services.apiKeys.resolve(token);
  if (!record) throw unauthorized('Incorrect API key provided. You can find your API keys in the console.');
  if (record.revokedAt) throw unauthorized(`API key ${record.prefix}… has been revoked.`);
  if (isExpired(record, new Date())) throw unauthorized(`API key ${record.prefix}… expired at ${record.expiresAt!.toISOString()}.`);
  if (record.accountSuspended) throw accountSuspended(suspensionMessage(services.config.support.email));
  return { accountId: record.accountId, apiKeyId: record.id, key: record };
}

const digest = (s: string) => createHash('sha256').update(s).digest();

/**
 * Admin routes take the ADMIN_TOKEN, or an operator's console session (the ops view); a customer
 * key is recognised and refused with 403.
 */
export function requireAdmin(services: Services): RequestHandler {
  const expected = digest(services.adminToken);
  return async (req, _res, next) => {
    const token = bearer(req.headers.authorization);
    if (token === null && sessionToken(req)) {
      const session = await consoleSession(req, services);
      if (session?.user.role !== 'ops') throw forbidden('The admin API is for operators.');
      return next();
    }
    if (!token) throw unauthorized('Admin token required: Authorization: Bearer $ADMIN_TOKEN.');
    if (timingSafeEqual(digest(token), expected)) return next();
    if (looksLikeApiKey(token)) throw forbidden('API keys cannot use admin endpoints.');
    throw unauthorized('Invalid admin token.');
  };
}
