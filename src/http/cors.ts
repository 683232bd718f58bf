import type { RequestHandler } from 'express';

/** Headers a browser app may read from our answers (the SDKs' and our own billing headers). */
const EXPOSED = ['x-request-id', 'x-request-cost-usd', 'x-max-tokens-cap', 'x-should-retry', 'retry-after'].join(', ');

/**
 * CORS for browser apps that call the API with a key, from the origins in `CORS_ORIGINS` only
 * (`*` for any). Keys travel in the Authorization header, never in cookies, so credentials are not
 * allowed and a listed origin can do nothing a script holding the key could not do anyway.
 */
export function cors(origins: readonly string[]): RequestHandler {
  const any = origins.includes('*');
  const allowed = new Set(origins);
  return (req, res, next) => {
    const origin = req.headers.origin;
    if (!origin || (!any && !allowed.has(origin))) return next();
    res.setHeader('access-control-allow-origin', any ? '*' : origin);
    res.append('vary', 'Origin');
    res.setHeader('access-control-expose-headers', EXPOSED);
    if (req.method !== 'OPTIONS' || !req.headers['access-control-request-method']) return next();
    res.setHeader('access-control-allow-methods', 'GET, POST, PATCH, DELETE, OPTIONS');
    const asked = req.headers['access-control-request-headers'];
    res.setHeader('access-control-allow-headers', typeof asked === 'string' && asked ? asked : 'authorization, content-type');
    res.setHeader('access-control-max-age', '600');
    res.status(204).end();
  };
}
