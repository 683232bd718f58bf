import type { ServerResponse } from 'node:http';
import type { RequestHandler } from 'express';
import type { Services } from '../services.js';
import { keyOf, type AuthContext } from './auth.js';
import { setRateLimitHeaders } from './rate-limit-headers.js';

/**
 * Runs after the API key is known, before any route: notes the key's use and counts the request
 * against its requests and tokens per minute (429 rate_limit_exceeded over either; OpenAI's
 * x-ratelimit-* headers on every answer of a key with a limit), in one statement. A key without
 * `rpm` or `tpm` costs no database write.
 */
export function enforceKeyLimits(services: Services): RequestHandler {
  return async (_req, res, next) => {
    const auth = keyOf(res);
    // A console session (read-mostly endpoints, console-access.ts) is not a key and has no key limits.
    if (auth) await applyKeyLimits(services, auth, res);
    next();
  };
}

export async function applyKeyLimits(services: Services, { key }: AuthContext, res: ServerResponse): Promise<void> {
  services.keys.lastUsed.touch(key.id);
  if (key.rpm !== null || key.tpm !== null) setRateLimitHeaders(res, await services.keys.rateLimiter.take(key.id, key));
}
