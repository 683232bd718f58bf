import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { formatUsd } from '../../src/ledger/money.js';
import type { Harness } from '../support/harness.js';
import { chatHarness, type TestUpstream } from './chat-upstream.js';

const chat = chatHarness();
let h: Harness;
let upstream: TestUpstream;
beforeAll(() => ({ h, upstream } = chat));

const request = { model: 'gpt-5.2', messages: [{ role: 'user' as const, content: 'Count to three.' }], max_tokens: 400 };

async function createKey(key: string, body: Record<string, unknown>) {
  const response = await h.call('POST', '/v1/keys', { key, body });
  expect(response.status, await response.clone().text()).toBe(201);
  return response.json();
}

/**
 * What one `request` holds and then costs, measured on a key of the account whose limit is far off
 * (a key with a spend limit places a hold row for each request; the account's unlimited key does not).
 */
async function holdAndCost(accountId: string, key: string) {
  const probe = await createKey(key, { name: 'probe', limit_usd: '100' });
  await h.openai(probe.key).chat.completions.create(request);
  const hold = await h.services.db('holds').where({ account_id: accountId }).orderBy('created_at', 'desc').first();
  expect(hold.status).toBe('captured');
  return { held: BigInt(hold.amount), cost: BigInt(hold.captured_amount) };
}

const spentBy = async (keyId: string) =>
  (await h.services.db('requests').where({ api_key_id: keyId }).select('cost')).reduce((t: bigint, r: any) => t + BigInt(r.cost), 0n);

describe('per-key spend limits', () => {
  it('answers 402 key_limit_exceeded naming the limit and its reset once the next hold would pass it, while the account\u2019s other keys keep working', async () => {
    upstream.controls.fixedUsage = { prompt: 20, completion: 300 };
    const { key, accountId } = await h.createAccount({ balanceUsd: '5.00' });
    const { held, cost } = await holdAndCost(accountId, key);
    expect(cost).toBeGreaterThan(0n);
    // Room for one hold, but not for a second after the first one's cost.
    const limit = held + cost - 1n;
    const limited = await createKey(key, { name: 'bot', limit_usd: formatUsd(limit), limit_reset: 'daily' });
    const client = h.openai(limited.key);

    await client.chat.completions.create(request);
    const refused = await client.chat.completions.create(request).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(OpenAI.APIError);
    const err = refused as InstanceType<typeof OpenAI.APIError>;
    expect(err.status).toBe(402);
    expect(err.code).toBe('key_limit_exceeded');
    expect(err.message).toContain(`daily spend limit of $${formatUsd(limit)}`);
    const tomorrow = new Date();
    tomorrow.setUTCHours(24, 0, 0, 0);
    expect(err.message).toContain(`resets at ${tomorrow.toISOString()}`);

    // Embeddings are held against the same limit: a key whose limit is spent cannot embed either.
    const spentKey = await createKey(key, { name: 'zero', limit_usd: '0' });
    const embed = await h.openai(spentKey.key).embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }).catch((e: unknown) => e);
    expect(embed).toMatchObject({ status: 402, code: 'key_limit_exceeded' });
    expect((embed as Error).message).toContain('does not reset');

    expect((await h.openai(key).chat.completions.create(request)).choices).toHaveLength(1);

    // /v1/key and GET /v1/keys read the same budget the ledger enforces.
    const spent = await spentBy(limited.id);
    const own = (await (await h.call('GET', '/v1/key', { key: limited.key })).json()).data;
    expect(own.limit_remaining).toBe(Number(formatUsd(limit - spent)));
    const listed = (await (await h.call('GET', '/v1/keys', { key })).json()).data.find((k: any) => k.id === limited.id);
    expect(listed).toMatchObject({ limit_usage: formatUsd(spent), limit_remaining: formatUsd(limit - spent) });

    // Raising the limit lets the key spend again at once.
    const raised = await h.call('PATCH', `/v1/keys/${limited.id}`, { key, body: { limit_usd: formatUsd(spent + held) } });
    expect(raised.status).toBe(200);
    await client.chat.completions.create(request);
  });

  it('never lets concurrent requests on two keys\u2019 worth of traffic take a key past its limit', async () => {
    upstream.controls.fixedUsage = { prompt: 20, completion: 400 };
    upstream.controls.delayMs = 300;
    const { key, accountId } = await h.createAccount({ balanceUsd: '20.00' });
    const { held } = await holdAndCost(accountId, key);
    const limit = held * 3n + held / 2n;
    const limited = await createKey(key, { name: 'loop', limit_usd: formatUsd(limit) });
    const client = h.openai(limited.key);
    const [outcomes, others] = await Promise.all([
      Promise.allSettled(Array.from({ length: 12 }, () => client.chat.completions.create(request))),
      Promise.allSettled(Array.from({ length: 4 }, () => h.openai(key).chat.completions.create(request))),
    ]);
    const ok = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    // Each answer costs nearly its hold, so whatever the interleaving exactly three fit.
    expect(ok).toHaveLength(3);
    expect(refused).toHaveLength(9);
    for (const r of refused) expect(r.reason).toMatchObject({ status: 402, code: 'key_limit_exceeded' });
    expect(others.every((o) => o.status === 'fulfilled')).toBe(true);
    expect(await spentBy(limited.id)).toBeLessThanOrEqual(limit);
    const own = (await (await h.call('GET', '/v1/key', { key: limited.key })).json()).data;
    expect(own.limit_remaining).toBe(Number(formatUsd(limit - (await spentBy(limited.id)))));
  });

  it('costs a key without a limit nothing: its holds carry no key and it has no budget row', async () => {
    const { key, accountId, keyId } = await h.createAccount({ balanceUsd: '1.00' });
    await h.openai(key).chat.completions.create(request);
    expect(await h.services.db('holds').where({ account_id: accountId }).whereNotNull('api_key_id').count({ n: '*' })).toEqual([{ n: 0n }]);
    expect(await h.services.db('api_key_budgets').where({ api_key_id: keyId }).first()).toBeUndefined();
  });
});
