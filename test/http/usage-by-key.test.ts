import { beforeAll, describe, expect, it } from 'vitest';
import { parseUsd } from '../../src/ledger/money.js';
import type { Harness } from '../support/harness.js';
import { chatHarness } from './chat-upstream.js';

const chat = chatHarness();
let h: Harness;
beforeAll(() => ({ h } = chat));

const messages = [{ role: 'user' as const, content: 'Count to three.' }];

async function json(path: string, key: string) {
  const response = await h.call('GET', path, { key });
  expect(response.status).toBe(200);
  return response.json();
}

describe('GET /v1/billing/usage?api_key_id= (the console\u2019s key filter)', () => {
  it('narrows the request list, the per-model totals, the buckets and the CSV to one key, and names the key on each request', async () => {
    const { accountId, key, keyId } = await h.createAccount({ balanceUsd: '1.00' });
    const second = await (await h.admin('POST', `/admin/accounts/${accountId}/keys`, { name: 'second' })).json();
    await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages });
    await h.openai(second.key).chat.completions.create({ model: 'gpt-5-mini', messages });
    await h.openai(second.key).chat.completions.create({ model: 'gpt-5-mini', messages });

    const all = await json('/v1/billing/usage', key);
    expect(all.data.map((r: any) => r.api_key_id)).toEqual([second.id, second.id, keyId]);

    const mine = await json(`/v1/billing/usage?api_key_id=${second.id}`, key);
    expect(mine.data.map((r: any) => r.id)).toEqual(all.data.slice(0, 2).map((r: any) => r.id));
    const page = await json(`/v1/billing/usage?api_key_id=${second.id}&limit=1`, key);
    expect(page).toMatchObject({ has_more: true });
    const next = await json(`/v1/billing/usage?api_key_id=${second.id}&limit=1&after=${page.last_id}`, key);
    expect(next.data.map((r: any) => r.id)).toEqual([all.data[1].id]);
    expect(next.has_more).toBe(false);

    const models = await json(`/v1/billing/usage/models?api_key_id=${keyId}`, key);
    expect(models.data.map((m: any) => [m.model, m.requests])).toEqual([['gpt-5.2', 1]]);
    expect(models.total.cost_usd).toBe(all.data[2].cost_usd);
    const oneModel = await json(`/v1/billing/usage/models?model=gpt-5-mini`, key);
    expect(oneModel.data.map((m: any) => [m.model, m.requests])).toEqual([['gpt-5-mini', 2]]);
    expect(oneModel.total.requests).toBe(2);

    const days = await json(`/v1/billing/usage?group_by=day&api_key_id=${second.id}`, key);
    expect(days.data).toHaveLength(1);
    expect(days.data[0].requests).toBe(2);
    expect(parseUsd(days.data[0].cost_usd)).toBe(parseUsd(all.data[0].cost_usd) + parseUsd(all.data[1].cost_usd));

    const csv = await (await h.call('GET', `/v1/billing/usage?format=csv&api_key_id=${keyId}`, { key })).text();
    const lines = csv.trim().split(/\r?\n/);
    expect(lines).toHaveLength(2);
    expect(lines[1]).toContain(all.data[2].id);

    // Another account's key id filters to nothing, not to that account's requests.
    const other = await h.createAccount({ balanceUsd: '1.00' });
    await h.openai(other.key).chat.completions.create({ model: 'gpt-5.2', messages });
    expect((await json(`/v1/billing/usage?api_key_id=${other.keyId}`, key)).data).toEqual([]);
    await h.expectBooksBalanced();
  });
});
