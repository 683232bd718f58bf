import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatBilling, CoverLost } from '../../src/chat/chat-billing.js';
import { toApiError } from '../../src/http/errors.js';
import { HoldNotFound } from '../../src/ledger/index.js';
import type { CaptureInput, PlaceHoldInput, PostgresLedger } from '../../src/ledger/postgres-ledger.js';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ worker: false });
});
afterAll(async () => {
  await h?.close();
});

describe('ChatBilling: a hold placed with its commit in doubt', () => {

  /** The real ledger, except that placing a hold loses the database's answer (after it committed, or before it ran). */
  const answerLost = (commits: boolean) =>
    Object.assign(Object.create(h.services.ledger) as PostgresLedger, {
      async placeHold(input: PlaceHoldInput) {
        if (commits) await h.services.ledger.placeHold(input);
        throw new Error('Connection terminated unexpectedly');
      },
    });
  const billingOver = (ledger: PostgresLedger) =>
    new ChatBilling({
      ledger,
      logger: pino({ level: 'silent' }),
      lease: h.services.holdLease,
      handOff: () => Promise.reject(new Error('no capture is handed off here')),
      inDoubtRetryDelaysMs: [20, 20, 20],
      inDoubtSettledAfterMs: 0,
    });
  const holdFor = (billing: ChatBilling, accountId: string, requestId: string) =>
    billing.hold({ accountId, requestId, model: h.services.catalog.chat('gpt-5.2')!, promptTokenBound: 100, requestedMaxTokens: 50, choices: 1 });
  const holdOf = (requestId: string) => h.services.db('holds').where({ idempotency_key: `chat:${requestId}` }).first();

  it('releases the hold that committed though the request saw the placing fail, so no money stays held for it', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '5.00' });
    await expect(holdFor(billingOver(answerLost(true)), accountId, 'req_in_doubt_committed')).rejects.toThrow('Connection terminated');
    await expect.poll(async () => (await holdOf('req_in_doubt_committed'))?.status, { timeout: 5_000 }).toBe('released');
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ held: 0n });
    await h.expectBooksBalanced();
  });

  it('changes nothing when the placing never ran, and leaves the account\'s other holds alone', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '5.00' });
    const other = await holdFor(billingOver(h.services.ledger), accountId, 'req_in_flight');
    await expect(holdFor(billingOver(answerLost(false)), accountId, 'req_in_doubt_never_placed')).rejects.toThrow('Connection terminated');
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(await holdOf('req_in_doubt_never_placed')).toBeUndefined();
    expect((await holdOf('req_in_flight')).status).toBe('pending');
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ held: other.amount });
    await h.services.ledger.releaseHold({ holdId: other.holdId!, accountId });
    await h.expectBooksBalanced();
  });
});

describe('ChatBilling: a capture the database keeps refusing', () => {

  /** The real ledger, except that the first `failures` captures fail as a database restart would, and the hold's durability is `flushed`. */
  const restarting = (failures: number, flushed: boolean, holdSurvived = true) => {
    let failed = 0;
    return Object.assign(Object.create(h.services.ledger) as PostgresLedger, {
      holdFlushed: () => flushed,
      async captureHold(input: CaptureInput) {
        if (failed++ < failures) throw Object.assign(new Error('the database system is starting up'), { code: '57P03' });
        if (!holdSurvived) throw new HoldNotFound(input.holdId);
        return h.services.ledger.captureHold(input);
      },
    });
  };
  const captureThrough = async (ledger: PostgresLedger, requestId: string) => {
    const { accountId } = await h.createAccount({ balanceUsd: '5.00' });
    const handedOff: string[] = [];
    const billing = new ChatBilling({
      ledger,
      logger: pino({ level: 'silent' }),
      lease: h.services.holdLease,
      handOff: async (order) => void handedOff.push(order.holdId),
      captureRetryDelaysMs: [1, 1, 1],
      unflushedCaptureRetryDelaysMs: [1, 1, 1, 1, 1, 1],
    });
    const hold = await billing.hold({ accountId, requestId, model: h.services.catalog.chat('gpt-5.2')!, promptTokenBound: 100, requestedMaxTokens: 50, choices: 1 });
    const settlement = billing.settlementOf(hold, h.services.catalog.chat('gpt-5.2')!, { promptTokens: 10, completionTokens: 5, source: 'upstream' }, requestId);
    const outcome = await billing.capture(hold, settlement, requestId);
    return { outcome, handedOff, hold, accountId };
  };

  it('hands a durable hold\'s capture to a workflow after its few in-process retries', async () => {
    const { outcome, handedOff, hold, accountId } = await captureThrough(restarting(5, true), 'req_capture_flushed');
    expect(outcome.landed).toBe('handed_off');
    expect(handedOff).toEqual([hold.holdId]);
    // This test's hand-off is a stand-in, so the charge is landed here as its workflow would.
    await h.services.ledger.captureHold({ holdId: hold.holdId!, accountId, amount: 1n, kind: 'usage' });
    await h.expectBooksBalanced();
  });

  it('keeps capturing in-process a hold not yet known durable, promising nothing by a hand-off until the database answers', async () => {
    const { outcome, handedOff, hold, accountId } = await captureThrough(restarting(5, false), 'req_capture_unflushed');
    expect(outcome.landed).toBe('captured');
    expect(handedOff).toEqual([]);
    const [entry] = await h.services.db('ledger_entries').where({ hold_id: hold.holdId });
    expect(entry.kind).toBe('usage');
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ held: 0n });
    await h.expectBooksBalanced();
  });

  it('answers a 503 that charges nothing when a database crash took an unflushed hold, and a plain refusal for a flushed one', async () => {
    const lost = captureThrough(restarting(2, false, false), 'req_capture_lost');
    await expect(lost).rejects.toBeInstanceOf(CoverLost);
    const api = toApiError(await lost.catch((e: unknown) => e));
    expect(api?.status).toBe(503);
    expect(api?.headers['retry-after']).toBe('2');
    expect(api?.body().error.code).toBe('service_unavailable');
    // A hold that was durable cannot have been lost that way: its absence stays the ledger's refusal.
    await expect(captureThrough(restarting(0, true, false), 'req_capture_missing')).rejects.toBeInstanceOf(HoldNotFound);
  });

  it('releases a lost unflushed hold as nothing to release, and still refuses a flushed hold that is missing', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '5.00' });
    const billingOver = (flushed: boolean) =>
      new ChatBilling({
        ledger: Object.assign(Object.create(h.services.ledger) as PostgresLedger, {
          holdFlushed: () => flushed,
          releaseHold: async ({ holdId }: { holdId: string }) => Promise.reject(new HoldNotFound(holdId)),
        }),
        logger: pino({ level: 'silent' }),
        lease: h.services.holdLease,
        handOff: () => Promise.reject(new Error('no capture is handed off here')),
      });
    const hold = { holdId: 'hold_lost', accountId, amount: 1n, maxTokens: 1 };
    await expect(billingOver(false).release(hold)).resolves.toBeUndefined();
    await expect(billingOver(true).release(hold)).rejects.toBeInstanceOf(HoldNotFound);
  });
});
