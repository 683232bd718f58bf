import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ChatBilling } from '../../src/chat/chat-billing.js';
import type { PlaceHoldInput, PostgresLedger } from '../../src/ledger/postgres-ledger.js';
import { startHarness, type Harness } from '../support/harness.js';

describe('ChatBilling: a hold placed with its commit in doubt', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
  });
  afterAll(async () => {
    await h?.close();
  });

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
    await h.services.ledger.releaseHold({ holdId: other.holdId, accountId });
    await h.expectBooksBalanced();
  });
});
