import { z } from 'zod';
import { InvalidAmount, parseUsd } from '../ledger/money.js';

/**
 * A USD amount in a request: a decimal string ("10.00") or a JSON number, parsed exactly to
 * nano-dollars. A bad value is a 400 naming the field, like every other validation failure.
 */
export const usdAmount = z
  .union([z.string(), z.number()])
  .describe('USD amount as a decimal string such as "10.00" (at most 9 decimals)')
  .transform((v, ctx) => {
    try {
      return parseUsd(v);
    } catch (err) {
      if (!(err instanceof InvalidAmount)) throw err;
      ctx.addIssue({ code: 'custom', message: err.message });
      return z.NEVER;
    }
  });
