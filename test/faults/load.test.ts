import { describe, expect, it } from 'vitest';
import { usdToNano } from '../../faults/load.js';

describe('usdToNano (the fault suite reading the charges clients were told about)', () => {
  it('reads the API decimal dollars exactly, without floating point', () => {
    expect(usdToNano('0.0011025')).toBe(1_102_500n);
    expect(usdToNano('0.21')).toBe(210_000_000n);
    expect(usdToNano('1000')).toBe(1_000_000_000_000n);
    expect(usdToNano('-0.000000001')).toBe(-1n);
  });

  it('reads the exponent form JSON numbers take below 1e-6', () => {
    expect(usdToNano(String(0.0000005))).toBe(500n);
    expect(usdToNano('1.5e-7')).toBe(150n);
  });

  it('refuses what is not an amount', () => {
    expect(() => usdToNano('abc')).toThrow();
    expect(() => usdToNano('0.0000000001')).toThrow();
  });
});
