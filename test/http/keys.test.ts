import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { parseUsd } from '../../src/ledger/money.js';
import type { Harness } from '../support/harness.js';
import { chatHarness } from './chat-upstream.js';

const chat = chatHarness();
let h: Harness;
beforeAll(() => ({ h } = chat));

const messages = [{ role: 'user' as const, content: 'Count to three.' }];

async function createKey(key: string, body: Record<string, unknown>) {
  const response = await h.call('POST', '/v1/keys', { key, body });
  expect(response.status, await response.clone().text()).toBe(201);
  return response.json();
}

async function activeKeyIds(key: string): Promise<string[]> {
  const response = await h.call('GET', '/v1/keys', { key });
  expect(response.status).toBe(200);
  return (await response.json()).data.map((k: any) => k.id);
}

describe('/v1/keys', () => {
  it('lets the first key create a key with every setting; the secret appears only in the 201 answer', async () => {
    const { key, keyId } = await h.createAccount({ balanceUsd: '1.00' });
    const expires = new Date(Date.now() + 86_400_000);
    const created = await createKey(key, {
      name: 'ci',
      limit_usd: '12.50',
      limit_reset: 'monthly',
      models: ['gpt-5.2', 'gpt-5.2', 'nano-banana-2'],
      rpm: 60,
      tpm: 100000,
      expires_at: expires.toISOString(),
    });
    expect(created).toMatchObject({
      object: 'api_key',
      name: 'ci',
      manage: false,
      limit_usd: '12.50',
      limit_reset: 'monthly',
      models: ['gpt-5.2', 'nano-banana-2'],
      rpm: 60,
      tpm: 100000,
      expires_at: Math.floor(expires.getTime() / 1000),
      revoked_at: null,
    });
    expect(created.key.startsWith(created.prefix)).toBe(true);

    const listed = await (await h.call('GET', '/v1/keys', { key })).json();
    expect(listed.data.map((k: any) => k.id)).toEqual([keyId, created.id]);
    expect(listed.data[0].manage).toBe(true);
    expect(JSON.stringify(listed)).not.toContain(created.key);
    const stored = await h.services.db('api_keys').where({ id: created.id }).first();
    expect(Object.values(stored).map(String)).not.toContain(created.key);
    expect(stored.key_hash).not.toContain(created.key.slice(created.prefix.length));

    // The new key works, and being no management key it may not manage keys.
    expect((await h.call('GET', '/v1/models', { key: created.key })).status).toBe(200);
    for (const [method, path] of [['GET', '/v1/keys'], ['POST', '/v1/keys'], ['PATCH', `/v1/keys/${keyId}`], ['DELETE', `/v1/keys/${keyId}`]] as const) {
      const refused = await h.call(method, path, { key: created.key, body: method === 'POST' || method === 'PATCH' ? { name: 'x' } : undefined });
      expect(refused.status).toBe(403);
      expect((await refused.json()).error).toMatchObject({ type: 'permission_error', code: 'permission_denied' });
    }
    expect(await activeKeyIds(key)).toEqual([keyId, created.id]);
  });

  it('answers 400 naming the field for inconsistent or malformed settings, and creates nothing', async () => {
    const { key, keyId } = await h.createAccount();
    const cases: [Record<string, unknown>, string][] = [
      [{ name: 'a', models: ['no-such-model'] }, 'models'],
      [{ name: 'a', limit_reset: 'daily' }, 'limit_reset'],
      [{ name: 'a', limit_usd: '-1' }, 'limit_usd'],
      [{ name: 'a', limit_usd: '0.0000000001' }, 'limit_usd'],
      [{ name: 'a', limit_reset: 'yearly', limit_usd: 1 }, 'limit_reset'],
      [{ name: 'a', expires_at: '2020-01-01T00:00:00Z' }, 'expires_at'],
      [{ name: 'a', expires_at: 'tomorrow' }, 'expires_at'],
      [{ name: 'a', rpm: 0 }, 'rpm'],
      [{ name: 'a', rpm: 1.5 }, 'rpm'],
      [{ name: '' }, 'name'],
      [{ name: 'a', colour: 'red' }, ''],
    ];
    for (const [body, param] of cases) {
      const response = await h.call('POST', '/v1/keys', { key, body });
      expect(response.status, JSON.stringify(body)).toBe(400);
      const { error } = await response.json();
      expect(error.type).toBe('invalid_request_error');
      if (param) expect(error.param).toBe(param);
    }
    const malformed = await h.call('POST', '/v1/keys', { key, body: '{"name":', headers: { 'content-type': 'application/json' } });
    expect(malformed.status).toBe(400);
    expect(await activeKeyIds(key)).toEqual([keyId]);
  });

  it('changes only the fields a PATCH names, clears a setting with null, and keeps other accounts\u2019 keys out of reach', async () => {
    const { key } = await h.createAccount();
    const other = await h.createAccount();
    const created = await createKey(key, { name: 'worker', limit_usd: 5, limit_reset: 'daily', rpm: 10, models: ['gpt-5.2'] });

    const patched = await h.call('PATCH', `/v1/keys/${created.id}`, { key, body: { name: 'renamed', rpm: null, models: null } });
    expect(patched.status).toBe(200);
    expect(await patched.json()).toMatchObject({ name: 'renamed', rpm: null, models: null, limit_usd: '5.00', limit_reset: 'daily' });

    const inconsistent = await h.call('PATCH', `/v1/keys/${created.id}`, { key, body: { limit_usd: null } });
    expect(inconsistent.status).toBe(400);
    expect((await inconsistent.json()).error.param).toBe('limit_reset');
    const cleared = await h.call('PATCH', `/v1/keys/${created.id}`, { key, body: { limit_usd: null, limit_reset: null } });
    expect(await cleared.json()).toMatchObject({ limit_usd: null, limit_reset: null });

    for (const [method, body] of [['PATCH', { name: 'mine now' }], ['DELETE', undefined]] as const) {
      const response = await h.call(method, `/v1/keys/${created.id}`, { key: other.key, body });
      expect(response.status).toBe(404);
    }
    expect((await h.call('PATCH', '/v1/keys/key_nope', { key, body: { name: 'x' } })).status).toBe(404);
  });

  it('revokes a deleted key at once, lets a key delete itself, and always keeps one management key', async () => {
    const { key, keyId } = await h.createAccount();
    const worker = await createKey(key, { name: 'worker' });

    const deleted = await h.call('DELETE', `/v1/keys/${worker.id}`, { key });
    expect(deleted.status).toBe(200);
    expect(await deleted.json()).toMatchObject({ id: worker.id, deleted: true });
    const revoked = await h.call('GET', '/v1/models', { key: worker.key });
    expect(revoked.status).toBe(401);
    expect((await h.call('DELETE', `/v1/keys/${worker.id}`, { key })).status).toBe(404);

    for (const [method, body] of [['DELETE', undefined], ['PATCH', { manage: false }]] as const) {
      const refused = await h.call(method, `/v1/keys/${keyId}`, { key, body });
      expect(refused.status).toBe(409);
      expect((await refused.json()).error.code).toBe('last_management_key');
    }

    const second = await createKey(key, { name: 'second admin', manage: true });
    const selfDelete = await h.call('DELETE', `/v1/keys/${second.id}`, { key: second.key });
    expect(selfDelete.status).toBe(200);
    expect((await h.call('GET', '/v1/keys', { key: second.key })).status).toBe(401);
    expect(await activeKeyIds(key)).toEqual([keyId]);
  });

  it('lets only one of two management keys deleting each other at the same time succeed', async () => {
    for (let round = 0; round < 5; round++) {
      const { key: a, keyId: aId } = await h.createAccount();
      const b = await createKey(a, { name: 'b', manage: true });
      const [byA, byB] = await Promise.all([
        h.call('DELETE', `/v1/keys/${b.id}`, { key: a }),
        h.call('DELETE', `/v1/keys/${aId}`, { key: b.key }),
      ]);
      // One wins; the other is refused: 409 if it got the lock second, 401 if its key was already revoked when it arrived.
      const statuses = [byA.status, byB.status].sort();
      expect(statuses[0]).toBe(200);
      expect([401, 409]).toContain(statuses[1]);
      const active = await h.services.db('api_keys').whereIn('id', [aId, b.id]).whereNull('revoked_at').pluck('manage');
      expect(active).toEqual([true]);
    }
  });

  it('answers 401 for an expired key', async () => {
    const { key } = await h.createAccount();
    const temporary = await createKey(key, { name: 'temp', expires_at: Math.floor(Date.now() / 1000) + 3600 });
    expect((await h.call('GET', '/v1/models', { key: temporary.key })).status).toBe(200);
    await h.services.db('api_keys').where({ id: temporary.id }).update({ expires_at: new Date(Date.now() - 1000) });
    h.services.apiKeys.forget(temporary.id);
    const expired = await h.call('GET', '/v1/models', { key: temporary.key });
    expect(expired.status).toBe(401);
    expect((await expired.json()).error.message).toMatch(/expired/);
  });
});

describe('admin-issued keys', () => {
  it('get the management right when the account has no active management key', async () => {
    const acct = await (await h.admin('POST', '/admin/accounts', { name: 'A', email: 'a@example.com' })).json();
    const issue = async () => (await h.admin('POST', `/admin/accounts/${acct.id}/keys`, { name: 'k' })).json();
    const first = await issue();
    const second = await issue();
    expect([first.manage, second.manage]).toEqual([true, false]);
    await h.admin('DELETE', `/admin/keys/${first.id}`);
    expect((await issue()).manage).toBe(true);
  });
});

describe('model allow-list', () => {
  it('answers 403 model_not_allowed for a model outside the key\u2019s list on chat, images and videos, and serves the listed ones', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const limited = await createKey(key, { name: 'limited', models: ['gpt-5-mini'] });
    const client = h.openai(limited.key);

    const refused = await client.chat.completions.create({ model: 'gpt-5.2', messages }).catch((e) => e);
    expect(refused).toBeInstanceOf(OpenAI.PermissionDeniedError);
    expect(refused.code).toBe('model_not_allowed');
    expect(refused.message).toContain('gpt-5-mini');
    expect((await h.services.accounts.get(accountId))!.balance).toBe(parseUsd('1.00'));
    const served = await client.chat.completions.create({ model: 'gpt-5-mini', messages });
    expect(served.choices[0]!.message.content).toBeTruthy();

    for (const [path, body] of [
      ['/v1/images/generations', { model: 'nano-banana-2', prompt: 'a cat' }],
      ['/v1/videos', { model: 'veo-3.1', prompt: 'a cat' }],
    ] as const) {
      const response = await h.call('POST', path, { key: limited.key, body });
      expect(response.status).toBe(403);
      expect((await response.json()).error.code).toBe('model_not_allowed');
    }
  });
});

describe('OpenRouter-compatible balance reads', () => {
  it('GET /v1/key reports the calling key\u2019s limit, exact usage per period and what remains; GET /v1/credits the account totals', async () => {
    const { key, keyId, accountId } = await h.createAccount({ balanceUsd: '2.00' });
    const worker = await createKey(key, { name: 'worker', limit_usd: '1.50', limit_reset: 'weekly', rpm: 100, tpm: 5000 });
    const client = h.openai(worker.key);
    await client.chat.completions.create({ model: 'gpt-5.2', messages });
    await client.chat.completions.create({ model: 'gpt-5-mini', messages });
    await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages });

    const spentBy = async (keyId: string) => {
      const rows = await h.services.db('requests').where({ account_id: accountId, api_key_id: keyId }).select('cost');
      return rows.reduce((t: bigint, r: any) => t + BigInt(r.cost), 0n);
    };
    const workerSpend = await spentBy(worker.id);
    expect(workerSpend).toBeGreaterThan(0n);

    const read = await h.call('GET', '/v1/key', { key: worker.key });
    expect(read.status).toBe(200);
    const { data } = await read.json();
    expect(data).toMatchObject({
      label: 'worker',
      limit: 1.5,
      limit_reset: 'weekly',
      is_management_key: false,
      is_free_tier: false,
      expires_at: null,
      rate_limit: { requests: 100, interval: '1m' },
      tpm: 5000,
    });
    expect(parseUsd(data.usage)).toBe(workerSpend);
    expect(data.usage_daily).toBe(data.usage);
    expect(data.usage_weekly).toBe(data.usage);
    expect(data.usage_monthly).toBe(data.usage);
    expect(parseUsd(data.limit_remaining)).toBe(parseUsd('1.50') - workerSpend);

    const manager = (await (await h.call('GET', '/v1/key', { key })).json()).data;
    expect(manager).toMatchObject({ limit: null, limit_remaining: null, limit_reset: null, is_management_key: true, rate_limit: null });
    expect(parseUsd(manager.usage)).toBe(await spentBy(keyId));

    const credits = await h.call('GET', '/v1/credits', { key: worker.key });
    expect(credits.status).toBe(200);
    const totals = (await credits.json()).data;
    const account = (await h.services.accounts.get(accountId))!;
    expect(totals.total_credits).toBe(2);
    expect(parseUsd(totals.total_usage)).toBe(parseUsd('2.00') - account.balance);
    expect(parseUsd(totals.total_usage)).toBe(workerSpend + parseUsd(manager.usage));
  });
});
