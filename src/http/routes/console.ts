import { readFileSync } from 'node:fs';
import { Router } from 'express';
import type { Services } from '../../services.js';

const page = readFileSync(new URL('../../console/index.html', import.meta.url), 'utf8');

/** The web console: a static page over the public API, plus where the Temporal UI lives for deep links. */
export function consoleRoutes(services: Services): Router {
  const router = Router();
  router.get('/', (_req, res) => {
    res.setHeader('content-security-policy', "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline'; connect-src 'self'");
    res.type('html').send(page);
  });
  router.get('/console/config.json', (_req, res) => {
    res.json({ temporal_ui_url: services.temporal.uiUrl ?? null, namespace: services.temporal.namespace });
  });
  return router;
}
