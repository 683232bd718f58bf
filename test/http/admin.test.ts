import { describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';

describe('admin API and API keys', () => {
  let h: Harness;
  useHarness(() => startHarness({ worker: false }), (started) => (h = started));

  it('finds accounts by exact id or a part of the name or email, and treats LIKE wildcards as text', async () => {
    const tag = `zz${Date.now()}`;
    const a = await (await h.admin('POST', '/admin/accounts', { name: `Quinn ${tag}`, email: `quinn.${tag}@example.com` })).json();
    await h.admin('POST', '/admin/accounts', { name: `Other ${tag}`, email: `other.${tag}@example.com` });
    const byName = await (await h.admin('GET', `/admin/accounts?q=${encodeURIComponent(`quinn ${tag}`)}`)).json();
    expect(byName.data.map((x: any) => x.id)).toEqual([a.id]);
    const byEmail = await (await h.admin('GET', `/admin/accounts?q=quinn.${tag}@`)).json();
    expect(byEmail.data.map((x: any) => x.id)).toEqual([a.id]);
    const byId = await (await h.admin('GET', `/admin/accounts?q=${a.id}`)).json();
    expect(byId.data).toEqual([expect.objectContaining({ id: a.id, available_usd: '0.00' })]);
    const wildcard = await (await h.admin('GET', `/admin/accounts?q=${encodeURIComponent(`%${tag}`)}`)).json();
    expect(wildcard.data).toEqual([]);
    expect((await h.admin('GET', '/admin/accounts?limit=0')).status).toBe(400);
  });

  it('creates an account, issues a key shown once, and reports balance, held and available', async () => {
    const created = await h.admin('POST', '/admin/accounts', { name: 'Ada', email: 'ada@example.com' });
    expect(created.status).toBe(201);
    const account = await created.json();
    expect(account).toMatchObject({ object: 'account', name: 'Ada', balance_usd: '0.00', available_usd: '0.00' });

    const keyRes = await h.admin('POST', `/admin/accounts/${account.id}/keys`, { name: 'ci' });
    expect(keyRes.status).toBe(201);
    const key = await keyRes.json();
    expect(key.key).toMatch(/^sk-cheapa-/);
    expect(key.key.startsWith(key.prefix)).toBe(true);

    const fetched = await (await h.admin('GET', `/admin/accounts/${account.id}`)).json();
    expect(JSON.stringify(fetched)).not.toContain(key.key);
    expect(fetched.api_keys).toEqual([expect.objectContaining({ id: key.id, prefix: key.prefix, revoked_at: null })]);
    const stored = await h.services.db('api_keys').where({ id: key.id }).first();
    expect(JSON.stringify(stored)).not.toContain(key.key);
  });

  it('posts positive and negative adjustments with an audit trail, idempotently with Idempotency-Key', async () => {
    const { accountId } = await h.createAccount();
    const body = { amount_usd: '10.00', reason: 'goodwill after incident 42', request_ids: ['req_a', 'req_b'] };
    const first = await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, body, { 'idempotency-key': 'adj-1' });
    expect(first.status).toBe(201);
    const entry = await first.json();
    expect(entry).toMatchObject({ kind: 'adjustment', amount_usd: '10.00', balance_after_usd: '10.00', actor: 'admin', request_ids: ['req_a', 'req_b'] });
    const replay = await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, body, { 'idempotency-key': 'adj-1' });
    expect(replay.headers.get('idempotent-replayed')).toBe('true');
    expect((await replay.json()).id).toBe(entry.id);

    const debit = await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, { amount_usd: '-2.5', reason: 'reversal of duplicate credit' });
    expect(debit.status).toBe(201);
    const acct = await (await h.admin('GET', `/admin/accounts/${accountId}`)).json();
    expect(acct).toMatchObject({ balance_usd: '7.50', held_usd: '0.00', available_usd: '7.50' });

    const over = await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, { amount_usd: '-7.51', reason: 'too much' });
    expect(over.status).toBe(402);
    expect((await (await h.admin('GET', `/admin/accounts/${accountId}`)).json()).balance_usd).toBe('7.50');
  });

  it.each([
    [{ amount_usd: 'ten', reason: 'x reason' }, 'amount_usd'],
    [{ amount_usd: '0', reason: 'zero amount' }, 'amount_usd'],
    [{ amount_usd: '1.0000000001', reason: 'too precise' }, null],
    [{ amount_usd: '1.00' }, 'reason'],
    [{ amount_usd: '1.00', reason: 'ok reason', extra: true }, null],
  ])('refuses a bad adjustment %j with 400 and changes nothing', async (body, param) => {
    const { accountId } = await h.createAccount();
    const res = await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, body);
    expect(res.status).toBe(400);
    const { error } = await res.json();
    expect(error).toMatchObject({ type: 'invalid_request_error' });
    expect(typeof error.message).toBe('string');
    if (param) expect(error.param).toBe(param);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(0n);
  });

  it('refuses malformed JSON and unknown accounts with OpenAI-shaped errors', async () => {
    const bad = await h.admin('POST', '/admin/accounts', '{"name": ', { 'content-type': 'application/json' });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.code).toBe('invalid_json');
    const missing = await h.admin('GET', '/admin/accounts/acct_nope');
    expect(missing.status).toBe(404);
    expect((await missing.json()).error).toMatchObject({ code: 'not_found' });
    const badEmail = await h.admin('POST', '/admin/accounts', { name: 'x', email: 'not-an-email' });
    expect(badEmail.status).toBe(400);
    expect((await badEmail.json()).error.param).toBe('email');
  });

  it('answers 401 without the admin token and 403 for a customer key', async () => {
    const { key } = await h.createAccount();
    expect((await h.call('POST', '/admin/reconcile')).status).toBe(401);
    expect((await h.call('POST', '/admin/reconcile', { key: 'wrong-token-value' })).status).toBe(401);
    const forbidden = await h.call('POST', '/admin/reconcile', { key });
    expect(forbidden.status).toBe(403);
    expect((await forbidden.json()).error.type).toBe('permission_error');
  });

  it('answers 401 for a missing, malformed, unknown or revoked key, and revocation takes effect at once', async () => {
    const { key, keyId } = await h.createAccount({ balanceUsd: '1.00' });
    const path = '/v1/dashboard/billing/credit_grants';
    expect((await h.call('GET', path, { key })).status).toBe(200);
    expect((await h.call('GET', path)).status).toBe(401);
    expect((await h.call('GET', path, { headers: { authorization: 'Basic abc' } })).status).toBe(401);
    expect((await h.call('GET', path, { key: 'sk-cheapa-' + 'A'.repeat(43) })).status).toBe(401);
    const revoke = await h.admin('DELETE', `/admin/keys/${keyId}`);
    expect(revoke.status).toBe(200);
    const after = await h.call('GET', path, { key });
    expect(after.status).toBe(401);
    const { error } = await after.json();
    expect(error).toMatchObject({ code: 'invalid_api_key', type: 'invalid_request_error' });
    expect(error.message).toContain('revoked');
    expect(error.message).not.toContain(key);
  });

  it('shows the balance in the legacy credit_summary shape with holds kept out of available', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '10.00' });
    await h.services.ledger.post({ accountId, amount: -1_102_500n, kind: 'usage', idempotencyKey: `${accountId}:use` });
    const hold = await h.services.ledger.placeHold({
      accountId,
      amount: 210_000_000n,
      idempotencyKey: `${accountId}:hold`,
      purpose: 'generation',
      expiresAt: new Date(Date.now() + 60_000),
    });
    const res = await h.call('GET', '/v1/dashboard/billing/credit_grants', { key });
    const body = await res.json();
    expect(body).toMatchObject({
      object: 'credit_summary',
      total_granted: 10,
      total_used: 0.0011025,
      total_available: 9.7888975,
      total_held: 0.21,
    });
    expect(body.grants.data).toEqual([expect.objectContaining({ object: 'credit_grant', grant_amount: 10, used_amount: 0.0011025 })]);
    await h.services.ledger.releaseHold({ holdId: hold.value.id });
  });

  it('reports every invariant from /admin/reconcile', async () => {
    const res = await h.admin('POST', '/admin/reconcile');
    const report = await res.json();
    expect(report.ok).toBe(true);
    expect(report.checks.map((c: { name: string }) => c.name)).toEqual(
      expect.arrayContaining(['balance_equals_entries', 'held_equals_pending_holds', 'available_not_negative', 'captured_holds_charged_once']),
    );
  });
});
