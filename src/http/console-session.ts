import { createHash, timingSafeEqual } from 'node:crypto';
import type { Request, RequestHandler, Response } from 'express';
import type { ConsoleSession } from '../console/console-users.js';
import type { Services } from '../services.js';
import { ApiError, forbidden, unauthorized } from './errors.js';

/**
 * The console's session on the HTTP side. The cookie is httpOnly (no script reads it), SameSite=Strict
 * (no other site's page sends it) and Secure over https; a state-changing request must also carry the
 * session's CSRF token in `x-csrf-token` and, when the browser sends one, our own Origin. Browsers
 * never hold an API key.
 */
export const SESSION_COOKIE = 'cheapa_session';
const UNSAFE = new Set(['POST', 'PUT', 'PATCH', 'DELETE']);

export function sessionToken(req: Request): string | null {
  const header = req.headers.cookie;
  if (!header) return null;
  for (const part of header.split(';')) {
    const [name, ...value] = part.trim().split('=');
    if (name !== SESSION_COOKIE) continue;
    try {
      return decodeURIComponent(value.join('=')) || null;
    } catch {
      // Not percent-encoding we ever wrote (a cookie from elsewhere, or a fuzzer's): no session.
      return null;
    }
  }
  return null;
}

export function setSessionCookie(res: Response, services: Services, token: string, expiresAt: Date) {
  res.cookie(SESSION_COOKIE, token, {
    httpOnly: true,
    sameSite: 'strict',
    secure: services.config.console.secureCookies,
    path: '/',
    expires: expiresAt,
  });
}

export function clearSessionCookie(res: Response, services: Services) {
  res.clearCookie(SESSION_COOKIE, { httpOnly: true, sameSite: 'strict', secure: services.config.console.secureCookies, path: '/' });
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function assertSameOriginRequest(req: Request, services: Services, session: ConsoleSession) {
  if (!UNSAFE.has(req.method)) return;
  const origin = req.headers.origin;
  if (origin && origin !== new URL(services.config.publicUrl).origin) {
    throw forbidden('Cross-origin console requests are refused.');
  }
  const sent = req.headers['x-csrf-token'];
  if (typeof sent !== 'string' || !timingSafeEqual(digest(sent), digest(session.csrfToken))) {
    throw new ApiError(403, 'permission_error', 'csrf_token_invalid', 'Missing or stale x-csrf-token header: reload the console.');
  }
}

/** The signed-in session, CSRF-checked for state-changing requests; null when there is no cookie. */
export async function consoleSession(req: Request, services: Services): Promise<ConsoleSession | null> {
  const token = sessionToken(req);
  if (!token) return null;
  const session = await services.console.users.session(token);
  if (!session) throw unauthorized('Your console session has ended: sign in again.');
  assertSameOriginRequest(req, services, session);
  return session;
}

/**
 * Sign-in, sign-up and link redemption start sessions, so no CSRF token exists yet: they accept only
 * JSON (which another site's form cannot send without a CORS preflight we never grant) and refuse
 * another site's Origin, so no page elsewhere can sign a visitor into an account of its choosing.
 */
export function refuseCrossSite(services: Services): RequestHandler {
  const ours = new URL(services.config.publicUrl).origin;
  return (req, _res, next) => {
    if (!UNSAFE.has(req.method)) return next();
    const origin = req.headers.origin;
    if (origin && origin !== ours) throw forbidden('Cross-origin console requests are refused.');
    const hasBody = Number(req.headers['content-length'] ?? 0) > 0 || req.headers['transfer-encoding'] !== undefined;
    if (hasBody && !req.is('application/json')) {
      throw new ApiError(415, 'invalid_request_error', 'unsupported_media_type', 'The console API accepts application/json only.');
    }
    next();
  };
}

/** Console API routes that need a signed-in person. */
export function requireConsoleSession(services: Services): RequestHandler {
  return async (req, res, next) => {
    const session = await consoleSession(req, services);
    if (!session) throw unauthorized('Sign in to the console first.');
    res.locals.consoleSession = session;
    next();
  };
}

export function consoleSessionOf(res: Response): ConsoleSession {
  const session = res.locals.consoleSession as ConsoleSession | undefined;
  if (!session) throw new Error('route is missing the console session middleware');
  return session;
}
