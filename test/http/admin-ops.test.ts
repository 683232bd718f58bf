import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { harnessWithGemini, type GenerationHarness } from '../workflows/generation-fixtures.js';

const UI = 'http://temporal-ui.test:8233';

describe('admin API for the ops view: open holds, an account\'s deposits and generations with their workflows', () => {
  let g: GenerationHarness;
  let h: Harness;
  beforeAll(async () => {
    g = await harnessWithGemini({ env: { TEMPORAL_UI_URL: UI } });
    h = g.h;
  });
  afterAll(async () => g?.stop());

  it('lists pending holds across accounts oldest first, with age, account, purpose, request or generation, amount and workflow link; filters by account', async () => {
    const a = await h.createAccount({ balanceUsd: '5.00' });
    const b = await h.createAccount({ balanceUsd: '5.00' });
    const hour = new Date(Date.now() + 3_600_000);
    const chat = await h.services.ledger.placeHold({ accountId: a.accountId, amount: 1_250_000_000n, idempotencyKey: `t:${a.accountId}:chat`, purpose: 'chat', requestId: 'req_ops_1', expiresAt: hour });
    const gen = await h.services.ledger.placeHold({ accountId: b.accountId, amount: 210_000_000n, idempotencyKey: `t:${b.accountId}:gen`, purpose: 'generation', generationId: 'gen_ops_1', expiresAt: hour });

    const all = await (await h.admin('GET', '/admin/holds')).json();
    const ids = all.data.map((x: { id: string }) => x.id);
    expect(ids.indexOf(chat.value.id)).toBeLessThan(ids.indexOf(gen.value.id));
    const chatRow = all.data.find((x: { id: string }) => x.id === chat.value.id);
    expect(chatRow).toMatchObject({ account_id: a.accountId, purpose: 'chat', request_id: 'req_ops_1', generation_id: null, amount_usd: '1.25', workflow_url: null });
    expect(chatRow.age_seconds).toBeGreaterThanOrEqual(0);
    expect(chatRow.expires_at).toBe(Math.floor(hour.getTime() / 1000));
    const genRow = all.data.find((x: { id: string }) => x.id === gen.value.id);
    expect(genRow).toMatchObject({ purpose: 'generation', generation_id: 'gen_ops_1', amount_usd: '0.21', workflow_id: 'generation-gen_ops_1' });
    expect(genRow.workflow_url).toBe(`${UI}/namespaces/${encodeURIComponent(h.services.temporal.namespace)}/workflows/generation-gen_ops_1`);

    const onlyB = await (await h.admin('GET', `/admin/holds?account_id=${b.accountId}`)).json();
    expect(onlyB.data.map((x: { id: string }) => x.id)).toEqual([gen.value.id]);

    await h.services.ledger.releaseHold({ holdId: chat.value.id, accountId: a.accountId });
    await h.services.ledger.releaseHold({ holdId: gen.value.id, accountId: b.accountId });
    const after = await (await h.admin('GET', `/admin/holds?account_id=${a.accountId}`)).json();
    expect(after.data).toEqual([]);
    await h.expectBooksBalanced();
  });

  it('lists the chat allowances held across accounts largest first, with the process holding each and whether its lease lapsed; filters by account', async () => {
    const a = await h.createAccount({ balanceUsd: '5.00' });
    const b = await h.createAccount({ balanceUsd: '5.00' });
    const live = await h.services.holdLease.id();
    const dead = `lease_gone_${a.accountId}`;
    await h.services.db.raw(
      `INSERT INTO process_leases (id, host, pid, started_at, renewed_at, expires_at) VALUES (?, 'gone-host', 4242, now() - interval '1 hour', now() - interval '2 minutes', now() + interval '1 minute')`,
      [dead],
    );
    await h.services.ledger.reserveAllowance({ accountId: a.accountId, leaseId: live, amount: 30_000_000n });
    await h.services.ledger.reserveAllowance({ accountId: b.accountId, leaseId: dead, amount: 70_000_000n });
    await h.services.db('process_leases').where({ id: dead }).update({ expires_at: h.services.db.raw(`now() - interval '1 minute'`) });

    const all = (await (await h.admin('GET', '/admin/allowances')).json()).data.filter((x: any) => [a.accountId, b.accountId].includes(x.account_id));
    expect(all).toEqual([
      { object: 'chat_allowance', account_id: b.accountId, lease_id: dead, amount_usd: '0.07', process: { host: 'gone-host', pid: 4242 }, lease_expires_at: expect.any(Number), lapsed: true },
      { object: 'chat_allowance', account_id: a.accountId, lease_id: live, amount_usd: '0.03', process: { host: expect.any(String), pid: process.pid }, lease_expires_at: expect.any(Number), lapsed: false },
    ]);
    const onlyA = await (await h.admin('GET', `/admin/allowances?account_id=${a.accountId}`)).json();
    expect(onlyA.data.map((x: any) => x.lease_id)).toEqual([live]);

    await h.services.ledger.releaseAllowance(a.accountId, live);
    await h.services.ledger.releaseAllowance(b.accountId, dead);
    expect((await (await h.admin('GET', `/admin/allowances?account_id=${a.accountId}`)).json()).data).toEqual([]);
    await h.expectBooksBalanced();
  });

  it("lists an account's deposits and generations newest first, each linked to its workflow in the Temporal UI", async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const deposit = await (await h.call('POST', '/v1/billing/deposits', { key, body: { tier: 'starter', method: 'card' } })).json();
    const image = await (await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'a red kettle', n: 1 } })).json();
    expect(image.cost).toBe(0.21);

    const deposits = await (await h.admin('GET', `/admin/accounts/${accountId}/deposits`)).json();
    expect(deposits.data).toEqual([
      expect.objectContaining({ id: deposit.id, account_id: accountId, amount_usd: '10.00', workflow_id: `deposit-${deposit.id}`, workflow_url: expect.stringMatching(new RegExp(`^${UI}/namespaces/.+/workflows/deposit-${deposit.id}$`)) }),
    ]);
    const generations = await (await h.admin('GET', `/admin/accounts/${accountId}/generations`)).json();
    expect(generations.data).toEqual([
      expect.objectContaining({ id: image.id, kind: 'image', status: 'completed', cost_usd: '0.21', workflow_id: `generation-${image.id}`, workflow_url: expect.stringMatching(new RegExp(`^${UI}/.+/workflows/generation-${image.id}$`)) }),
    ]);
    await h.expectBooksBalanced();
  });

  it('refuses bad input with a 400 and an unknown account with a 404, customers with a 403', async () => {
    const { key } = await h.createAccount();
    expect((await h.admin('GET', '/admin/holds?limit=0')).status).toBe(400);
    expect((await h.admin('GET', '/admin/holds?colour=red')).status).toBe(400);
    expect((await h.admin('GET', '/admin/accounts/acct_nope/generations')).status).toBe(404);
    expect((await h.admin('GET', '/admin/accounts/acct_nope/deposits?limit=1000')).status).toBe(400);
    expect((await h.call('GET', '/admin/holds', { key })).status).toBe(403);
    expect((await h.admin('GET', '/admin/allowances?limit=501')).status).toBe(400);
    expect((await h.call('GET', '/admin/allowances', { key })).status).toBe(403);
  });
});
