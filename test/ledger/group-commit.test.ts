import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { RequestRecord } from '../../src/chat/request-log.js';
import { createDb, type Db } from '../../src/db/connection.js';
import { GroupCommit } from '../../src/ledger/group-commit.js';
import pg from 'pg';
import { parseUsd, PostgresLedger } from '../../src/ledger/index.js';
import { loneStatementOf } from '../../src/ledger/lone-statements.js';
import type { HoldOp } from '../../src/ledger/postgres-ledger.js';
import { startHarness, type Harness } from '../support/harness.js';

describe('group commit', () => {
  it('applies a batch in one call, in partition order, and re-runs each member alone when the batch fails', async () => {
    const calls: string[][] = [];
    const apply = async (ops: string[]) => {
      calls.push(ops);
      if (ops.includes('bad')) throw new Error('batch refused');
      return ops.map((op) => `done ${op}`);
    };
    const gc = new GroupCommit(undefined as never, apply, { lanes: 1, maxBatch: 64 });
    const first = gc.run('m', 'first'); // starts a batch of its own
    const batch = Promise.allSettled([gc.run('z', 'z1'), gc.run('a', 'a1'), gc.run('k', 'bad')]);
    expect(await first).toBe('done first');
    const [z, a, bad] = await batch;
    expect(z).toEqual({ status: 'fulfilled', value: 'done z1' });
    expect(a).toEqual({ status: 'fulfilled', value: 'done a1' });
    expect(bad).toMatchObject({ status: 'rejected', reason: { message: 'batch refused' } });
    // One statement for the batch, in account order; then each member once on its own.
    expect(calls[0]).toEqual(['first']);
    expect(calls[1]).toEqual(['a1', 'bad', 'z1']);
    expect(calls.slice(2).sort()).toEqual([['a1'], ['bad'], ['z1']]);
  });

  it('takes the next operations of the callers one batch answered into one batch, not the first of them alone', async () => {
    const calls: string[][] = [];
    const apply = async (ops: string[]) => {
      calls.push(ops);
      await new Promise((resolve) => setTimeout(resolve, 1));
      return ops.map((op) => `done ${op}`);
    };
    const gc = new GroupCommit(undefined as never, apply, { lanes: 1, maxBatch: 64 });
    const busy = gc.run('account x', 'busy'); // goes at once; the holds below queue behind it
    // As a capture follows its hold: each caller's second operation is submitted some promise
    // continuations after its first was answered (the ledger's own methods are that deep).
    const caller = async (i: number) => {
      await gc.run(`account ${i}`, `hold ${i}`);
      for (let depth = 0; depth < 10; depth++) await Promise.resolve();
      await gc.run(`account ${i}`, `capture ${i}`);
    };
    await Promise.all([busy, ...Array.from({ length: 8 }, (_, i) => caller(i))]);
    expect(calls.map((ops) => ops.length)).toEqual([1, 8, 8]);
  });
});

describe('group commit on PostgreSQL', () => {
  let h: Harness;
  let db: Db;
  let ledger: PostgresLedger;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
    db = createDb(h.databaseUrl, { poolMax: 4 });
    ledger = new PostgresLedger(db, { groupCommit: { lanes: 1, maxBatch: 64 } });
  });
  afterAll(async () => {
    await ledger?.close();
    await db?.destroy();
    await h?.close();
  });

  const funded = async () => {
    const id = (await h.services.accounts.create({ name: 'G', email: 'g@example.com' })).id;
    await ledger.post({ accountId: id, amount: parseUsd('1'), kind: 'adjustment', idempotencyKey: `${id}:seed` });
    return id;
  };
  const hold = (accountId: string, key: string) =>
    ledger.placeHold({ accountId, amount: parseUsd('0.5'), idempotencyKey: key, purpose: 'chat', expiresAt: new Date(Date.now() + 60_000) });

  /** [op, account (holds only), hold id, amount in USD, idempotency key (holds only), API key] */
  type Op = [string, string | null, string, string, string | null, string | null];
  const args = (ops: Op[], expiresAt = new Date(Date.now() + 60_000)) => {
    const col = (i: number) => ops.map((o) => o[i]);
    return [
      col(0), col(1), col(2), ops.map((o) => parseUsd(o[3]).toString()), col(4),
      ops.map((o) => (o[0] === 'hold' ? 'chat' : null)), ops.map(() => null), ops.map(() => null),
      ops.map((o) => (o[0] === 'hold' ? expiresAt : null)), ops.map(() => null),
      ops.map((o) => (o[0] === 'capture' ? 'usage' : null)), ops.map((o) => (o[0] === 'release' ? 'released' : null)), col(5),
    ] as never;
  };
  const CALL = (fn: string) =>
    `SELECT * FROM ${fn}(?::text[], ?::text[], ?::text[], ?::bigint[], ?::text[], ?::text[], ?::text[], ?::text[],
       ?::timestamptz[], ?::text[], ?::text[], ?::text[], ?::text[]) ORDER BY i`;

  it('a batch with one failing member still applies the others exactly once', async () => {
    const [a, b, c] = [await funded(), await funded(), await funded()];
    const [ha, hb, hc] = [(await hold(a, `${a}:h`)).value, (await hold(b, `${b}:h`)).value, (await hold(c, `${c}:h`)).value];
    const settled = await Promise.allSettled([
      ledger.releaseHold({ holdId: (await hold(a, `${a}:other`)).value.id, accountId: a }),
      ledger.captureHold({ holdId: ha.id, accountId: a, amount: parseUsd('0.1'), kind: 'usage' }),
      // A kind the ledger_entries CHECK refuses: a database error inside the batch statement.
      ledger.captureHold({ holdId: hc.id, accountId: c, amount: parseUsd('0.1'), kind: 'bogus' as never }),
      ledger.captureHold({ holdId: hb.id, accountId: b, amount: parseUsd('0.2'), kind: 'usage' }),
    ]);
    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled']);
    expect(await ledger.balance(a)).toMatchObject({ balance: parseUsd('0.9'), held: 0n });
    expect(await ledger.balance(b)).toMatchObject({ balance: parseUsd('0.8'), held: 0n });
    expect(await ledger.balance(c)).toMatchObject({ balance: parseUsd('1'), held: parseUsd('0.5') });
    expect((await ledger.hold(hc.id)).status).toBe('pending');
    const captures = await db('ledger_entries').whereIn('hold_id', [ha.id, hb.id, hc.id]).count<{ count: string }[]>('* as count');
    expect(Number(captures[0]!.count)).toBe(2);
    await ledger.releaseHold({ holdId: hc.id });
    await h.expectBooksBalanced();
  });

  it('places, captures and releases many holds of one account concurrently without available going negative', async () => {
    const id = await funded();
    // $1 affords two $0.5 holds at a time: of 20 concurrent attempts, exactly two succeed.
    const tries = await Promise.allSettled(Array.from({ length: 20 }, (_, i) => hold(id, `${id}:many:${i}`)));
    const placed = tries.flatMap((t) => (t.status === 'fulfilled' ? [t.value.value] : []));
    expect(placed).toHaveLength(2);
    await Promise.all(placed.map((p) => ledger.captureHold({ holdId: p.id, accountId: id, amount: parseUsd('0.25'), kind: 'usage' })));
    expect(await ledger.balance(id)).toMatchObject({ balance: parseUsd('0.5'), held: 0n, available: parseUsd('0.5') });
    await h.expectBooksBalanced();
  });

  it('one batch statement keeps each account\'s running balance through its operations, across accounts and back', async () => {
    const [a, b] = [await funded(), await funded()];
    const before = (await hold(a, `${a}:before`)).value; // $0.5 of A's $1 held before the batch
    const limited = (
      await h.services.accounts.issueKey(a, {
        name: 'limited', manage: false, spendLimit: parseUsd('0.3'), limitReset: 'daily', models: null, rpm: null, tpm: null, expiresAt: null,
      })
    ).record.id;
    const id = (name: string) => `${a}:${name}`;
    const ops: Op[] = [
      ['hold', a, id('h0'), '0.4', id('k0'), limited], // over the key's $0.3: refused on the account's first touch
      ['hold', a, id('h1'), '0.4', id('k1'), null], // first touch again: available 0.5 -> 0.1
      ['hold', a, id('h2'), '0.2', id('k2'), null], // refused: 0.1 available
      ['capture', null, before.id, '0.1', null, null], // balance 0.9, held 0.4: available 0.5
      ['hold', a, id('h7'), '0.2', id('k7'), limited], // within the key's limit: available 0.3
      ['hold', a, id('h8'), '0.2', id('k8'), limited], // the key's $0.4 would exceed $0.3: refused alone
      ['release', null, id('h1'), '0', null, null], // available 0.7
      ['hold', a, id('h3'), '0.7', id('k3'), null], // exactly affordable: available 0
      ['hold', b, id('h4'), '2', id('k4'), null], // refused: B has $1
      ['hold', b, id('h5'), '1', id('k5'), null], // B's whole balance
      ['hold', a, id('h6'), '0.1', id('k6'), null], // back on A: refused only if A's figures were written back
      ['capture', null, id('h3'), '0.7', null, null], // balance 0.2, held 0.2 (h7)
    ];
    const { rows } = await db.raw(CALL('ledger_apply_holds'), args(ops));
    type Row = { h_id: string | null; k_refused: string | null; e_balance_after: bigint | null };
    expect(rows.map((r: Row) => r.h_id !== null)).toEqual([false, true, false, true, true, false, true, true, false, true, false, true]);
    expect(rows.map((r: Row) => r.k_refused !== null)).toEqual([true, false, false, false, false, true, false, false, false, false, false, false]);
    expect(rows[3].e_balance_after).toBe(parseUsd('0.9'));
    expect(rows[11].e_balance_after).toBe(parseUsd('0.2'));
    expect(await ledger.balance(a)).toMatchObject({ balance: parseUsd('0.2'), held: parseUsd('0.2') });
    expect(await ledger.balance(b)).toMatchObject({ balance: parseUsd('1'), held: parseUsd('1') });
    const [budget] = await db('api_key_budgets').where({ api_key_id: limited });
    expect(budget.held).toBe(parseUsd('0.2'));
    await ledger.releaseHold({ holdId: id('h7'), accountId: a });
    await ledger.releaseHold({ holdId: id('h5'), accountId: b });
    await h.expectBooksBalanced();
  });

  describe('the batch statement applies an order-independent batch in a few statements, with the loop\'s results', () => {
    /**
     * Runs `ops` through `fn` in a transaction that is then rolled back: what it answered, what it left
     * (timestamps and sequence values as their order), and whether the one-by-one loop ran.
     */
    const expiresAt = new Date(Date.now() + 600_000);
    const trial = async (fn: 'ledger_apply_holds_together' | 'ledger_apply_holds', ops: Op[], accounts: string[], apiKeys: string[]) => {
      const trx = await db.transaction();
      try {
        await trx.raw(`SET LOCAL track_functions = 'pl'`);
        // This backend's calls not yet reported to the statistics collector (a count that only grows here).
        const loopCalls = async () =>
          (await trx.raw(`SELECT coalesce(pg_stat_get_xact_function_calls('ledger_apply_holds'::regproc), 0)::int AS n`)).rows[0].n as number;
        const callsBefore = await loopCalls();
        const { rows } = await trx.raw(CALL(fn), args(ops, expiresAt));
        const loopRan = (await loopCalls()) > callsBefore;
        const entryIds = rows.map((r: { e_id: bigint | null }) => r.e_id).filter((v: bigint | null) => v !== null).sort((x: bigint, y: bigint) => (x < y ? -1 : 1));
        const answered = rows.map(({ h_created_at, h_settled_at, e_created_at, e_id, ...r }: Record<string, unknown>) => ({
          ...r, settled: h_settled_at !== null, created: h_created_at !== null, entry: e_id === null ? null : entryIds.indexOf(e_id),
        }));
        const left = {
          accounts: await trx('accounts').whereIn('id', accounts).orderBy('id').select('id', 'balance', 'held'),
          holds: await trx('holds').whereIn('account_id', accounts).orderBy('id').select('id', 'status', 'amount', 'captured_amount', 'idempotency_key'),
          entries: await trx('ledger_entries').whereIn('account_id', accounts).orderBy('id')
            .select('account_id', 'kind', 'amount', 'balance_after', 'idempotency_key', 'hold_id'),
          budgets: await trx('api_key_budgets').whereIn('api_key_id', apiKeys).orderBy('api_key_id').select('api_key_id', 'spent', 'held'),
        };
        return { answered, left, loopRan };
      } finally {
        await trx.rollback();
      }
    };

    const limitedKey = async (accountId: string) =>
      (await h.services.accounts.issueKey(accountId, {
        name: 'limited', manage: false, spendLimit: parseUsd('1'), limitReset: 'daily', models: null, rpm: null, tpm: null, expiresAt: null,
      })).record.id;
    const heldBy = async (accountId: string, key: string, amount: string, apiKeyId?: string) =>
      (await ledger.placeHold({ accountId, amount: parseUsd(amount), idempotencyKey: key, purpose: 'chat', expiresAt: new Date(Date.now() + 60_000), apiKeyId })).value.id;

    it('every account can afford all its new holds: one pass over the batch, the same answers and books as one by one', async () => {
      const [a, b, c] = [await funded(), await funded(), await funded()];
      const limited = await limitedKey(b);
      const [a1, a2, a5] = [await heldBy(a, `${a}:a1`, '0.2'), await heldBy(a, `${a}:a2`, '0.2'), await heldBy(a, `${a}:a5`, '0.05')];
      const b1 = await heldBy(b, `${b}:b1`, '0.3', limited);
      await heldBy(b, `${b}:existing`, '0.1');
      const c1 = await heldBy(c, `${c}:c1`, '0.1');
      await ledger.captureHold({ holdId: c1, accountId: c, amount: parseUsd('0.1'), kind: 'usage' });
      const id = (name: string) => `${a}:${name}`;
      const ops: Op[] = [
        ['hold', a, id('a3'), '0.3', id('k3'), null],
        ['capture', null, a1, '0.15', null, null], // frees 0.05 of A's hold, charges 0.15
        ['capture', null, a2, '0.2', null, null], // the whole hold: A's second entry of the batch
        ['hold', a, id('a4'), '0.1', id('k4'), null], // A's new holds need 0.4 of its 0.55 available
        ['capture', null, a5, '0.06', null, null], // more than its hold: refused
        ['capture', null, b1, '0.25', null, null], // a key's hold: its budget moves by trigger
        ['hold', b, id('b2'), '0.05', `${b}:existing`, null], // a key placed before: a replay, no row
        ['capture', null, id('missing'), '0.01', null, null], // no such hold
        ['release', null, c1, '0', null, null], // already captured: changes nothing
        ['hold', c, id('c2'), '0.9', id('kc2'), null], // exactly C's available
      ];
      const accounts = [a, b, c];
      const batch = await trial('ledger_apply_holds_together', ops, accounts, [limited]);
      const oneByOne = await trial('ledger_apply_holds', ops, accounts, [limited]);
      expect(batch.loopRan).toBe(false);
      expect(oneByOne.loopRan).toBe(true);
      expect(batch.answered).toEqual(oneByOne.answered);
      expect(batch.left).toEqual(oneByOne.left);
      expect(batch.answered.map((r: { h_id: string | null }) => r.h_id !== null)).toEqual([true, true, true, true, false, true, false, false, false, true]);
      expect(batch.answered.map((r: { e_balance_after: bigint | null }) => r.e_balance_after)).toEqual(
        [null, parseUsd('0.85'), parseUsd('0.65'), null, null, parseUsd('0.75'), null, null, null, null],
      );

      // Committed for real, the books still balance (every balance_after the running sum, in id order).
      await db.raw(CALL('ledger_apply_holds_together'), args(ops));
      expect(await ledger.balance(a)).toMatchObject({ balance: parseUsd('0.65'), held: parseUsd('0.45') });
      for (const [hold, acct] of [[id('a3'), a], [id('a4'), a], [a5, a], [id('c2'), c], [`${b}:existing`, b]] as const) {
        const row = await db('holds').where('id', hold).orWhere('idempotency_key', hold).first();
        await ledger.releaseHold({ holdId: row.id, accountId: acct });
      }
      await h.expectBooksBalanced();
    });

    it('the ledger sends batches of eight operations or more to it, a lone hold as one statement of its own, and the rest one by one', async () => {
      const own = new PostgresLedger(db, { groupCommit: { lanes: 1, maxBatch: 64 } });
      const pool = (own as unknown as { pool: import('pg').Pool }).pool;
      const prepared = async () => (await pool.query('SELECT name FROM pg_prepared_statements ORDER BY name')).rows.map((r) => r.name);
      try {
        const accounts = await Promise.all(Array.from({ length: 10 }, () => funded()));
        const place = (acct: string, key: string) =>
          own.placeHold({ accountId: acct, amount: parseUsd('0.1'), idempotencyKey: key, purpose: 'generation', expiresAt: new Date(Date.now() + 60_000) });
        await place(accounts[0]!, `${accounts[0]}:alone`);
        expect(await prepared()).toEqual(['ledger_lone_hold']);
        // The first starts a batch of its own; the other three queue meanwhile and go as one batch.
        const few = await Promise.all(accounts.slice(0, 4).map((acct) => place(acct, `${acct}:few`)));
        expect(await prepared()).toEqual(['ledger_apply_holds', 'ledger_lone_hold']);
        // The same with nine behind the first.
        const holds = await Promise.all(accounts.map((acct) => place(acct, `${acct}:together`)));
        expect(await prepared()).toEqual(['ledger_apply_holds', 'ledger_apply_holds_together', 'ledger_lone_hold']);
        await Promise.all([...few, ...holds].map((hl) => own.releaseHold({ holdId: hl.value.id, accountId: hl.value.accountId })));
        for (const acct of accounts) expect(await own.balance(acct)).toMatchObject({ held: acct === accounts[0] ? parseUsd('0.1') : 0n });
        const first = await db('holds').where('idempotency_key', `${accounts[0]}:alone`).first();
        await own.releaseHold({ holdId: first.id, accountId: accounts[0]! });
      } finally {
        await own.close();
      }
      await h.expectBooksBalanced();
    });

    it.each([
      ['a hold only affordable after a release earlier in the batch', 'release-first'],
      ['a hold on a key with a spend limit', 'limited'],
      ['two holds with one idempotency key', 'same-key'],
      ['two operations on one hold', 'same-hold'],
    ])('falls back to one by one for %s, with the loop\'s answers', async (_, kind) => {
      const a = await funded();
      const limited = await limitedKey(a);
      const a1 = await heldBy(a, `${a}:a1`, '0.5'); // A: $1, $0.5 of it held
      const id = (name: string) => `${a}:${name}`;
      const ops: Op[] = {
        'release-first': [['release', null, a1, '0', null, null], ['hold', a, id('h'), '0.9', id('k'), null]] as Op[],
        limited: [['hold', a, id('h'), '0.1', id('k'), limited]] as Op[],
        'same-key': [['hold', a, id('h1'), '0.1', id('k'), null], ['hold', a, id('h2'), '0.1', id('k'), null]] as Op[],
        'same-hold': [['capture', null, a1, '0.1', null, null], ['release', null, a1, '0', null, null]] as Op[],
      }[kind]!;
      const batch = await trial('ledger_apply_holds_together', ops, [a], [limited]);
      const oneByOne = await trial('ledger_apply_holds', ops, [a], [limited]);
      expect(batch.loopRan).toBe(true);
      expect(batch.answered).toEqual(oneByOne.answered);
      expect(batch.left).toEqual(oneByOne.left);
      // Each case has an operation whose outcome depends on the one before it.
      expect(batch.answered.map((r: { h_id: string | null }) => r.h_id !== null)).toEqual(
        { 'release-first': [true, true], limited: [true], 'same-key': [true, false], 'same-hold': [true, false] }[kind],
      );
      await ledger.releaseHold({ holdId: a1, accountId: a });
      await h.expectBooksBalanced();
    });
  });

  describe('a lone hold or capture goes as one statement of its own, with the loop\'s results', () => {
    /**
     * Runs one operation, by its lone statement or by the loop, in a transaction that is then rolled
     * back: what it answered (no row reads as the loop's row of nulls) and what it left.
     */
    const trial = async (how: 'lone' | 'loop', op: HoldOp, accounts: string[], apiKeys: string[]) => {
      const client = new pg.Client({ connectionString: h.databaseUrl });
      await client.connect();
      try {
        await client.query('BEGIN');
        // Unflushed for a chat hold, as the ledger sends it.
        const lone = loneStatementOf(op, op.op === 'hold' && op.input.purpose === 'chat')!;
        const { rows } = how === 'lone'
          ? await client.query({ text: lone.statement.text, values: lone.values })
          : await client.query(LOOP, loopArgs(op));
        const [row] = rows;
        const answered = row?.h_id == null
          ? { applied: false, refused: row?.k_refused ?? null }
          : { applied: true, refused: row.k_refused, ...Object.fromEntries(['h_id', 'h_account_id', 'h_amount', 'h_status', 'h_captured_amount', 'h_purpose',
              'h_request_id', 'h_generation_id', 'h_idempotency_key', 'h_expires_at', 'e_balance_after'].map((k) => [k, String(row[k])])),
              settled: row.h_settled_at !== null, entry: row.e_id !== null };
        const select = async (sql: string) => (await client.query(sql, [accounts])).rows;
        const left = {
          accounts: await select('SELECT id, balance, held FROM accounts WHERE id = ANY ($1) ORDER BY id'),
          holds: await select('SELECT id, status, amount, captured_amount, idempotency_key, settled_at IS NULL AS open FROM holds WHERE account_id = ANY ($1) ORDER BY id'),
          entries: await select('SELECT account_id, kind, amount, balance_after, idempotency_key, hold_id, request_id FROM ledger_entries WHERE account_id = ANY ($1) ORDER BY id'),
          budgets: (await client.query('SELECT api_key_id, spent, held FROM api_key_budgets WHERE api_key_id = ANY ($1) ORDER BY api_key_id', [apiKeys])).rows,
        };
        return { answered, left };
      } finally {
        await client.query('ROLLBACK');
        await client.end();
      }
    };
    const LOOP = `SELECT * FROM ledger_apply_holds($1::text[], $2::text[], $3::text[], $4::bigint[], $5::text[], $6::text[], $7::text[], $8::text[],
      $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[])`;
    const loopArgs = (op: HoldOp) => {
      const hold = op.op === 'hold' ? op.input : undefined;
      return [[op.op], [hold?.accountId ?? null], [op.holdId], [(op.op === 'hold' ? op.input.amount : op.op === 'capture' ? op.amount : 0n).toString()],
        [hold?.idempotencyKey ?? null], [hold?.purpose ?? null], [hold?.requestId ?? null], [hold?.generationId ?? null], [hold?.expiresAt ?? null],
        [hold?.leaseId ?? null], [op.op === 'capture' ? op.kind : null], [null], [null]];
    };
    const expiresAt = new Date(Date.now() + 600_000);
    const holdOp = (accountId: string, amount: string, key: string, purpose: 'chat' | 'generation' = 'chat'): HoldOp => ({
      op: 'hold', holdId: `${key}:id`, input: { accountId, amount: parseUsd(amount), idempotencyKey: key, purpose, expiresAt,
        requestId: purpose === 'chat' ? `req_${key}` : undefined, generationId: purpose === 'generation' ? `gen_${key}` : undefined },
    });
    const captureOp = (holdId: string, amount: string): HoldOp => ({ op: 'capture', holdId, amount: parseUsd(amount), kind: 'usage' });

    it('answers and leaves the books exactly as the loop does, for every outcome of one hold or one capture', async () => {
      const a = await funded(); // $1
      const limited = (await h.services.accounts.issueKey(a, {
        name: 'limited', manage: false, spendLimit: parseUsd('1'), limitReset: 'daily', models: null, rpm: null, tpm: null, expiresAt: null,
      })).record.id;
      const open = (await hold(a, `${a}:open`)).value; // $0.5 held: $0.5 available
      const keyed = (await ledger.placeHold({ accountId: a, amount: parseUsd('0.2'), idempotencyKey: `${a}:keyed`, purpose: 'chat', expiresAt, apiKeyId: limited })).value;
      const captured = (await ledger.placeHold({ accountId: a, amount: parseUsd('0.1'), idempotencyKey: `${a}:captured`, purpose: 'chat', expiresAt })).value;
      await ledger.captureHold({ holdId: captured.id, accountId: a, amount: parseUsd('0.05'), kind: 'usage' });
      const released = (await ledger.placeHold({ accountId: a, amount: parseUsd('0.1'), idempotencyKey: `${a}:released`, purpose: 'chat', expiresAt })).value;
      await ledger.releaseHold({ holdId: released.id, accountId: a });
      // Now balance $0.95, held $0.7: $0.25 available.
      const cases: [string, HoldOp, boolean][] = [
        ['an affordable chat hold', holdOp(a, '0.1', `${a}:new`), true],
        ['a hold of exactly the available balance', holdOp(a, '0.25', `${a}:exact`), true],
        ['a generation hold', holdOp(a, '0.21', `${a}:gen`, 'generation'), true],
        ['a hold over the available balance', holdOp(a, '0.26', `${a}:over`), false],
        ['a hold whose key was placed before (a replay)', holdOp(a, '0.1', `${a}:open`), false],
        ['a hold on an account that does not exist', holdOp('acct_missing', '0.1', `${a}:nobody`), false],
        ['a capture of part of a hold', captureOp(open.id, '0.2'), true],
        ['a capture of a whole hold', captureOp(open.id, '0.5'), true],
        ['a capture of a key-limited hold (its budget moves)', captureOp(keyed.id, '0.15'), true],
        ['a capture over its hold', captureOp(open.id, '0.51'), false],
        ['a capture of a captured hold', captureOp(captured.id, '0.05'), false],
        ['a capture of a released hold', captureOp(released.id, '0.05'), false],
        ['a capture of no hold', captureOp('hold_missing', '0.05'), false],
      ];
      for (const [name, op, applies] of cases) {
        const lone = await trial('lone', op, [a], [limited]);
        const loop = await trial('loop', op, [a], [limited]);
        expect(lone, name).toEqual(loop);
        expect(lone.answered.applied, name).toBe(applies);
      }
      // A hold for a key with a limit, and a release, are the loop's alone.
      const keyedHold = holdOp(a, '0.1', `${a}:k`) as Extract<HoldOp, { op: 'hold' }>;
      expect(loneStatementOf({ ...keyedHold, input: { ...keyedHold.input, apiKeyId: limited } }, true)).toBeNull();
      expect(loneStatementOf({ op: 'release', holdId: open.id, status: 'released' }, false)).toBeNull();
      for (const held of [open, keyed]) await ledger.releaseHold({ holdId: held.id, accountId: a });
      await h.expectBooksBalanced();
    });
  });

  it.each([
    ['in a group-commit batch', () => ledger],
    ['as its own statement', () => new PostgresLedger(db)],
  ])('writes the request row a capture carries in the capture\'s own transaction, once, and none for a refused capture (%s)', async (_, which) => {
    const l = which();
    const id = await funded();
    const request = (holdId: string, cost: bigint): RequestRecord => ({
      id: `req_${holdId}`, accountId: id, apiKeyId: null, endpoint: '/v1/chat/completions', model: 'gpt-5.2', status: 'completed',
      httpStatus: 200, stream: false, promptTokens: 12, completionTokens: 7, cachedTokens: null, cacheWriteTokens: null, cost, holdId,
      errorCode: null, upstreamLatencyMs: 4, overheadMs: 1, maxTokens: 64, usageSource: 'upstream', createdAt: new Date(), completedAt: new Date(),
    });
    const [a, b] = [(await hold(id, `${id}:row:a`)).value, (await hold(id, `${id}:row:b`)).value];
    const [first, refused] = await Promise.allSettled([
      l.captureHold({ holdId: a.id, accountId: id, amount: parseUsd('0.1'), kind: 'usage', request: request(a.id, parseUsd('0.1')) }),
      // More than the hold: refused, so its row must not be written.
      l.captureHold({ holdId: b.id, accountId: id, amount: parseUsd('0.6'), kind: 'usage', request: request(b.id, parseUsd('0.6')) }),
    ]);
    expect(first.status).toBe('fulfilled');
    expect(refused.status).toBe('rejected');
    const replay = await l.captureHold({ holdId: a.id, accountId: id, amount: parseUsd('0.1'), kind: 'usage', request: request(a.id, parseUsd('0.1')) });
    expect(replay.replayed).toBe(true);
    const rows = await db('requests').where({ account_id: id }).select('id', 'cost', 'total_tokens', 'hold_id', 'usage_source', db.raw('xmin::text AS tx'));
    expect(rows).toEqual([{ id: `req_${a.id}`, cost: parseUsd('0.1'), total_tokens: 19, hold_id: a.id, usage_source: 'upstream', tx: expect.any(String) }]);
    const [entry] = await db('ledger_entries').where({ hold_id: a.id, kind: 'usage' }).select(db.raw('xmin::text AS tx'));
    expect(rows[0].tx).toBe(entry.tx);
    await l.releaseHold({ holdId: b.id, accountId: id });
    await h.expectBooksBalanced();
  });

  it('commits a batch of nothing but chat holds without waiting for its WAL flush, and every other batch with it', async () => {
    const id = await funded();
    await ledger.post({ accountId: id, amount: parseUsd('1'), kind: 'adjustment', idempotencyKey: `${id}:more` });
    const expiresAt = new Date(Date.now() + 60_000);
    const alone = await hold(id, `${id}:alone`);
    expect(alone.unflushed).toBe(true);
    // The relaxation was the hold's own transaction's: the lane's one connection commits synchronously again.
    const pool = (ledger as unknown as { pool: import('pg').Pool }).pool;
    expect((await pool.query('SHOW synchronous_commit')).rows[0].synchronous_commit).toBe('on');
    // A generation hold takes the lane; a chat hold and a capture queue up meanwhile and share the next batch.
    const [generation, mixed] = await Promise.all([
      ledger.placeHold({ accountId: id, amount: parseUsd('0.1'), idempotencyKey: `${id}:gen`, purpose: 'generation', expiresAt }),
      hold(id, `${id}:mixed`),
      ledger.captureHold({ holdId: alone.value.id, accountId: id, amount: parseUsd('0.2'), kind: 'usage' }),
    ]);
    expect(generation.unflushed).toBeUndefined();
    expect(mixed.unflushed).toBeUndefined();
    // A hold inside a caller's transaction never relaxes that transaction.
    const inside = await new PostgresLedger(db).placeHold({ accountId: id, amount: parseUsd('0.1'), idempotencyKey: `${id}:plain`, purpose: 'chat', expiresAt });
    expect(inside.unflushed).toBeUndefined();
    for (const h of [generation, mixed, inside]) await ledger.releaseHold({ holdId: h.value.id, accountId: id });
    expect(await ledger.balance(id)).toMatchObject({ balance: parseUsd('1.8'), held: 0n });
    await h.expectBooksBalanced();
  });

  it('knows an unflushed chat hold durable once a synchronous batch sent after it committed, and not before', async () => {
    const id = await funded();
    const placed = await hold(id, `${id}:flush`);
    expect(placed.unflushed).toBe(true);
    expect(ledger.holdFlushed(placed.value.id)).toBe(false);
    // Another chat hold commits unflushed too, so it proves nothing.
    const other = await hold(id, `${id}:flush-other`);
    expect(ledger.holdFlushed(placed.value.id)).toBe(false);
    // A synchronous batch (a release) sent after the hold's acknowledgement flushed the WAL past it.
    await ledger.releaseHold({ holdId: other.value.id, accountId: id });
    expect(ledger.holdFlushed(placed.value.id)).toBe(true);
    await ledger.releaseHold({ holdId: placed.value.id, accountId: id });
    await h.expectBooksBalanced();
  });

  it('survives its connections being cut (a database restart) and reconnects for the next batch', async () => {
    const id = await funded();
    const first = (await hold(id, `${id}:before-cut`)).value;
    // Every backend of the group-commit pool (named by its application name) is terminated while idle,
    // as a restart or a failover does. An unheard pool error would end the process (and this test file).
    const cut = await db.raw(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE pid <> pg_backend_pid() AND datname = current_database()
         AND application_name = 'cheapa-ledger'`,
    );
    expect(cut.rows.length).toBeGreaterThan(0);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const second = (await hold(id, `${id}:after-cut`)).value;
    await ledger.captureHold({ holdId: first.id, accountId: id, amount: parseUsd('0.1'), kind: 'usage' });
    await ledger.releaseHold({ holdId: second.id, accountId: id });
    expect(await ledger.balance(id)).toMatchObject({ balance: parseUsd('0.9'), held: 0n });
    await h.expectBooksBalanced();
  });
});
