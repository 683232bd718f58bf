import { describe, expect, it } from 'vitest';
import { atDeadline, transition } from '../../src/payments/deposit-transition.js';
import type { DepositStatus } from '../../src/payments/deposit-status.js';
import type { PaymentOutcome } from '../../src/payments/payment-gateway.js';

const USD = 1_000_000_000n;
const WAITING: DepositStatus[] = ['creating', 'pending', 'processing'];

describe('transition: what a confirmed provider outcome does to a waiting deposit', () => {
  it.each(WAITING)('from %s, paid credits what arrived, never more than requested', (from) => {
    expect(transition(from, 'paid', 10n * USD, 10n * USD)).toEqual({ step: 'credit', amountNano: 10n * USD });
    expect(transition(from, 'paid', 4_990_000_000n, 10n * USD)).toEqual({ step: 'credit', amountNano: 4_990_000_000n });
    expect(transition(from, 'paid', 11n * USD, 10n * USD)).toEqual({ step: 'credit', amountNano: 10n * USD });
  });

  it.each(WAITING)('from %s, paid with nothing to credit goes to review', (from) => {
    expect(transition(from, 'paid', 0n, 10n * USD)).toEqual({ step: 'end', status: 'needs_review' });
    expect(transition(from, 'paid', undefined, 10n * USD)).toEqual({ step: 'end', status: 'needs_review' });
    expect(transition(from, 'paid', -1n, 10n * USD)).toEqual({ step: 'end', status: 'needs_review' });
  });

  it('pending keeps a deposit pending, but never moves a processing one back', () => {
    expect(transition('creating', 'pending', undefined, USD)).toEqual({ step: 'advance', status: 'pending' });
    expect(transition('pending', 'pending', undefined, USD)).toEqual({ step: 'advance', status: 'pending' });
    expect(transition('processing', 'pending', undefined, USD)).toEqual({ step: 'advance', status: 'processing' });
  });

  it.each(WAITING)('from %s, processing moves to processing', (from) => {
    expect(transition(from, 'processing', undefined, USD)).toEqual({ step: 'advance', status: 'processing' });
  });

  it.each([
    ['failed', 'failed'],
    ['expired', 'expired'],
    ['review', 'needs_review'],
  ] as const)('%s ends the deposit as %s without credit, from any waiting status', (outcome, status) => {
    for (const from of WAITING) expect(transition(from, outcome, 5n * USD, USD)).toEqual({ step: 'end', status });
  });
});

describe('atDeadline: the provider answer when the checkout or the settle grace ran out', () => {
  it.each(['paid', 'failed', 'expired', 'review'] as PaymentOutcome[])('a final %s is applied like any outcome', (outcome) => {
    expect(atDeadline(outcome, false)).toEqual({ step: 'apply' });
    expect(atDeadline(outcome, true)).toEqual({ step: 'apply' });
  });

  it('a payment on its way is awaited once for the grace period, then goes to review', () => {
    expect(atDeadline('processing', false)).toEqual({ step: 'await-settlement' });
    expect(atDeadline('processing', true)).toEqual({ step: 'end', status: 'needs_review' });
  });

  it('nothing paid ends the deposit as expired', () => {
    expect(atDeadline('pending', false)).toEqual({ step: 'end', status: 'expired' });
    expect(atDeadline('pending', true)).toEqual({ step: 'end', status: 'expired' });
  });
});
