import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/chat/request-log.js';
import { chargeRounds } from '../../src/ledger/allowances.js';
import { ChargeUncovered, InsufficientFunds, LeaseLapsed } from '../../src/ledger/errors.js';
import { parseUsd, type PostgresLedger } from '../../src/ledger/index.js';
import { newId } from '../../src/ids.js';
import { startHarness, type Harness } from '../support/harness.js';
import { requestRecord } from '../support/request-record.js';

const usd = parseUsd;

describe('chat allowances on PostgreSQL', () => {
  let h: Harness;
  let ledger: PostgresLedger;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
    ledger = h.services.ledger;
  });
  afterEach(async () => h.expectBooksBalanced());
  afterAll(async () => h?.close());

  const lease = async (expiresInSeconds = 60) => {
    const id = newId('lease');
    await h.services.db.raw(`INSERT INTO process_leases (id, host, pid, renewed_at, expires_at) VALUES (?, 'test', 1, now() - interval '1 hour', now() + make_interval(secs => ?))`, [id, expiresInSeconds]);
    return id;
  };
  const funded = async (amount: string) => {
    const id = (await h.services.accounts.create({ name: 'A', email: 'a@example.com' })).id;
    await ledger.post({ accountId: id, amount: usd(amount), kind: 'adjustment', idempotencyKey: `${id}:seed` });
    return id;
  };
  const allowanceOf = async (accountId: string, leaseId: string): Promise<bigint> => {
    const row = await h.services.db('chat_allowances').where({ account_id: accountId, lease_id: leaseId }).first();
    return row ? BigInt(row.amount) : 0n;
  };
  const charge = (accountId: string, leaseId: string, amount: string, request?: RequestRecord) => {
    const requestId = request?.id ?? newId('req');
    return ledger.chargeAllowance({ accountId, leaseId, amount: usd(amount), idempotencyKey: `chat:${requestId}:usage`, requestId, request });
  };
  const record = (accountId: string, cost: string) => requestRecord(accountId, newId('req'), new Date(), { cost: usd(cost) });

  it('reserves from the available balance, and refuses what it does not cover without changing anything', async () => {
    const id = await funded('1');
    const l = await lease();
    expect(await ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('0.25') })).toBe(usd('0.25'));
    expect(await ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('0.50') })).toBe(usd('0.75'));
    expect(await ledger.balance(id)).toMatchObject({ balance: usd('1'), held: usd('0.75'), available: usd('0.25') });

    const err = await ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('0.26') }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InsufficientFunds);
    expect((err as InsufficientFunds).available).toBe(usd('0.25'));
    expect(await allowanceOf(id, l)).toBe(usd('0.75'));
  });

  it('reserves nothing under a lapsed lease', async () => {
    const id = await funded('1');
    const l = await lease(-1);
    await expect(ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('0.10') })).rejects.toBeInstanceOf(LeaseLapsed);
    expect((await ledger.balance(id)).held).toBe(0n);
    expect(await allowanceOf(id, l)).toBe(0n);
  });

  it('charges the balance and keeps the allowance for the next request while the balance covers it', async () => {
    const id = await funded('1');
    const l = await lease();
    await ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('0.30') });
    const req = record(id, '0.12');
    const { value, replayed } = await charge(id, l, '0.12', req);
    expect(replayed).toBe(false);
    expect(value.allowance).toBe(usd('0.30'));
    expect(value.shrunk).toBe(0n);
    expect(value.entry).toMatchObject({ amount: -usd('0.12'), balanceAfter: usd('0.88'), kind: 'usage', requestId: req.id, holdId: null });
    expect(await ledger.balance(id)).toMatchObject({ balance: usd('0.88'), held: usd('0.30') });
    // The request's row was written by the charge's own statement.
    expect(await h.services.db('requests').where({ id: req.id }).first()).toMatchObject({ account_id: id, cost: usd('0.12') });
  });

  it('shrinks the allowance by what the balance no longer covers, so held never exceeds the balance', async () => {
    const id = await funded('1');
    const l = await lease();
    await ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('1') });
    const { value } = await charge(id, l, '0.40');
    expect(value.allowance).toBe(usd('0.60'));
    expect(value.shrunk).toBe(usd('0.40'));
    expect(await ledger.balance(id)).toMatchObject({ balance: usd('0.60'), held: usd('0.60'), available: 0n });
    expect(await allowanceOf(id, l)).toBe(usd('0.60'));
  });

  it('charges a replay once', async () => {
    const id = await funded('1');
    const l = await lease();
    await ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('0.50') });
    const requestId = newId('req');
    const order = { accountId: id, leaseId: l, amount: usd('0.10'), idempotencyKey: `chat:${requestId}:usage`, requestId };
    const results = await Promise.all([ledger.chargeAllowance(order), ledger.chargeAllowance(order), ledger.chargeAllowance(order)]);
    expect(results.filter((r) => !r.replayed)).toHaveLength(1);
    expect(new Set(results.map((r) => r.value.entry.id)).size).toBe(1);
    expect((await ledger.balance(id)).balance).toBe(usd('0.90'));
  });

  it('charges many concurrent requests of one account together, each entry on the running balance', async () => {
    const id = await funded('1');
    const l = await lease();
    await ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('0.50') });
    const charged = await Promise.all(Array.from({ length: 40 }, () => charge(id, l, '0.02')));
    expect(charged.every((c) => !c.replayed)).toBe(true);
    expect(await ledger.balance(id)).toMatchObject({ balance: usd('0.20'), held: usd('0.20'), available: 0n });
    expect(await allowanceOf(id, l)).toBe(usd('0.20'));
    // What the answers say was taken off adds up to what was, however they were batched.
    expect(charged.reduce((sum, c) => sum + c.value.shrunk, 0n)).toBe(usd('0.30'));
    // afterEach: every entry's balance_after is the running sum, held = holds + allowances.
  });

  it('without its allowance, charges only what the available balance covers and refuses the rest unchanged', async () => {
    const id = await funded('0.30');
    const l = await lease();
    await ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('0.30') });
    expect(await ledger.releaseAllowance(id, l)).toBe(usd('0.30'));
    // Available covers this one: the customer had the money for the request they made.
    expect((await charge(id, l, '0.20')).value.entry.balanceAfter).toBe(usd('0.10'));
    // Another process's allowance takes the rest of the available balance: this charge is our loss.
    await ledger.reserveAllowance({ accountId: id, leaseId: await lease(), amount: usd('0.10') });
    const req = record(id, '0.05');
    await expect(charge(id, l, '0.05', req)).rejects.toBeInstanceOf(ChargeUncovered);
    expect(await ledger.balance(id)).toMatchObject({ balance: usd('0.10'), held: usd('0.10') });
    expect(await h.services.db('requests').where({ id: req.id }).first()).toBeUndefined();
  });

  it('an uncovered charge refused with its batch does not take the others down with it', async () => {
    const id = await funded('0.10');
    const l = await lease();
    // No allowance: of three concurrent charges of 0.04, two fit the available balance.
    const results = await Promise.allSettled([charge(id, l, '0.04'), charge(id, l, '0.04'), charge(id, l, '0.04')]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(refused).toHaveLength(1);
    expect(refused[0]!.reason).toBeInstanceOf(ChargeUncovered);
    expect((await ledger.balance(id)).balance).toBe(usd('0.02'));
  });

  it('releases an allowance whole, once', async () => {
    const id = await funded('1');
    const l = await lease();
    await ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('0.40') });
    expect(await ledger.releaseAllowance(id, l)).toBe(usd('0.40'));
    expect(await ledger.releaseAllowance(id, l)).toBe(0n);
    expect(await ledger.balance(id)).toMatchObject({ balance: usd('1'), held: 0n });
  });

  it('the sweep releases the allowances of lapsed leases and leaves live ones', async () => {
    const id = await funded('1');
    const live = await lease();
    const dying = await lease(2);
    await ledger.reserveAllowance({ accountId: id, leaseId: live, amount: usd('0.10') });
    await ledger.reserveAllowance({ accountId: id, leaseId: dying, amount: usd('0.20') });
    await h.services.db('process_leases').where({ id: dying }).update({ expires_at: h.services.db.raw(`now() - interval '1 second'`) });
    expect(await ledger.releaseLapsedAllowances(100)).toBeGreaterThanOrEqual(1);
    expect(await allowanceOf(id, dying)).toBe(0n);
    expect(await allowanceOf(id, live)).toBe(usd('0.10'));
    expect((await ledger.balance(id)).held).toBe(usd('0.10'));
  });

  it('a lane batch with holds and charges applies both', async () => {
    const a = await funded('1');
    const b = await funded('1');
    const l = await lease();
    await ledger.reserveAllowance({ accountId: b, leaseId: l, amount: usd('0.30') });
    const [hold, charged] = await Promise.all([
      ledger.placeHold({ accountId: a, amount: usd('0.25'), idempotencyKey: `${a}:gen`, purpose: 'generation', expiresAt: new Date(Date.now() + 60_000) }),
      charge(b, l, '0.07'),
    ]);
    expect(hold.value.status).toBe('pending');
    expect(charged.value.entry.balanceAfter).toBe(usd('0.93'));
    await ledger.releaseHold({ holdId: hold.value.id, accountId: a });
  });

  it('the audit counts allowances in what an account holds', async () => {
    const id = await funded('1');
    const l = await lease();
    await ledger.reserveAllowance({ accountId: id, leaseId: l, amount: usd('0.10') });
    await h.expectBooksBalanced();
    await h.services.db('chat_allowances').where({ account_id: id, lease_id: l }).update({ amount: usd('0.11').toString() });
    await expect(h.expectBooksBalanced()).rejects.toThrow(/held_equals_pending_holds/);
    await h.services.db('chat_allowances').where({ account_id: id, lease_id: l }).update({ amount: usd('0.10').toString() });
  });
});

describe('chargeRounds', () => {
  it('keeps one lease per account in each round, in order', () => {
    const c = (accountId: string, leaseId: string, n: number) => ({ accountId, leaseId, n });
    const rounds = chargeRounds([c('a', 'L1', 1), c('b', 'L1', 2), c('a', 'L2', 3), c('a', 'L1', 4), c('b', 'L2', 5)]);
    expect(rounds.map((r) => r.map((x) => x.n))).toEqual([[1, 2, 4], [3, 5]]);
  });
});
