import { z } from 'zod';

const MAX_UNIX = 253_402_300_799; // 9999-12-31T23:59:59Z
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:?\d{2})?)?$/;

/**
 * A point in time in a request: unix seconds (a JSON number, or digits in a query string) or an
 * ISO 8601 date/date-time (a date alone is midnight UTC; a date-time without an offset is UTC).
 */
export const instant = z
  .union([z.number(), z.string().trim().max(40)])
  .describe('Unix seconds, or an ISO 8601 date or date-time such as "2026-11-30T12:00:00Z"')
  .transform((v, ctx) => {
    if (typeof v === 'number' || /^\d+$/.test(v)) {
      const seconds = Number(v);
      if (Number.isInteger(seconds) && seconds >= 0 && seconds <= MAX_UNIX) return new Date(seconds * 1000);
      ctx.addIssue({ code: 'custom', message: `expected whole unix seconds between 0 and ${MAX_UNIX}` });
      return z.NEVER;
    }
    const m = ISO_8601.exec(v);
    const date = m && realDay(v) ? new Date(m[1] && !m[4] ? `${v}Z` : v) : null;
    if (!date || Number.isNaN(date.getTime())) {
      ctx.addIssue({ code: 'custom', message: 'expected unix seconds or an ISO 8601 date-time such as "2026-11-30T12:00:00Z"' });
      return z.NEVER;
    }
    return date;
  });

/** Date parsing rolls 2026-02-30 over into March; a date that does not exist is refused instead. */
function realDay(v: string): boolean {
  const [y, m, d] = v.slice(0, 10).split('-').map(Number) as [number, number, number];
  const day = new Date(Date.UTC(y, m - 1, d));
  return day.getUTCFullYear() === y && day.getUTCMonth() === m - 1 && day.getUTCDate() === d;
}
