import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from 'node:http';
import { newId } from '../ids.js';
import { speaksAnthropic } from '../messages/anthropic-errors.js';
import type { Services } from '../services.js';
import { apiKeyAuth, apiKeyToken } from './auth.js';
import { answerError } from './errors.js';
import { applyKeyLimits } from './key-limits.js';
import { timeRequest } from './metrics.js';
import { bodyLimitFor, readJson } from './request-body.js';
import { chatCompletions, type ChatCaller, type ChatServing } from './routes/chat.js';
import { createMessage } from './routes/messages.js';
import { createResponse } from './routes/responses.js';

/**
 * The paid hot path on bare node:http: the three endpoints that sell chat (`POST /v1/chat/completions`,
 * Anthropic's `/v1/messages`, OpenAI's `/v1/responses`) with a key and a UTF-8 JSON body, which is
 * nearly every chat request. Express cost it about a fifth of the gateway's CPU per request (its
 * prototype swaps, the router's walk, body-parser's layers: BENCHMARKS.md, "A lean chat path"), so
 * this takes the request before Express sees it and runs the steps Express would, in its order and
 * with its modules: request id and timing, the key check, the key's limits, the body within its
 * limit, then the one handler both paths share. Every other
 * request, these endpoints' unusual ones included (no key, a form or compressed body, a browser's
 * origin when CORS is on, a trailing slash), is left to Express, which answers it as before.
 */

const CHAT = '/v1/chat/completions';
const MESSAGES = '/v1/messages';
const RESPONSES = '/v1/responses';
const PATHS: readonly string[] = [CHAT, MESSAGES, RESPONSES];

/** Whether the lean path serves this request: decided from its request line and headers alone. */
export function takesLean(method: string | undefined, url: string | undefined, headers: IncomingHttpHeaders, corsOn: boolean): boolean {
  return leanKey(method, url, headers, corsOn) !== null;
}

/** The key of a request the lean path serves (read once, for the decision and for the check); null for any other. */
function leanKey(method: string | undefined, url: string | undefined, headers: IncomingHttpHeaders, corsOn: boolean): string | null {
  if (method !== 'POST' || url === undefined || !PATHS.includes(url)) return null;
  // No key: Express tells a console session from a caller who forgot the key.
  const token = apiKeyToken(headers, speaksAnthropic(url));
  if (token === null) return null;
  // A browser's request needs the CORS headers, which Express's cors middleware alone sets.
  if (corsOn && headers.origin !== undefined) return null;
  const encoding = headers['content-encoding'];
  if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return null;
  return isUtf8Json(headers['content-type']) ? token : null;
}

/** `application/json`, with no charset or UTF-8's: what readJson decodes exactly as body-parser does. */
function isUtf8Json(contentType: string | undefined): boolean {
  if (!contentType) return false;
  // What nearly every client sends, decided without splitting it.
  if (contentType === 'application/json') return true;
  const [type, ...params] = contentType.split(';');
  if (type!.trim().toLowerCase() !== 'application/json') return false;
  return params.every((p) => /^\s*charset\s*=\s*"?utf-8"?\s*$/i.test(p));
}

/** What serves one endpoint: its body limit and its handler. */
interface LeanRoute {
  limit: number;
  handle(body: unknown, caller: ChatCaller, req: IncomingMessage, res: ServerResponse): Promise<void>;
}

/** A request listener that serves what takesLean accepts and returns false for everything else. */
export function leanChat(services: Services, serving: ChatServing): (req: IncomingMessage, res: ServerResponse) => boolean {
  const complete = chatCompletions(serving);
  const create = createMessage(services, serving);
  const respond = createResponse(services, serving);
  const routes = new Map<string, LeanRoute>([
    [CHAT, { limit: bodyLimitFor(CHAT), handle: (body, caller, _req, res) => complete(body, caller, res) }],
    [MESSAGES, { limit: bodyLimitFor(MESSAGES), handle: (body, caller, req, res) => create(body, caller, req.headers, res) }],
    [RESPONSES, { limit: bodyLimitFor(RESPONSES), handle: (body, caller, _req, res) => respond(body, caller, res) }],
  ]);
  const corsOn = services.config.corsOrigins.length > 0;

  async function serve(path: string, token: string, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const route = routes.get(path)!;
    const requestId = newId('req');
    res.setHeader('x-request-id', requestId);
    timeRequest(services.metrics, 'POST', res, () => path);
    try {
      const auth = await apiKeyAuth(services, token);
      await applyKeyLimits(services, auth, res);
      const body = await readJson(req, route.limit);
      await route.handle(body, { ...auth, requestId }, req, res);
    } catch (err) {
      answerError(services.logger, err, req, res, path);
    }
  }

  return (req, res) => {
    const token = leanKey(req.method, req.url, req.headers, corsOn);
    if (token === null) return false;
    serve(req.url!, token, req, res).catch((err) => {
      services.logger.error({ err }, 'lean chat path');
      if (!res.writableEnded) res.destroy();
    });
    return true;
  };
}
