import { readFileSync } from 'node:fs';
import { Router } from 'express';
import type { Services } from '../../services.js';

const page = readFileSync(new URL('../../console/index.html', import.meta.url), 'utf8');

/**
 * The web console: a static page over the public API. It links nowhere into Temporal: the Web UI
 * and workflow ids are for ops (the admin API), never for customers.
 */
export function consoleRoutes(_services: Services): Router {
  const router = Router();
  router.get('/', (_req, res) => {
    res.setHeader('content-security-policy', "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; connect-src 'self'");
    res.type('html').send(page);
  });
  return router;
}
