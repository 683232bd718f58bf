import { z } from 'zod';
import { InvalidAmount, NANOS_PER_USD, parseUsd } from '../ledger/money.js';

/**
 * The largest amount any request may name, either sign: far above every tier and any plausible
 * adjustment, and far below what a BIGINT of nano-dollars holds (about $9.2e9), so no sum of a
 * few such amounts can overflow a balance column into a database error.
 */
export const MAX_REQUEST_USD = 1_000_000n;

/**
 * A USD amount in a request: a decimal string ("10.00") or a JSON number, parsed exactly to
 * nano-dollars. A bad value is a 400 naming the field, like every other validation failure.
 */
export const usdAmount = z
  .union([z.string().max(64), z.number()])
  .describe('USD amount as a decimal string such as "10.00" (at most 9 decimals)')
  .transform((v, ctx) => {
    try {
      const nanos = parseUsd(v);
      if (nanos > MAX_REQUEST_USD * NANOS_PER_USD || nanos < -MAX_REQUEST_USD * NANOS_PER_USD) {
        ctx.addIssue({ code: 'custom', message: `must be at most ${MAX_REQUEST_USD} USD in magnitude` });
        return z.NEVER;
      }
      return nanos;
    } catch (err) {
      if (!(err instanceof InvalidAmount)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
      return z.NEVER;
    }
  });
