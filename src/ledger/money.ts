/**
 * Money is integer nano-dollars (1 USD = 1e9 n$) held in bigint. This module is the only
 * place that converts between that and decimal text or JSON numbers, so no float ever
 * takes part in a computation on a balance.
 */

export const NANOS_PER_USD = 1_000_000_000n;
const SCALE = 9;

export class InvalidAmount extends Error {
  constructor(readonly input: unknown, reason: string) {
    super(`invalid USD amount ${JSON.stringify(String(input))}: ${reason}`);
    this.name = 'InvalidAmount';
  }
}

const DECIMAL = /^([+-])?(\d+)(?:\.(\d+))?$/;

/**
 * Parses a USD amount ("10", "0.000000001", "-1.50") exactly. More than nine decimals is
 * refused rather than rounded: an amount a person typed must mean exactly what it says.
 * JSON numbers are accepted through their shortest decimal form, which is what the sender wrote.
 */
export function parseUsd(input: string | number): bigint {
  let text: string;
  if (typeof input === 'number') {
    if (!Number.isFinite(input)) throw new InvalidAmount(input, 'not a finite number');
    text = numberToPlainDecimal(input);
  } else if (typeof input === 'string') {
    text = input.trim();
  } else {
    throw new InvalidAmount(input, 'expected a decimal string or number');
  }
  const m = DECIMAL.exec(text);
  if (!m) throw new InvalidAmount(input, 'expected a decimal like "10.00"');
  const [, sign, whole, frac = ''] = m;
  if (frac.length > SCALE) throw new InvalidAmount(input, 'more than 9 decimal places');
  const nanos = BigInt(whole!) * NANOS_PER_USD + BigInt(frac.padEnd(SCALE, '0'));
  return sign === '-' ? -nanos : nanos;
}

/** Shortest round-tripping decimal of a JS number, without exponent notation. */
function numberToPlainDecimal(n: number): string {
  const s = String(n);
  if (!/e/i.test(s)) return s;
  const [mant, expText] = s.toLowerCase().split('e') as [string, string];
  const exp = Number(expText);
  const neg = mant.startsWith('-');
  const digits = mant.replace(/^[-+]/, '');
  const [intPart, fracPart = ''] = digits.split('.') as [string, string?];
  const all = intPart + fracPart;
  const point = intPart.length + exp;
  let out: string;
  if (point <= 0) out = '0.' + '0'.repeat(-point) + all;
  else if (point >= all.length) out = all + '0'.repeat(point - all.length);
  else out = all.slice(0, point) + '.' + all.slice(point);
  return (neg ? '-' : '') + out;
}

/** Exact decimal text with all nine places trimmed of trailing zeros, at least two kept ("10.00", "0.0011025"). */
export function formatUsd(nanos: bigint): string {
  const neg = nanos < 0n;
  const abs = neg ? -nanos : nanos;
  const whole = abs / NANOS_PER_USD;
  let frac = (abs % NANOS_PER_USD).toString().padStart(SCALE, '0').replace(/0+$/, '');
  if (frac.length < 2) frac = frac.padEnd(2, '0');
  return `${neg ? '-' : ''}${whole}.${frac}`;
}

/**
 * A JSON number for display fields that OpenAI's shapes type as numbers. Built from the exact
 * decimal text, so the number printed is the nearest double to the exact amount; it must never
 * be fed back into arithmetic.
 */
export function usdNumber(nanos: bigint): number {
  return Number(formatUsd(nanos));
}

/** Whole cents (Stripe's unit) to nano-dollars and back; the back direction refuses sub-cent amounts. */
export function centsToNanos(cents: number | bigint): bigint {
  return BigInt(cents) * 10_000_000n;
}

export function nanosToCents(nanos: bigint): number {
  if (nanos % 10_000_000n !== 0n) throw new InvalidAmount(formatUsd(nanos), 'not a whole number of cents');
  return Number(nanos / 10_000_000n);
}

/** a × b / d rounded half-up (away from zero for positives), for non-negative operands. */
export function mulDivHalfUp(a: bigint, b: bigint, d: bigint): bigint {
  if (a < 0n || b < 0n || d <= 0n) throw new RangeError('mulDivHalfUp expects non-negative operands and d > 0');
  const p = a * b;
  const q = p / d;
  return 2n * (p % d) >= d ? q + 1n : q;
}
