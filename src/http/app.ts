import express, { type Express } from 'express';
import { newId } from '../ids.js';
import type { Services } from '../services.js';
import { requireApiKey } from './auth.js';
import { ApiError, errorHandler } from './errors.js';
import { openapi } from './openapi.js';
import { adminRoutes } from './routes/admin.js';
import { consoleRoutes } from './routes/console.js';
import { creditGrantRoutes } from './routes/credit-grants.js';
import { depositRoutes } from './routes/deposits.js';
import { healthRoutes } from './routes/health.js';
import { imageRoutes } from './routes/images.js';
import { videoRoutes } from './routes/videos.js';
import { supportRoutes } from './routes/support.js';
import { webhookRoutes } from './routes/webhooks.js';
import { chatRoutes } from './routes/chat.js';
import { modelRoutes } from './routes/models.js';
import { usageRoutes } from './routes/usage.js';
import { cors } from './cors.js';
import { sandboxRouters } from '../sandboxes/index.js';

/**
 * The front door. Order matters: request id and metrics first; webhooks get the raw body (their
 * signatures are over the exact bytes); everything under /v1 needs an API key.
 */
export function createApp(services: Services): Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('trust proxy', 'loopback');

  app.use((req, res, next) => {
    const requestId = newId('req');
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    const started = process.hrtime.bigint();
    res.on('finish', () => {
      const route = (req.route?.path as string | undefined) ?? 'unmatched';
      const seconds = Number(process.hrtime.bigint() - started) / 1e9;
      services.metrics.httpDuration.observe({ method: req.method, route: `${req.baseUrl}${route}`, status: String(res.statusCode) }, seconds);
    });
    next();
  });

  // Before authentication: a browser's preflight carries no key.
  if (services.config.corsOrigins.length > 0) app.use('/v1', cors(services.config.corsOrigins));
  app.use('/webhooks', express.raw({ type: () => true, limit: '1mb' }));
  // Sandboxes parse their own bodies; none is mounted in production unless SANDBOXES=1.
  for (const { path, router } of sandboxRouters(services.sandboxes)) app.use(path, router);
  app.use(express.json({ limit: '20mb' }));
  app.use(express.urlencoded({ extended: false, limit: '1mb' }));

  app.use(healthRoutes(services));
  app.use(consoleRoutes(services));
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi.document(services.config.publicUrl));
  });
  app.use(adminRoutes(services));
  app.use(webhookRoutes(services));

  // Public routes without an API key (webhooks, sandbox providers, console) mount above this line.
  app.use('/v1', requireApiKey(services));
  app.use(creditGrantRoutes(services));
  app.use(depositRoutes(services));
  app.use(supportRoutes(services));
  app.use(chatRoutes(services));
  app.use(modelRoutes(services));
  app.use(usageRoutes(services));
  app.use(imageRoutes(services));
  app.use(videoRoutes(services));

  app.use((req, _res, next) => {
    next(new ApiError(404, 'invalid_request_error', 'unknown_url', `Unknown request URL: ${req.method} ${req.path}.`));
  });
  app.use(errorHandler(services.logger));
  return app;
}
