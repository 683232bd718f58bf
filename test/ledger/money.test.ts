import { describe, expect, it } from 'vitest';
import { centsToNanos, formatUsd, InvalidAmount, mulDivHalfUp, nanosToCents, parseUsd, usdNumber } from '../../src/ledger/money.js';

describe('money', () => {
  it('parses decimal strings exactly', () => {
    expect(parseUsd('10')).toBe(10_000_000_000n);
    expect(parseUsd('10.00')).toBe(10_000_000_000n);
    expect(parseUsd('0.000000001')).toBe(1n);
    expect(parseUsd('-1.50')).toBe(-1_500_000_000n);
    expect(parseUsd(' 0.21 ')).toBe(210_000_000n);
  });

  it('adds 0.1 and 0.2 to exactly 0.3', () => {
    expect(parseUsd('0.1') + parseUsd('0.2')).toBe(parseUsd('0.3'));
    expect(formatUsd(parseUsd(0.1) + parseUsd(0.2))).toBe('0.30');
  });

  it('reads JSON numbers through their decimal text, exponent forms included', () => {
    expect(parseUsd(0.0011025)).toBe(1_102_500n);
    expect(parseUsd(1e-9)).toBe(1n);
    expect(parseUsd(1e21)).toBe(10n ** 21n * 1_000_000_000n);
    expect(parseUsd(-2.5e-7)).toBe(-250n);
  });

  it('refuses what is not an exact amount', () => {
    for (const bad of ['', 'abc', '1.2.3', '1e3', '0.0000000001', '1,00', 'NaN', '$5']) {
      expect(() => parseUsd(bad), bad).toThrow(InvalidAmount);
    }
    expect(() => parseUsd(Number.NaN)).toThrow(InvalidAmount);
    expect(() => parseUsd(Infinity)).toThrow(InvalidAmount);
    expect(() => parseUsd(null as never)).toThrow(InvalidAmount);
  });

  it('keeps huge values exact', () => {
    const huge = parseUsd('92233720368.547758');
    expect(huge).toBe(92_233_720_368_547_758_000n);
    expect(formatUsd(huge)).toBe('92233720368.547758');
    expect(formatUsd(2n ** 63n - 1n)).toBe('9223372036.854775807');
  });

  it('formats with at least two decimals and no trailing zeros beyond', () => {
    expect(formatUsd(0n)).toBe('0.00');
    expect(formatUsd(1_102_500n)).toBe('0.0011025');
    expect(formatUsd(-210_000_000n)).toBe('-0.21');
    expect(formatUsd(5_000_000_000n)).toBe('5.00');
    expect(usdNumber(1_102_500n)).toBe(0.0011025);
  });

  it('converts cents exactly and refuses sub-cent amounts for card processors', () => {
    expect(centsToNanos(1000)).toBe(10_000_000_000n);
    expect(nanosToCents(parseUsd('25.00'))).toBe(2500);
    expect(() => nanosToCents(parseUsd('0.001'))).toThrow(InvalidAmount);
  });

  it('rounds half up once', () => {
    expect(mulDivHalfUp(5n, 1n, 10n)).toBe(1n);
    expect(mulDivHalfUp(4n, 1n, 10n)).toBe(0n);
    expect(mulDivHalfUp(15n, 1n, 10n)).toBe(2n);
    expect(mulDivHalfUp(1n, 1n, 3n)).toBe(0n);
    expect(mulDivHalfUp(2n, 1n, 3n)).toBe(1n);
    expect(() => mulDivHalfUp(-1n, 1n, 1n)).toThrow(RangeError);
  });
});
