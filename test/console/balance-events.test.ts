import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';

/** Reads `balance` events from the console's stream as they arrive. */
async function openStream(h: Harness, cookie: string) {
  const controller = new AbortController();
  const res = await fetch(`${h.baseUrl}/console/api/balance/events`, { headers: { cookie }, signal: controller.signal });
  expect(res.status).toBe(200);
  expect(res.headers.get('content-type')).toContain('text/event-stream');
  const reader = res.body!.getReader();
  const decoder = new TextDecoder();
  let buffered = '';
  const events: any[] = [];
  const pump = (async () => {
    try {
      for (;;) {
        const { value, done } = await reader.read();
        if (done) return;
        buffered += decoder.decode(value, { stream: true });
        let end;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const block = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = block.split('\n').find((l) => l.startsWith('data: '));
          if (block.startsWith('event: balance') && data) events.push(JSON.parse(data.slice(6)));
        }
      }
    } catch {
      // aborted by close()
    }
  })();
  return {
    events,
    /** Waits for an event matching the predicate (the stream pushes; the test only waits for it). */
    async next(match: (e: any) => boolean) {
      for (let i = 0; i < 200; i++) {
        const found = events.find(match);
        if (found) return found;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no matching balance event; saw ${JSON.stringify(events)}`);
    },
    async close() {
      controller.abort();
      await pump;
    },
  };
}

describe('the console balance stream', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false, env: { CONSOLE_SIGNUP: 'closed' } });
  });
  afterEach(async () => h.expectBooksBalanced());
  afterAll(async () => h?.close());

  async function signedIn(accountId: string) {
    const invitation = await (await h.admin('POST', `/admin/accounts/${accountId}/console-invitations`, { email: `watch${accountId}@example.com` })).json();
    const res = await fetch(`${h.baseUrl}/console/api/links/redeem`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ token: invitation.url.split('#/link/')[1], password: 'correct horse battery' }),
    });
    return res.headers.get('set-cookie')!.split(';')[0]!;
  }

  it('pushes the balance at once, and again when the ledger changes, without the browser asking', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const stream = await openStream(h, await signedIn(accountId));
    await stream.next((e) => e.available_usd === '1.00');

    const credited = await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, { amount_usd: '4.00', reason: 'top-up by support' });
    expect(credited.status).toBe(201);
    await stream.next((e) => e.balance_usd === '5.00' && e.available_usd === '5.00');

    const hold = await h.services.ledger.placeHold({
      accountId,
      amount: 210_000_000n,
      purpose: 'generation',
      idempotencyKey: `watch-${accountId}`,
      expiresAt: new Date(Date.now() + 60_000),
    });
    await stream.next((e) => e.held_usd === '0.21' && e.available_usd === '4.79');
    await h.services.ledger.releaseHold({ holdId: hold.value.id, accountId });
    await stream.next((e) => e.held_usd === '0.00');
    await stream.close();
  });

  it('notifies only for watched accounts: a change to an unwatched account sends nothing', async () => {
    const watched = await h.createAccount({ balanceUsd: '1.00' });
    const other = await h.createAccount({ balanceUsd: '1.00' });
    const stream = await openStream(h, await signedIn(watched.accountId));
    await stream.next((e) => e.available_usd === '1.00');
    const before = stream.events.length;
    await h.admin('POST', `/admin/accounts/${other.accountId}/adjustments`, { amount_usd: '3.00', reason: 'elsewhere' });
    await h.admin('POST', `/admin/accounts/${watched.accountId}/adjustments`, { amount_usd: '2.00', reason: 'here' });
    await stream.next((e) => e.available_usd === '3.00');
    expect(stream.events.slice(before).every((e) => e.available_usd !== '4.00')).toBe(true);
    expect(await h.services.db('balance_watches').where({ account_id: other.accountId }).first()).toBeUndefined();
    await stream.close();
  });

  it('pushes when a deposit of the account changes though no money moved (opened, expired, receipt recorded)', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const stream = await openStream(h, await signedIn(accountId));
    await stream.next((e) => e.available_usd === '1.00');
    const deposits = h.services.payments.deposits;
    const pushed = async (change: () => Promise<unknown>) => {
      const before = stream.events.length;
      await change();
      await stream.next(() => stream.events.length > before);
    };
    let id = '';
    await pushed(async () => {
      const made = await deposits.create({ accountId, method: 'card', provider: 'stripe', tier: 'starter', amount: 10_000_000_000n, expiresAt: new Date(Date.now() + 3_600_000) });
      id = made.deposit.id;
    });
    await pushed(() => deposits.recordEvent(id, { eventId: 'test-expired', source: 'api', note: 'checkout expired' }, 'expired'));
    await pushed(() => deposits.setReceiptUrl(id, 'https://receipts.example/r/1'));
    // Every push still carries the ledger's figures, unchanged.
    expect(stream.events.every((e) => e.available_usd === '1.00')).toBe(true);
    await stream.close();
  });

  it('refuses the stream without a session', async () => {
    expect((await fetch(`${h.baseUrl}/console/api/balance/events`)).status).toBe(401);
  });
});
