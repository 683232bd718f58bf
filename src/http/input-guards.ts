import type { RequestHandler } from 'express';
import { invalidRequest } from './errors.js';

/**
 * Input that is well-formed for the parser but poison further in: a NUL character (PostgreSQL
 * `text` cannot hold one, so the insert fails as a 500 after earlier steps ran) and JSON nested
 * deeper than any request of ours needs (recursive code further in, zod's and the logger's, runs
 * out of stack). Both are refused with a 400 before a handler runs, so they change nothing.
 */

/** Deeper than any request body of this API needs (tool schemas included), shallow enough for recursive code. */
export const MAX_JSON_DEPTH = 64;

/** A body the JSON parser must not be given; answered 400 with `code`. */
export class UnsafeJson extends Error {
  constructor(
    readonly code: 'json_too_deep' | 'nul_character' | 'unsupported_charset',
    message: string,
  ) {
    super(message);
    this.name = 'UnsafeJson';
  }
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN = new Set([0x5b, 0x7b]); // [ {
const CLOSE = new Set([0x5d, 0x7d]); // ] }

/**
 * One pass over the raw UTF-8 bytes, before JSON.parse sees them: brackets outside strings give
 * the depth; inside strings, an escape `\u0000` is a NUL. (UTF-8 multi-byte sequences never
 * contain ASCII bytes, so scanning bytes is exact.) Malformed JSON is left to the parser.
 */
export function scanJson(buf: Uint8Array): void {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < buf.length; i++) {
    const b = buf[i]!;
    if (inString) {
      if (b === BACKSLASH) {
        if (buf[i + 1] === 0x75 && isZeroes(buf, i + 2)) throw nulInBody();
        i++; // skip the escaped character, whatever it is
      } else if (b === QUOTE) inString = false;
    } else if (b === QUOTE) inString = true;
    else if (OPEN.has(b)) {
      if (++depth > MAX_JSON_DEPTH) {
        throw new UnsafeJson('json_too_deep', `Request body is nested more than ${MAX_JSON_DEPTH} levels deep.`);
      }
    } else if (CLOSE.has(b)) depth--;
  }
}

function isZeroes(buf: Uint8Array, from: number): boolean {
  for (let k = from; k < from + 4; k++) if (buf[k] !== 0x30) return false;
  return true;
}

const nulInBody = () => new UnsafeJson('nul_character', 'Request body contains a NUL character (\\u0000), which no field accepts.');

/**
 * The path of the first string holding a NUL, in a value that came from multipart fields or a
 * query string (JSON bodies were scanned before parsing). Iterative: the value may be deep.
 */
export function findNul(value: unknown): string | null {
  const stack: [unknown, string[]][] = [[value, []]];
  while (stack.length) {
    const [v, path] = stack.pop()!;
    if (typeof v === 'string') {
      if (v.includes('\0')) return path.join('.') || '(body)';
    } else if (v && typeof v === 'object') {
      for (const [k, child] of Object.entries(v)) {
        if (k.includes('\0')) return [...path, '(key)'].join('.');
        stack.push([child, [...path, k]]);
      }
    }
  }
  return null;
}

/** 400 for a NUL anywhere in the query string or path (encoded as %00), before routing. */
export const refuseNulInUrl: RequestHandler = (req, _res, next) => {
  if (/%00/.test(req.originalUrl) || req.originalUrl.includes('\0')) {
    throw invalidRequest('The request URL contains a NUL character (%00), which no parameter accepts.', null, 'nul_character');
  }
  next();
};

/** 400 naming the field when a validated value (multipart fields, query) holds a NUL. */
export function assertNoNul(value: unknown, where: 'body' | 'query'): void {
  const at = findNul(value);
  if (at !== null) throw invalidRequest(`Invalid '${at}' in the request ${where}: a NUL character (\\u0000) is not accepted.`, at, 'nul_character');
}
