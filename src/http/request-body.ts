import type { IncomingMessage } from 'node:http';
import express, { type RequestHandler } from 'express';
import { invalidJson, invalidRequest, payloadTooLarge } from './errors.js';
import { scanJson, UnsafeJson } from './input-guards.js';

/**
 * Request bodies are read only after the caller is authenticated (app.ts mounts these behind the
 * key and admin checks), and never beyond what the route needs: a body over its route's limit is
 * a 413 decided from Content-Length before a byte is read, whatever its content type (the body
 * parser would read and discard the whole body before answering). A chunked body is cut off at the
 * limit by the parser, which then discards the rest within the server's request timeout.
 * An unauthenticated caller therefore costs a header parse and a key lookup, not a buffer.
 */

const KB = 1024;
const MB = 1024 * KB;

/** Longest prefix wins; routes not listed get DEFAULT_LIMIT. */
const LIMITS: readonly (readonly [prefix: string, bytes: number])[] = [
  // Chat messages may carry base64 images, as OpenAI's do.
  ['/v1/chat/completions', 20 * MB],
  ['/v1/responses', 20 * MB],
  // Anthropic's own limit for messages and count_tokens: a long agent session with images is many MB.
  ['/v1/messages', 32 * MB],
  // OpenAI allows 300,000 tokens per request; as token ids or escaped text that is up to about 4 MB.
  ['/v1/embeddings', 8 * MB],
  ['/v1/images', 256 * KB],
  ['/v1/videos', 256 * KB],
  ['/v1/billing/deposits', 16 * KB],
  ['/v1/billing/support', 64 * KB],
  ['/admin', 64 * KB],
  ['/console/api', 16 * KB],
];
const DEFAULT_LIMIT = 256 * KB;

/** Routes that take uploaded images (multipart): the uploads' total cap plus room for the text fields; multer enforces the per-file caps. */
const UPLOAD_LIMITS: readonly (readonly [path: string, bytes: number])[] = [
  ['/v1/images/edits', 16 * MB],
  ['/v1/videos', 16 * MB],
];

export function bodyLimitFor(path: string): number {
  let best: readonly [string, number] | undefined;
  for (const entry of LIMITS) {
    const [prefix] = entry;
    if ((path === prefix || path.startsWith(prefix + '/')) && (!best || prefix.length > best[0].length)) best = entry;
  }
  return best ? best[1] : DEFAULT_LIMIT;
}

function guardJson(_req: unknown, _res: unknown, buf: Buffer, encoding: string) {
  // The scan reads bytes as UTF-8; another charset could hide a NUL or a bracket from it.
  if (encoding.toLowerCase().replace('_', '-') !== 'utf-8') {
    throw new UnsafeJson('unsupported_charset', 'JSON request bodies must be UTF-8.');
  }
  scanJson(buf);
}

/** JSON and form bodies with the limit of the route asked for; other content types are left unread. */
export function parseBodies(): RequestHandler {
  const parsers = new Map<number, RequestHandler[]>();
  const forLimit = (limit: number) => {
    let p = parsers.get(limit);
    if (!p) {
      p = [express.json({ limit, verify: guardJson }), express.urlencoded({ extended: false, limit, parameterLimit: 100 })];
      parsers.set(limit, p);
    }
    return p;
  };
  return (req, res, next) => {
    const path = req.originalUrl.split('?')[0]!;
    const limit = bodyLimitFor(path);
    const upload = req.is('multipart/form-data') ? UPLOAD_LIMITS.find(([p]) => p === path)?.[1] : undefined;
    if (Number(req.headers['content-length'] ?? 0) > (upload ?? limit)) throw payloadTooLarge(upload ?? limit);
    const [json, form] = forLimit(limit);
    json!(req, res, (err?: unknown) => (err ? next(err) : form!(req, res, next)));
  };
}

/**
 * A JSON body read the way the JSON parser above reads it, for the lean chat path (lean-chat.ts):
 * the same limit (413 from Content-Length before a byte is read, or once a chunked body passes
 * it), the same scan, an empty body as {}, a leading BOM dropped, and only an object or an array
 * accepted (the parser's strict mode); anything else is the parser's 400 invalid_json.
 */
export function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  if (Number(req.headers['content-length'] ?? 0) > limit) return Promise.reject(payloadTooLarge(limit));
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const stop = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('close', onClose);
      req.off('error', onError);
    };
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      chunks.push(chunk);
      if (size <= limit) return;
      stop();
      // The rest is not read: the answer closes the connection (answerError, as the parser's would).
      req.pause();
      reject(payloadTooLarge(limit));
    };
    const onEnd = () => {
      stop();
      try {
        resolve(parseJson(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size)));
      } catch (err) {
        reject(err);
      }
    };
    const onClose = () => {
      stop();
      reject(invalidRequest('The request body ended before its Content-Length.', null, 'invalid_request'));
    };
    const onError = (err: Error) => {
      stop();
      reject(err);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('close', onClose);
    req.on('error', onError);
  });
}

const JSON_WHITESPACE = /^[\x20\x09\x0a\x0d]*(.)/s;

function parseJson(buf: Buffer): unknown {
  scanJson(buf);
  let text = buf.toString('utf8');
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  if (text.length === 0) return {};
  const first = JSON_WHITESPACE.exec(text)?.[1];
  if (first !== '{' && first !== '[') throw invalidJson();
  try {
    return JSON.parse(text);
  } catch {
    throw invalidJson();
  }
}
