import { describe, expect, it } from 'vitest';
import type { Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import { harnessWithGemini } from '../workflows/generation-fixtures.js';

let h: Harness;
useHarness(harnessWithGemini, (started) => (h = started));

const image = (key: string, idempotencyKey: string) =>
  h.call('POST', '/v1/images/generations', { key, body: { prompt: 'a cat' }, headers: { 'idempotency-key': idempotencyKey } });

describe('per-key spend limits on generations', () => {
  it('holds each $0.21 image against the key\u2019s limit, so five concurrent requests under a $0.50 limit deliver exactly two', async () => {
    const { key } = await h.createAccount({ balanceUsd: '5.00' });
    const created = await h.call('POST', '/v1/keys', { key, body: { name: 'images', limit_usd: '0.50', limit_reset: 'monthly' } });
    expect(created.status).toBe(201);
    const limited = await created.json();

    const answers = await Promise.all(Array.from({ length: 5 }, (_, i) => image(limited.key, `limited-${i}`)));
    const statuses = answers.map((r) => r.status).sort();
    expect(statuses).toEqual([200, 200, 402, 402, 402]);
    const refused = answers.find((r) => r.status === 402)!;
    const { error } = await refused.json();
    expect(error).toMatchObject({ code: 'key_limit_exceeded', type: 'insufficient_funds' });
    expect(error.message).toContain('monthly spend limit of $0.5');

    const own = (await (await h.call('GET', '/v1/key', { key: limited.key })).json()).data;
    expect(own).toMatchObject({ limit: 0.5, limit_remaining: 0.08, usage: 0.42 });
    // The account's unlimited key is not held back by it.
    expect((await image(key, 'manager-1')).status).toBe(200);
  });
});
