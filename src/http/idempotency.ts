import type { Request } from 'express';
import { invalidRequest } from './errors.js';

/** The client's Idempotency-Key header (Stripe's convention: at most 255 characters), if any. */
export function idempotencyKeyOf(req: Request): string | undefined {
  const raw = req.headers['idempotency-key'];
  if (raw === undefined) return undefined;
  const key = Array.isArray(raw) ? raw[0] : raw;
  if (!key || key.length > 255 || !/^[\x21-\x7e]+$/.test(key)) {
    throw invalidRequest('Idempotency-Key must be 1-255 printable ASCII characters without spaces.', 'Idempotency-Key', 'invalid_idempotency_key');
  }
  return key;
}
