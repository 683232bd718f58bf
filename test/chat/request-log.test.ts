import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RequestLog } from '../../src/chat/request-log.js';
import { requestRecord as record } from '../support/request-record.js';
import { startHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await startHarness({ worker: false });
});
afterAll(async () => h?.close());

describe('RequestLog', () => {
  it('leaves the commit of the caller\'s transaction durable: a generation settles its capture with its row', async () => {
    const { accountId } = await h.createAccount();
    await h.services.db.transaction(async (trx) => {
      await new RequestLog(trx).record(record(accountId, 'req_in_caller_trx', new Date()));
      const { rows } = await trx.raw('SHOW synchronous_commit');
      expect(rows[0].synchronous_commit).toBe('on');
    });
    const [stored] = await h.services.db('requests').where({ id: 'req_in_caller_trx' });
    expect(stored).toBeDefined();
  });

  it('stores every row of a burst of concurrent calls, and a bad row fails alone', async () => {
    const { accountId } = await h.createAccount();
    const log = new RequestLog(h.services.db);
    const at = new Date();
    const results = await Promise.allSettled([
      ...Array.from({ length: 60 }, (_, i) => log.record(record(accountId, `req_burst_${i}`, at, { cost: BigInt(i) }))),
      log.record(record('acct_missing', 'req_orphan', at)),
    ]);
    expect(results.slice(0, 60).every((r) => r.status === 'fulfilled')).toBe(true);
    expect(results[60]!.status).toBe('rejected');
    const rows = await h.services.db('requests').where({ account_id: accountId });
    expect(rows).toHaveLength(60);
    expect(rows.reduce((sum, r) => sum + r.cost, 0n)).toBe(BigInt((59 * 60) / 2));
    expect(rows.find((r) => r.id === 'req_burst_7')).toMatchObject({ total_tokens: 15, usage_source: 'upstream', max_tokens: 100 });
  });

  it('keeps the first row when a request id is recorded twice', async () => {
    const { accountId } = await h.createAccount();
    const log = new RequestLog(h.services.db);
    await log.record(record(accountId, 'req_twice', new Date(), { cost: 1n }));
    await log.record(record(accountId, 'req_twice', new Date(), { cost: 2n }));
    expect((await h.services.db('requests').where({ id: 'req_twice' })).map((r) => r.cost)).toEqual([1n]);
  });
});
