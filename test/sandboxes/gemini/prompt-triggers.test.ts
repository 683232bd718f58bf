import { describe, expect, it } from 'vitest';
import { parseTriggers } from '../../../src/sandboxes/gemini/prompt-triggers.js';

describe('prompt triggers', () => {
  it('finds nothing in an ordinary prompt', () => {
    expect(parseTriggers('a cat in [a] hat')).toEqual({ flaky: 0, delay: 'default' });
  });

  it('reads failures, flakiness and delays, case-insensitively', () => {
    expect(parseTriggers('x [FAIL:HTTP503] [flaky:3] [delay:250]')).toEqual({
      failure: { kind: 'http', status: 503 },
      flaky: 3,
      delay: 250,
    });
    expect(parseTriggers('x [fail:safety] [slow]')).toEqual({ failure: { kind: 'safety' }, flaky: 0, delay: 'slow' });
  });

  it('keeps the first failure and bounds the numbers', () => {
    expect(parseTriggers('[fail:refusal] [fail:error] [flaky:99] [delay:9999999]')).toEqual({
      failure: { kind: 'refusal' },
      flaky: 10,
      delay: 3_600_000,
    });
  });

  it('ignores HTTP statuses outside 4xx/5xx', () => {
    expect(parseTriggers('[fail:http200]').failure).toBeUndefined();
  });
});
