import express, { type Express } from 'express';
import { newId } from '../ids.js';
import type { Services } from '../services.js';
import { requireAdmin, requireApiKey } from './auth.js';
import { enforceKeyLimits } from './key-limits.js';
import { ApiError, errorHandler } from './errors.js';
import { refuseNulInUrl } from './input-guards.js';
import { openapi } from './openapi.js';
import { timeRequest } from './metrics.js';
import { parseBodies } from './request-body.js';
import { adminRoutes } from './routes/admin.js';
import { adminReversalRoutes } from './routes/admin-reversals.js';
import { consoleRoutes } from './routes/console.js';
import { consoleSignInRoutes } from './routes/console-sign-in.js';
import { creditGrantRoutes } from './routes/credit-grants.js';
import { depositRoutes } from './routes/deposits.js';
import { healthRoutes } from './routes/health.js';
import { imageRoutes } from './routes/images.js';
import { videoRoutes } from './routes/videos.js';
import { signedAssetRoutes } from './routes/signed-assets.js';
import { supportRoutes } from './routes/support.js';
import { webhookRoutes } from './routes/webhooks.js';
import { messageRoutes } from './routes/messages.js';
import { chatRoutes, chatServing, type ChatServing } from './routes/chat.js';
import { embeddingRoutes } from './routes/embeddings.js';
import { responsesRoutes } from './routes/responses.js';
import { modelRoutes } from './routes/models.js';
import { usageRoutes } from './routes/usage.js';
import { cors } from './cors.js';
import { keyRoutes } from './routes/keys.js';
import { billingAlertRoutes } from './routes/billing-alerts.js';
import { paymentMethodRoutes } from './routes/payment-method.js';
import { autoTopupRoutes } from './routes/auto-topup.js';
import { sandboxRouters } from '../sandboxes/index.js';

/**
 * The front door. Order matters: request id and metrics first; webhooks get the raw body (their
 * signatures are over the exact bytes); everything under /v1 needs an API key and everything under
 * /admin the admin token, and their bodies are parsed only after that check passed, within each
 * route's size limit (request-body.ts). No body is parsed for a caller we do not know.
 */
export function createApp(services: Services, serving: ChatServing = chatServing(services)): Express {
  const app = express();
  app.disable('x-powered-by');
  // Whose X-Forwarded-For to believe (TRUST_PROXY): req.ip is then the client behind them, and a
  // client that is not behind a trusted proxy cannot claim another address with that header.
  app.set('trust proxy', services.config.trustProxy);

  app.use((req, res, next) => {
    const requestId = newId('req');
    res.locals.requestId = requestId;
    res.setHeader('x-request-id', requestId);
    timeRequest(services.metrics, req.method, res, () => `${req.baseUrl}${(req.route?.path as string | undefined) ?? 'unmatched'}`);
    next();
  });

  app.use(refuseNulInUrl);
  // Before authentication: a browser's preflight carries no key.
  if (services.config.corsOrigins.length > 0) app.use('/v1', cors(services.config.corsOrigins));
  const bodies = parseBodies();
  const keyChecks = [requireApiKey(services), enforceKeyLimits(services), bodies];
  // The paid chat endpoints are the gateway's hot path: their POSTs are routed here, before the
  // other routers, which they would otherwise each walk (BENCHMARKS.md, chat, lean routing).
  // Their other methods and paths (count_tokens, GET /v1/responses/{id}) are served below.
  const chat = chatRoutes(services, serving);
  const messages = messageRoutes(services, serving);
  const responses = responsesRoutes(services, serving);
  for (const path of ['/v1/chat/completions', '/v1/messages', '/v1/responses']) app.post(path, ...keyChecks, chat, messages, responses);
  app.use('/webhooks', express.raw({ type: () => true, limit: '1mb' }));
  // Sandboxes parse their own bodies; none is mounted in production unless SANDBOXES=1.
  for (const { path, router } of sandboxRouters(services.sandboxes)) app.use(path, router);

  app.use(healthRoutes(services));
  app.use(consoleRoutes(services));
  app.get('/openapi.json', (_req, res) => {
    res.json(openapi.document(services.config.publicUrl));
  });
  app.use('/admin', requireAdmin(services), bodies);
  app.use(adminRoutes(services));
  app.use(adminReversalRoutes(services));
  // The console's own API: sign-in is public by nature; its bodies are small and parsed here.
  app.use('/console/api', bodies);
  app.use(consoleSignInRoutes(services));
  app.use(webhookRoutes(services));
  app.use(signedAssetRoutes(services));

  // Public routes without an API key (webhooks, sandbox providers, console) mount above this line.
  // Authenticate, then count the request against its key's rate limit, before reading any body.
  app.use('/v1', ...keyChecks);
  app.use(creditGrantRoutes(services));
  app.use(depositRoutes(services));
  app.use(supportRoutes(services));
  app.use(chat);
  app.use(messages);
  app.use(embeddingRoutes(services));
  app.use(responses);
  app.use(modelRoutes(services));
  app.use(usageRoutes(services));
  app.use(keyRoutes(services));
  app.use(billingAlertRoutes(services));
  app.use(paymentMethodRoutes(services));
  app.use(autoTopupRoutes(services));
  app.use(imageRoutes(services));
  app.use(videoRoutes(services));

  app.use((req, _res, next) => {
    next(new ApiError(404, 'invalid_request_error', 'unknown_url', `Unknown request URL: ${req.method} ${req.path}.`));
  });
  app.use(errorHandler(services.logger));
  return app;
}
