import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { settleChatHold } from '../../src/chat/chat-billing.js';
import {
  CaptureExceedsHold,
  HoldNotPending,
  IdempotencyConflict,
  InsufficientFunds,
  parseUsd,
  type PostgresLedger,
} from '../../src/ledger/index.js';
import { startHarness, type Harness } from '../support/harness.js';

const usd = parseUsd;
const soon = () => new Date(Date.now() + 60_000);

describe('ledger on PostgreSQL', () => {
  let h: Harness;
  let ledger: PostgresLedger;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
    ledger = h.services.ledger;
  });
  afterEach(async () => h.expectBooksBalanced());
  afterAll(async () => h?.close());

  const account = async () => (await h.services.accounts.create({ name: 'L', email: 'l@example.com' })).id;

  it('credits a deposit once however often it is posted', async () => {
    const id = await account();
    const first = await ledger.post({ accountId: id, amount: usd('10'), kind: 'deposit', idempotencyKey: 'dep_1:credit', depositId: 'dep_1' });
    expect(first.replayed).toBe(false);
    const again = await Promise.all(
      Array.from({ length: 5 }, () => ledger.post({ accountId: id, amount: usd('10'), kind: 'deposit', idempotencyKey: 'dep_1:credit', depositId: 'dep_1' })),
    );
    expect(again.every((r) => r.replayed && r.value.id === first.value.id)).toBe(true);
    expect((await ledger.balance(id)).balance).toBe(usd('10'));
  });

  it('refuses a second credit for the same deposit even under another key', async () => {
    const id = await account();
    await ledger.post({ accountId: id, amount: usd('10'), kind: 'deposit', idempotencyKey: 'dep_2:a', depositId: 'dep_2' });
    await expect(ledger.post({ accountId: id, amount: usd('10'), kind: 'deposit', idempotencyKey: 'dep_2:b', depositId: 'dep_2' })).rejects.toThrow();
    expect((await ledger.balance(id)).balance).toBe(usd('10'));
  });

  it('refuses to reuse a key for a different amount', async () => {
    const id = await account();
    await ledger.post({ accountId: id, amount: usd('1'), kind: 'adjustment', idempotencyKey: 'adj-x' });
    await expect(ledger.post({ accountId: id, amount: usd('2'), kind: 'adjustment', idempotencyKey: 'adj-x' })).rejects.toBeInstanceOf(IdempotencyConflict);
  });

  it('debits usage only while available covers it', async () => {
    const id = await account();
    await ledger.post({ accountId: id, amount: usd('1'), kind: 'adjustment', idempotencyKey: `${id}:seed` });
    await ledger.post({ accountId: id, amount: -usd('0.75'), kind: 'usage', idempotencyKey: `${id}:u1`, requestId: 'req_1' });
    const err = await ledger
      .post({ accountId: id, amount: -usd('0.26'), kind: 'usage', idempotencyKey: `${id}:u2` })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientFunds);
    expect((err as InsufficientFunds).available).toBe(usd('0.25'));
    expect(await ledger.balance(id)).toMatchObject({ balance: usd('0.25'), held: 0n, available: usd('0.25') });
  });

  it('places a hold against available and refuses one that does not fit', async () => {
    const id = await account();
    await ledger.post({ accountId: id, amount: usd('0.30'), kind: 'adjustment', idempotencyKey: `${id}:seed` });
    const hold = await ledger.placeHold({ accountId: id, amount: usd('0.21'), idempotencyKey: `${id}:h1`, purpose: 'generation', expiresAt: soon() });
    expect(hold.value.status).toBe('pending');
    const replay = await ledger.placeHold({ accountId: id, amount: usd('0.21'), idempotencyKey: `${id}:h1`, purpose: 'generation', expiresAt: soon() });
    expect(replay).toMatchObject({ replayed: true, value: { id: hold.value.id } });
    await expect(
      ledger.placeHold({ accountId: id, amount: usd('0.21'), idempotencyKey: `${id}:h2`, purpose: 'generation', expiresAt: soon() }),
    ).rejects.toBeInstanceOf(InsufficientFunds);
    expect(await ledger.balance(id)).toMatchObject({ balance: usd('0.30'), held: usd('0.21'), available: usd('0.09') });
    await ledger.releaseHold({ holdId: hold.value.id });
  });

  it('captures part of a hold once, frees the rest, and replays the capture', async () => {
    const id = await account();
    await ledger.post({ accountId: id, amount: usd('1'), kind: 'adjustment', idempotencyKey: `${id}:seed` });
    const { value: hold } = await ledger.placeHold({ accountId: id, amount: usd('0.50'), idempotencyKey: `${id}:h`, purpose: 'chat', requestId: 'req_9', expiresAt: soon() });
    const cap = await ledger.captureHold({ holdId: hold.id, amount: usd('0.0011025'), kind: 'usage' });
    expect(cap.replayed).toBe(false);
    expect(cap.value.entry).toMatchObject({ amount: -usd('0.0011025'), requestId: 'req_9', holdId: hold.id });
    const again = await ledger.captureHold({ holdId: hold.id, amount: usd('0.0011025'), kind: 'usage' });
    expect(again.replayed).toBe(true);
    expect(again.value.entry?.id).toBe(cap.value.entry?.id);
    await expect(ledger.captureHold({ holdId: hold.id, amount: usd('0.002'), kind: 'usage' })).rejects.toBeInstanceOf(HoldNotPending);
    expect(await ledger.balance(id)).toMatchObject({ balance: usd('1') - usd('0.0011025'), held: 0n });
  });

  it('never captures more than was held', async () => {
    const id = await account();
    await ledger.post({ accountId: id, amount: usd('1'), kind: 'adjustment', idempotencyKey: `${id}:seed` });
    const { value: hold } = await ledger.placeHold({ accountId: id, amount: usd('0.21'), idempotencyKey: `${id}:h`, purpose: 'generation', expiresAt: soon() });
    await expect(ledger.captureHold({ holdId: hold.id, amount: usd('0.22'), kind: 'generation_capture' })).rejects.toBeInstanceOf(CaptureExceedsHold);
    await ledger.releaseHold({ holdId: hold.id });
  });

  it('settles a hold exactly once when capture and release race', async () => {
    const id = await account();
    await ledger.post({ accountId: id, amount: usd('5'), kind: 'adjustment', idempotencyKey: `${id}:seed` });
    for (let i = 0; i < 20; i++) {
      const { value: hold } = await ledger.placeHold({ accountId: id, amount: usd('0.21'), idempotencyKey: `${id}:race${i}`, purpose: 'generation', expiresAt: soon() });
      const results = await Promise.allSettled([
        ledger.captureHold({ holdId: hold.id, amount: usd('0.21'), kind: 'generation_capture' }),
        ledger.releaseHold({ holdId: hold.id }),
        ledger.releaseHold({ holdId: hold.id, status: 'expired' }),
      ]);
      const final = await ledger.hold(hold.id);
      const captured = results[0].status === 'fulfilled';
      expect(final.status === 'captured').toBe(captured);
    }
    await h.expectBooksBalanced();
  });

  it('refuses to capture zero: a hold that owes nothing is released, and the hold stays as it was', async () => {
    const id = await account();
    await ledger.post({ accountId: id, amount: usd('1'), kind: 'adjustment', idempotencyKey: `${id}:seed` });
    const { value: hold } = await ledger.placeHold({ accountId: id, amount: usd('0.10'), idempotencyKey: `${id}:h`, purpose: 'chat', expiresAt: soon() });
    await expect(ledger.captureHold({ holdId: hold.id, amount: 0n, kind: 'usage' })).rejects.toThrow(RangeError);
    expect(await ledger.hold(hold.id)).toMatchObject({ status: 'pending' });
    await settleChatHold(ledger, { holdId: hold.id, accountId: id, amount: 0n });
    expect(await ledger.hold(hold.id)).toMatchObject({ status: 'released', capturedAmount: null });
    expect(await ledger.balance(id)).toMatchObject({ balance: usd('1'), held: 0n });
    await h.expectBooksBalanced();
  });

  it('expires holds past their deadline and leaves the others', async () => {
    const id = await account();
    await ledger.post({ accountId: id, amount: usd('1'), kind: 'adjustment', idempotencyKey: `${id}:seed` });
    const old = await ledger.placeHold({ accountId: id, amount: usd('0.21'), idempotencyKey: `${id}:old`, purpose: 'generation', expiresAt: new Date(Date.now() - 1000) });
    const fresh = await ledger.placeHold({ accountId: id, amount: usd('0.21'), idempotencyKey: `${id}:fresh`, purpose: 'generation', expiresAt: soon() });
    expect(await ledger.expireHolds()).toBeGreaterThanOrEqual(1);
    expect((await ledger.hold(old.value.id)).status).toBe('expired');
    expect((await ledger.hold(fresh.value.id)).status).toBe('pending');
    await expect(ledger.captureHold({ holdId: old.value.id, amount: usd('0.21'), kind: 'generation_capture' })).rejects.toBeInstanceOf(HoldNotPending);
    await ledger.releaseHold({ holdId: fresh.value.id });
  });

  it('keeps ledger entries append-only', async () => {
    const id = await account();
    await ledger.post({ accountId: id, amount: usd('1'), kind: 'adjustment', idempotencyKey: `${id}:seed` });
    await expect(h.services.db('ledger_entries').where({ account_id: id }).update({ amount: 5 })).rejects.toThrow(/append-only/);
    await expect(h.services.db('ledger_entries').where({ account_id: id }).delete()).rejects.toThrow(/append-only/);
  });

  it('rejects a direct write that would make available negative', async () => {
    const id = await account();
    await expect(h.services.db('accounts').where({ id }).update({ held: 1 })).rejects.toThrow(/available_not_negative/);
  });
});
