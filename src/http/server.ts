import { createServer as createHttpServer, type Server } from 'node:http';
import type { Services } from '../services.js';
import { createApp } from './app.js';
import { leanChat } from './lean-chat.js';
import { chatServing } from './routes/chat.js';

/**
 * The API's HTTP server: the lean chat path takes the hot path's common case, Express serves the
 * rest (app.ts). Both share one chat serving, so one request log batches every chat row.
 */
export function createServer(services: Services): Server {
  const serving = chatServing(services);
  const app = createApp(services, serving);
  const lean = leanChat(services, serving);
  return createHttpServer((req, res) => {
    if (!lean(req, res)) app(req, res);
  });
}
