import { describe, expect, it } from 'vitest';
import { IdempotencyConflict, parseUsd } from '../../src/ledger/index.js';
import { type OwedLedger, splitDebit } from '../../src/ledger/owed.js';
import { startHarness, type Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';

const usd = parseUsd;

describe('splitDebit', () => {
  it('takes what the available credit covers and owes the rest', () => {
    expect(splitDebit(usd('10'), usd('25'))).toEqual({ debited: usd('10'), owed: 0n });
    expect(splitDebit(usd('10'), usd('4'))).toEqual({ debited: usd('4'), owed: usd('6') });
    expect(splitDebit(usd('10'), 0n)).toEqual({ debited: 0n, owed: usd('10') });
  });
});

describe('money owed on PostgreSQL', () => {
  let h: Harness;
  let owed: OwedLedger;
  useHarness(
    () => startHarness({ worker: false }),
    (started) => {
      h = started;
      owed = started.services.owed;
    },
  );

  const account = async (credit = '0') => {
    const id = (await h.services.accounts.create({ name: 'O', email: 'o@example.com' })).id;
    if (credit !== '0') await h.services.ledger.post({ accountId: id, amount: usd(credit), kind: 'adjustment', idempotencyKey: `seed:${id}`, reason: 'seed' });
    return id;
  };
  const state = async (id: string) => {
    const b = await h.services.ledger.balance(id);
    return { balance: b.balance, held: b.held, owed: await owed.owed(id) };
  };

  it('debits up to the available credit, records the rest as owed, and never lets the balance go below held', async () => {
    const id = await account('10');
    await h.services.ledger.placeHold({ accountId: id, amount: usd('3'), idempotencyKey: `hold:${id}`, purpose: 'chat', expiresAt: new Date(Date.now() + 60_000) });
    const r = await owed.debitUpTo({ accountId: id, amount: usd('25'), idempotencyKey: `d:${id}`, reason: 'dispute du_1' });
    expect(r).toEqual({ debited: usd('7'), owed: usd('18'), replayed: false });
    expect(await state(id)).toEqual({ balance: usd('3'), held: usd('3'), owed: usd('18') });
  });

  it('applies one key once when ten identical debits race, and answers every one with the first split', async () => {
    const id = await account('5');
    const results = await Promise.all(Array.from({ length: 10 }, () => owed.debitUpTo({ accountId: id, amount: usd('8'), idempotencyKey: `race:${id}`, reason: 'refund' })));
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(results.every((r) => r.debited === usd('5') && r.owed === usd('3'))).toBe(true);
    expect(await state(id)).toEqual({ balance: 0n, held: 0n, owed: usd('3') });
    await expect(owed.debitUpTo({ accountId: id, amount: usd('9'), idempotencyKey: `race:${id}`, reason: 'refund' })).rejects.toBeInstanceOf(IdempotencyConflict);
  });

  it('pays what is owed first from the next deposit, in the same transaction, and says how much', async () => {
    const id = await account();
    await owed.debitUpTo({ accountId: id, amount: usd('4'), idempotencyKey: `o:${id}`, reason: 'refund' });
    const credit = () => owed.creditDeposit({ accountId: id, amount: usd('10'), depositId: `dep_${id}`, reason: 'starter', actor: 'stripe' });
    const results = await Promise.all([credit(), credit(), credit()]);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(results.every((r) => r.credited === usd('10') && r.owedPaid === usd('4'))).toBe(true);
    expect(await state(id)).toEqual({ balance: usd('6'), held: 0n, owed: 0n });
    const entries = await h.services.db('ledger_entries').where({ account_id: id }).orderBy('id').select('kind', 'amount');
    expect(entries).toEqual([
      { kind: 'deposit', amount: usd('10') },
      { kind: 'adjustment', amount: -usd('4') },
    ]);
  });

  it('collects owed from credit that released holds freed, never more than asked', async () => {
    const id = await account('10');
    const hold = await h.services.ledger.placeHold({ accountId: id, amount: usd('10'), idempotencyKey: `h:${id}`, purpose: 'chat', expiresAt: new Date(Date.now() + 60_000) });
    expect(await owed.debitUpTo({ accountId: id, amount: usd('10'), idempotencyKey: `d:${id}`, reason: 'dispute' })).toMatchObject({ debited: 0n, owed: usd('10') });
    await h.services.ledger.captureHold({ holdId: hold.value.id, amount: usd('2'), kind: 'usage' });
    const c = await owed.collect({ accountId: id, idempotencyKey: `c:${id}`, reason: 'collect', upTo: usd('10') });
    expect(c).toMatchObject({ debited: usd('8'), owed: -usd('8') });
    expect(await owed.collect({ accountId: id, idempotencyKey: `c:${id}`, reason: 'collect', upTo: usd('10') })).toMatchObject({ replayed: true });
    expect(await state(id)).toEqual({ balance: 0n, held: 0n, owed: usd('2') });
  });

  it('reverses a debit: returns what was taken (also what a deposit paid of the debt) and clears what is still owed', async () => {
    const id = await account('3');
    await owed.debitUpTo({ accountId: id, amount: usd('10'), idempotencyKey: `d:${id}`, reason: 'dispute' });
    await owed.creditDeposit({ accountId: id, amount: usd('5'), depositId: `dep_r_${id}`, reason: 'starter', actor: 'stripe' });
    expect(await state(id)).toEqual({ balance: 0n, held: 0n, owed: usd('2') });
    const r = await owed.reverse({ accountId: id, debited: usd('3'), owed: usd('7'), idempotencyKey: `w:${id}`, reason: 'won' });
    // 3 debited + 5 the deposit paid of the debt come back; the 2 still owed are cleared.
    expect(r).toMatchObject({ debited: -usd('8'), owed: -usd('2') });
    expect(await state(id)).toEqual({ balance: usd('8'), held: 0n, owed: 0n });
  });

  it('refuses owed below zero in the database itself', async () => {
    const id = await account();
    await expect(h.services.db('accounts').where({ id }).update({ owed: -1 })).rejects.toThrow(/owed_not_negative/);
  });
});
