import pg from 'pg';

const regexParse = pg.types.getTypeParser(pg.types.builtins.TIMESTAMPTZ, 'text') as (text: string) => Date | number | null;

/**
 * A `timestamptz` column as PostgreSQL writes it (DateStyle ISO), read into a Date without a
 * regular expression. pg's own parser (postgres-date) runs three regular expressions per value, and
 * a ledger result carries up to four timestamps: it was 1.3 % of the gateway's CPU and 2 % of its
 * allocations at 32 clients (BENCHMARKS.md, "Less JavaScript per chat request").
 *
 * The common form, `YYYY-MM-DD HH:MM:SS[.ffffff]±HH[:MM[:SS]]` with a four-digit year from 1000, is
 * read here; anything else (infinity, BC, a year before 1000 or after 9999, another DateStyle) goes
 * to pg's parser. Fractions below a millisecond are dropped, as a Date keeps none.
 */
export function parseTimestamptz(text: string): Date | number | null {
  const n = text.length;
  if (n < 22 || text.charCodeAt(4) !== DASH || text.charCodeAt(7) !== DASH || text.charCodeAt(10) !== SPACE
    || text.charCodeAt(13) !== COLON || text.charCodeAt(16) !== COLON) {
    return regexParse(text);
  }
  const year = digits(text, 0, 4);
  const month = digits(text, 5, 2);
  const day = digits(text, 8, 2);
  const hour = digits(text, 11, 2);
  const minute = digits(text, 14, 2);
  const second = digits(text, 17, 2);
  if (year < 1000 || month < 0 || day < 0 || hour < 0 || minute < 0 || second < 0) return regexParse(text);

  let i = 19;
  let ms = 0;
  if (text.charCodeAt(i) === DOT) {
    const start = ++i;
    while (i < n && isDigit(text.charCodeAt(i))) {
      if (i - start < 3) ms = ms * 10 + (text.charCodeAt(i) - ZERO);
      i++;
    }
    if (i === start) return regexParse(text);
    for (let k = i - start; k < 3; k++) ms *= 10;
  }

  const sign = text.charCodeAt(i) === PLUS ? 1 : text.charCodeAt(i) === DASH ? -1 : 0;
  if (sign === 0) return regexParse(text);
  // ±HH, ±HH:MM or ±HH:MM:SS, and nothing after it.
  const hours = digits(text, i + 1, 2);
  const minutes = i + 3 < n ? colonDigits(text, i + 3) : 0;
  const seconds = i + 6 < n ? colonDigits(text, i + 6) : 0;
  if (hours < 0 || minutes < 0 || seconds < 0 || n > i + 9 || (n - i) % 3 !== 0) return regexParse(text);
  const offset = hours * 3600 + minutes * 60 + seconds;
  return new Date(Date.UTC(year, month - 1, day, hour, minute, second, ms) - sign * offset * 1000);
}

const ZERO = 48;
const DASH = 45;
const PLUS = 43;
const DOT = 46;
const COLON = 58;
const SPACE = 32;

const isDigit = (c: number) => c >= ZERO && c <= ZERO + 9;

/** `:DD` at `at` as a number, or -1. */
function colonDigits(text: string, at: number): number {
  return text.charCodeAt(at) === COLON ? digits(text, at + 1, 2) : -1;
}

/** The `length` decimal digits at `at`, or -1 if any is not a digit (or the text ends first). */
function digits(text: string, at: number, length: number): number {
  let value = 0;
  for (let i = at; i < at + length; i++) {
    const c = text.charCodeAt(i);
    if (!isDigit(c)) return -1;
    value = value * 10 + (c - ZERO);
  }
  return value;
}
