import { describe, expect, it } from 'vitest';
import { ModelNotAllowed } from '../../src/keys/errors.js';
import { assertModelAllowed, isExpired, nextPeriodStart, periodStart, settingsProblem } from '../../src/keys/key-settings.js';
import { budgetRemaining } from '../../src/keys/key-budget.js';
import { decide, decideTokens } from '../../src/keys/rate-limit.js';
import { RateLimitExceeded } from '../../src/keys/errors.js';

const now = new Date('2026-11-26T15:30:00Z'); // a Thursday
const known = (id: string) => id === 'gpt-5.2';
const none = { spendLimit: null, limitReset: null, models: null, expiresAt: null };

describe('key settings', () => {
  it('starts the daily, weekly (Monday) and monthly periods at UTC midnight', () => {
    expect(periodStart('daily', now).toISOString()).toBe('2026-11-26T00:00:00.000Z');
    expect(periodStart('weekly', now).toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(periodStart('weekly', new Date('2026-11-29T23:59:59Z')).toISOString()).toBe('2026-11-23T00:00:00.000Z');
    expect(periodStart('weekly', new Date('2026-11-30T00:00:00Z')).toISOString()).toBe('2026-11-30T00:00:00.000Z');
    expect(periodStart('monthly', now).toISOString()).toBe('2026-11-01T00:00:00.000Z');
  });

  it('finds the first inconsistent setting and names its field', () => {
    expect(settingsProblem(none, known, now)).toBeNull();
    expect(settingsProblem({ ...none, limitReset: 'daily' }, known, now)?.param).toBe('limit_reset');
    expect(settingsProblem({ ...none, spendLimit: 1n, limitReset: 'daily' }, known, now)).toBeNull();
    expect(settingsProblem({ ...none, models: ['gpt-5.2', 'nope'] }, known, now)).toMatchObject({ param: 'models', message: expect.stringContaining("'nope'") });
    expect(settingsProblem({ ...none, expiresAt: now }, known, now)?.param).toBe('expires_at');
  });

  it('allows every model without a list, only the listed ones with one, and none with an empty one', () => {
    expect(() => assertModelAllowed({ models: null, prefix: 'sk-cheapa-abcd' }, 'gpt-5.2')).not.toThrow();
    expect(() => assertModelAllowed({ models: ['gpt-5.2'], prefix: 'sk-cheapa-abcd' }, 'gpt-5.2')).not.toThrow();
    expect(() => assertModelAllowed({ models: ['gpt-5.2'], prefix: 'sk-cheapa-abcd' }, 'veo-3.1')).toThrow(ModelNotAllowed);
    expect(() => assertModelAllowed({ models: [], prefix: 'sk-cheapa-abcd' }, 'gpt-5.2')).toThrow(ModelNotAllowed);
  });

  it('treats a key as expired from its expiry instant on', () => {
    expect(isExpired({ expiresAt: null }, now)).toBe(false);
    expect(isExpired({ expiresAt: new Date(now.getTime() + 1) }, now)).toBe(false);
    expect(isExpired({ expiresAt: now }, now)).toBe(true);
  });

  it('computes what remains of a limit from what the key spent and holds, never below zero', () => {
    expect(budgetRemaining({ spendLimit: null }, { spent: 5n, held: 5n })).toBeNull();
    expect(budgetRemaining({ spendLimit: 1000n }, { spent: 300n, held: 200n })).toBe(500n);
    expect(budgetRemaining({ spendLimit: 500n }, { spent: 400n, held: 200n })).toBe(0n);
  });

  it('names when each limit period ends, in UTC', () => {
    const at = new Date('2026-12-31T23:59:59.999Z'); // a Thursday
    expect(nextPeriodStart(null, at)).toBeNull();
    expect(nextPeriodStart('daily', at)?.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(nextPeriodStart('weekly', at)?.toISOString()).toBe('2027-01-04T00:00:00.000Z');
    expect(nextPeriodStart('monthly', at)?.toISOString()).toBe('2027-01-01T00:00:00.000Z');
    expect(nextPeriodStart('weekly', new Date('2026-11-30T00:00:00Z'))?.toISOString()).toBe('2026-12-07T00:00:00.000Z');
  });
});

describe('rate window decision', () => {
  it('lets the limit-th request through with nothing remaining and refuses the next with the time to reset', () => {
    expect(decide(3, 1, 5000)).toEqual({ limit: 3, remaining: 2, resetMs: 5000 });
    expect(decide(3, 3, 5000)).toEqual({ limit: 3, remaining: 0, resetMs: 5000 });
    const refused = (() => {
      try {
        decide(3, 4, 1500);
      } catch (e) {
        return e;
      }
    })();
    expect(refused).toBeInstanceOf(RateLimitExceeded);
    expect((refused as RateLimitExceeded).message).toContain('try again in 2s');
  });
});

describe('token window decision', () => {
  it('serves while the settled tokens are under the limit and refuses once they reach it, naming tokens', () => {
    expect(decideTokens(100, 99, 5000)).toEqual({ limit: 100, remaining: 1, resetMs: 5000 });
    expect(() => decideTokens(100, 100, 5000)).toThrow(RateLimitExceeded);
    const refused = (() => {
      try {
        decideTokens(100, 250, 1500);
      } catch (e) {
        return e as RateLimitExceeded;
      }
    })();
    expect(refused).toMatchObject({ unit: 'tokens', limit: 100, resetMs: 1500 });
    expect(refused!.message).toContain('tokens per min (TPM): Limit 100, Used 250');
  });
});
