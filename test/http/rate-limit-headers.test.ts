import { describe, expect, it } from 'vitest';
import { goDuration } from '../../src/http/rate-limit-headers.js';

describe('goDuration', () => {
  it('prints durations the way Go does, as OpenAI\u2019s x-ratelimit-reset-* headers carry them', () => {
    expect(goDuration(12)).toBe('12ms');
    expect(goDuration(0)).toBe('0ms');
    expect(goDuration(1000)).toBe('1s');
    expect(goDuration(1574)).toBe('1.574s');
    expect(goDuration(59_900)).toBe('59.9s');
    expect(goDuration(360_000)).toBe('6m0s');
    expect(goDuration(61_500)).toBe('1m1.5s');
    expect(goDuration(3_600_000)).toBe('1h0m0s');
  });
});
