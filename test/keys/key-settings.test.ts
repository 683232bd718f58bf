import { describe, expect, it } from 'vitest';
import { ModelNotAllowed } from '../../src/keys/errors.js';
import { assertModelAllowed, isExpired, periodStart, settingsProblem } from '../../src/keys/key-settings.js';
import { limitRemaining } from '../../src/keys/key-spend.js';
import { decide } from '../../src/keys/rate-limit.js';
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

  it('computes what remains of a limit in its period, never below zero', () => {
    const spend = { total: 900n, daily: 100n, weekly: 300n, monthly: 600n };
    expect(limitRemaining({ spendLimit: null, limitReset: null }, spend)).toBeNull();
    expect(limitRemaining({ spendLimit: 1000n, limitReset: null }, spend)).toBe(100n);
    expect(limitRemaining({ spendLimit: 1000n, limitReset: 'weekly' }, spend)).toBe(700n);
    expect(limitRemaining({ spendLimit: 500n, limitReset: 'monthly' }, spend)).toBe(0n);
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
