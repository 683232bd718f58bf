import { hash, randomBytes } from 'node:crypto';

/**
 * API keys are 256-bit random secrets shown once. Only their SHA-256 is stored: with that much
 * entropy a fast hash is safe (no dictionary to try), and lookups stay one indexed read.
 */
const PREFIX = 'sk-cheapa-';
const FORMAT = /^sk-cheapa-[A-Za-z0-9_-]{43}$/;

export function generateApiKey(): { key: string; prefix: string; hash: string } {
  const key = PREFIX + randomBytes(32).toString('base64url');
  return { key, prefix: visiblePrefix(key), hash: hashApiKey(key) };
}

/** Run for every API call (the key cache is keyed by it): the one-shot form costs a third of a Hash object's. */
export function hashApiKey(key: string): string {
  return hash('sha256', key, 'hex');
}

/** What the console shows to tell keys apart: the scheme and the first four secret characters. */
export function visiblePrefix(key: string): string {
  return key.slice(0, PREFIX.length + 4);
}

export function looksLikeApiKey(token: string): boolean {
  return FORMAT.test(token);
}
