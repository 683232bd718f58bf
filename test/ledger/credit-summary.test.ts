import { describe, expect, it } from 'vitest';
import { creditSummary } from '../../src/ledger/credit-summary.js';
import { parseUsd } from '../../src/ledger/money.js';

const d = (s: string) => new Date(s);

describe('credit summary', () => {
  it('allocates spending to the oldest grants first and keeps held apart from available', () => {
    const s = creditSummary({
      grants: [
        { id: 'dep_b', amount: parseUsd('25'), effectiveAt: d('2026-02-01') },
        { id: 'dep_a', amount: parseUsd('10'), effectiveAt: d('2026-01-01') },
      ],
      balance: parseUsd('20'),
      held: parseUsd('0.21'),
    });
    expect(s.totalGranted).toBe(parseUsd('35'));
    expect(s.totalUsed).toBe(parseUsd('15'));
    expect(s.totalAvailable).toBe(parseUsd('19.79'));
    expect(s.totalGranted - s.totalUsed - s.totalAvailable).toBe(s.totalHeld);
    expect(s.grants.map((g) => [g.id, g.usedAmount])).toEqual([
      ['dep_a', parseUsd('10')],
      ['dep_b', parseUsd('5')],
    ]);
  });

  it('shows an empty wallet as zero everywhere', () => {
    expect(creditSummary({ grants: [], balance: 0n, held: 0n })).toMatchObject({ totalGranted: 0n, totalUsed: 0n, totalAvailable: 0n, grants: [] });
  });
});
