import { describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import { startDepositHarness, stripeSandbox } from '../payments/deposit-fixtures.js';

/**
 * Floods from one API key replayed from issue 10 §4: every deposit opens a checkout at the payment
 * provider and every support request lands in the ops queue, so one key must not open them without end.
 */

let h: Harness;
useHarness(startDepositHarness, (started) => (h = started));

const MAX_OPEN_DEPOSITS = 5; // DEPOSIT_MAX_OPEN's default
const MAX_OPEN_SUPPORT = 10; // SUPPORT_MAX_OPEN's default
const countOf = async (table: string, accountId: string) =>
  Number((await h.services.db(table).where({ account_id: accountId }).count({ n: '*' }))[0]!.n);

describe('attack 3: floods from one key', () => {
  it('30 concurrent deposits from one key open at most the cap of provider checkouts; the rest are 429 with Retry-After', async () => {
    const { accountId, key } = await h.createAccount();
    const checkoutsBefore = stripeSandbox(h).sessions().length;
    const answers = await Promise.all(
      Array.from({ length: 30 }, () => h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' } })),
    );
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses.filter((s) => s === 201)).toHaveLength(MAX_OPEN_DEPOSITS);
    expect(statuses.filter((s) => s === 429)).toHaveLength(30 - MAX_OPEN_DEPOSITS);
    const refused = answers.find((r) => r.status === 429)!;
    expect(Number(refused.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(refused.headers.get('x-should-retry')).toBe('false');
    expect((await refused.json()).error).toMatchObject({ type: 'rate_limit_error', code: 'too_many_open_deposits' });

    expect(stripeSandbox(h).sessions().length - checkoutsBefore).toBe(MAX_OPEN_DEPOSITS);
    expect(await countOf('deposits', accountId)).toBe(MAX_OPEN_DEPOSITS);
  });

  it('the cap is per account, and a replay of an Idempotency-Key at the cap still returns its deposit', async () => {
    const full = await h.createAccount();
    const first = await h.call('POST', '/v1/billing/deposits', { key: full.key, body: { tier: 'starter', method: 'card' }, headers: { 'idempotency-key': 'dep-1' } });
    expect(first.status).toBe(201);
    for (let i = 1; i < MAX_OPEN_DEPOSITS; i++) {
      expect((await h.call('POST', '/v1/billing/deposits', { key: full.key, body: { tier: 'starter', method: 'card' } })).status).toBe(201);
    }
    expect((await h.call('POST', '/v1/billing/deposits', { key: full.key, body: { tier: 'starter', method: 'card' } })).status).toBe(429);
    const replay = await h.call('POST', '/v1/billing/deposits', { key: full.key, body: { tier: 'starter', method: 'card' }, headers: { 'idempotency-key': 'dep-1' } });
    expect(replay.status).toBe(200);
    expect((await replay.json()).id).toBe((await first.json()).id);

    const other = await h.createAccount();
    expect((await h.call('POST', '/v1/billing/deposits', { key: other.key, body: { tier: 'starter', method: 'card' } })).status).toBe(201);
  });

  it('a deposit whose checkout expired no longer counts against the cap', async () => {
    const { accountId, key } = await h.createAccount();
    for (let i = 0; i < MAX_OPEN_DEPOSITS; i++) {
      expect((await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' } })).status).toBe(201);
    }
    expect((await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' } })).status).toBe(429);
    // As if one checkout had run out of time before its workflow noticed.
    const oldest = await h.services.db('deposits').where({ account_id: accountId }).orderBy('id').first();
    await h.services.db('deposits').where({ id: oldest.id }).update({ expires_at: new Date(Date.now() - 1000) });
    expect((await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' } })).status).toBe(201);
  });

  it('concurrent support requests from one key stop at the cap of open requests with 429', async () => {
    const { accountId, key } = await h.createAccount();
    const answers = await Promise.all(
      Array.from({ length: 25 }, (_, i) => h.call('POST', '/v1/billing/support', { key, body: { kind: 'other', message: `message number ${i}` } })),
    );
    expect(answers.filter((r) => r.status === 201)).toHaveLength(MAX_OPEN_SUPPORT);
    const refused = answers.filter((r) => r.status === 429);
    expect(refused).toHaveLength(25 - MAX_OPEN_SUPPORT);
    expect(refused[0]!.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await refused[0]!.json()).error.code).toBe('too_many_open_support_requests');
    expect(await countOf('support_requests', accountId)).toBe(MAX_OPEN_SUPPORT);

    // Once ops resolved one, the account may write again.
    const [one] = await h.services.db('support_requests').where({ account_id: accountId, status: 'open' }).limit(1).select('id');
    await h.services.db('support_requests').where({ id: one.id }).update({ status: 'closed', closed_at: new Date(), reply: 'answered' });
    expect((await h.call('POST', '/v1/billing/support', { key, body: { kind: 'other', message: 'one more question' } })).status).toBe(201);
  });
});
