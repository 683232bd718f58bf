import { describe, expect, it } from 'vitest';
import { newId } from '../src/ids.js';

describe('newId', () => {
  it('spells a prefix, ten time characters and sixteen random ones, in Crockford base32', () => {
    expect(newId('req')).toMatch(/^req_[0-9a-hjkmnp-tv-z]{26}$/);
  });

  it('orders ids by their creation time', () => {
    const ids = [3, 1_000, 1_796_000_000_000, 1_796_000_000_001].map((t) => newId('x', t));
    expect([...ids].sort()).toEqual(ids);
  });

  it('never hands out the same random part twice, across many refills of its entropy pool', () => {
    // Same millisecond for all, so only the random part tells them apart.
    const randoms = Array.from({ length: 20_000 }, () => newId('x', 0).slice(12));
    expect(new Set(randoms).size).toBe(randoms.length);
    // Every character of the alphabet turns up in every position: the bytes are not stuck or reused.
    for (let position = 0; position < 16; position++) {
      expect(new Set(randoms.map((r) => r[position])).size).toBe(32);
    }
  });
});
