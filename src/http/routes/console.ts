import fs from 'node:fs';
import path from 'node:path';
import express, { Router } from 'express';
import { CONSOLE_BUNDLE } from '../../console/bundle.js';
import type { Services } from '../../services.js';

/** Scripts and styles come from our own files only (the bundle has no inline code). */
const CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; media-src 'self' blob:; connect-src 'self'; frame-ancestors 'none'";

/**
 * The web console: the Vite bundle (src/console/bundle.ts) over the public API. It links nowhere
 * into Temporal: the Web UI and workflow ids are for ops (the admin API), never for customers.
 */
export function consoleRoutes(_services: Services): Router {
  const router = Router();
  const index = path.join(CONSOLE_BUNDLE, 'index.html');
  router.get('/', (_req, res) => {
    res.setHeader('content-security-policy', CSP);
    // Read per request: the file is small, and a rebuilt bundle is served without a restart.
    if (!fs.existsSync(index)) {
      res.status(503).type('text').send('The console is not built: run `npm run build:console` (README "Console").');
      return;
    }
    res.setHeader('cache-control', 'no-cache');
    res.type('html').send(fs.readFileSync(index, 'utf8'));
  });
  // Hashed file names: a new build has new names, so these may be cached for good.
  router.use('/assets', express.static(path.join(CONSOLE_BUNDLE, 'assets'), { immutable: true, maxAge: '1y', index: false }));
  return router;
}
