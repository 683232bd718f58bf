import { describe, expect, it } from 'vitest';
import { creditAmount, isFinalStatus, statusFor } from '../../src/payments/deposit-status.js';
import { chooseTier } from '../../src/payments/tiers.js';

const USD = 1_000_000_000n;

describe('top-up tiers', () => {
  it('maps each tier to its amount and each offered amount back to its tier', () => {
    expect(chooseTier('starter', undefined)).toEqual({ ok: true, tier: 'starter', amountNano: 10n * USD });
    expect(chooseTier(undefined, 500n * USD)).toEqual({ ok: true, tier: 'enterprise', amountNano: 500n * USD });
    expect(chooseTier('team', 100n * USD)).toEqual({ ok: true, tier: 'team', amountNano: 100n * USD });
  });

  it('refuses amounts off the list, disagreeing tier and amount, and neither', () => {
    expect(chooseTier(undefined, 10n * USD + 1n)).toMatchObject({ ok: false });
    expect(chooseTier('team', 50n * USD)).toMatchObject({ ok: false, reason: expect.stringContaining("tier 'team' is $100.00") });
    expect(chooseTier(undefined, undefined)).toMatchObject({ ok: false });
  });
});

describe('deposit status rules', () => {
  it('never credits more than the deposit asked for', () => {
    expect(creditAmount(10n * USD, 12n * USD)).toBe(10n * USD);
    expect(creditAmount(10n * USD, 4_990_000_000n)).toBe(4_990_000_000n);
  });

  it('treats credited, failed, expired and needs_review as final', () => {
    expect(['credited', 'failed', 'expired', 'needs_review'].every(isFinalStatus)).toBe(true);
    expect(['creating', 'pending', 'processing'].some(isFinalStatus)).toBe(false);
    expect(statusFor('paid')).toBe('credited');
    expect(statusFor('review')).toBe('needs_review');
  });
});
