import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer } from '../../src/http/server.js';
import { freePort } from '../../src/launcher/free-port.js';
import { closeServices, createServices, type Services } from '../../src/services.js';
import { startHarness, type Harness } from '../support/harness.js';

// Two API processes' worth of state (own pools, own key caches, own counters in memory) on one database.
let h: Harness;
let second: { services: Services; server: Server; baseUrl: string };

beforeAll(async () => {
  h = await startHarness({ worker: false });
  const services = await createServices(
    h.services.config,
    { databaseUrl: h.databaseUrl, temporalAddress: h.services.temporal.address, adminToken: h.adminToken },
    h.services.logger,
  );
  const port = await freePort();
  const server: Server = await new Promise((resolve) => {
    const s = createServer(services).listen(port, '127.0.0.1', () => resolve(s));
  });
  second = { services, server, baseUrl: `http://127.0.0.1:${port}` };
});

afterAll(async () => {
  second?.server.closeAllConnections();
  await new Promise<void>((resolve) => (second ? second.server.close(() => resolve()) : resolve()));
  if (second) await closeServices(second.services);
  await h?.close();
});

const get = (baseUrl: string, key: string, path = '/v1/models') => fetch(baseUrl + path, { headers: { authorization: `Bearer ${key}` } });

/** The window is a calendar minute on the database clock; start a burst well inside one so it cannot straddle two. */
async function awayFromMinuteBoundary() {
  for (;;) {
    const { rows } = await h.services.db.raw(`SELECT extract(second FROM now())::float AS s`);
    if (rows[0].s > 2 && rows[0].s < 45) return;
    await new Promise((r) => setTimeout(r, 1000));
  }
}

async function keyWithRpm(rpm: number) {
  const { key } = await h.createAccount();
  const response = await h.call('POST', '/v1/keys', { key, body: { name: 'limited', rpm } });
  expect(response.status).toBe(201);
  return { manager: key, limited: await response.json() };
}

describe('per-key requests per minute', () => {
  it('lets exactly rpm concurrent requests through across two API processes and answers the rest 429 with OpenAI\u2019s headers', async () => {
    const { limited } = await keyWithRpm(7);
    await awayFromMinuteBoundary();
    const responses = await Promise.all(Array.from({ length: 20 }, (_, i) => get(i % 2 ? second.baseUrl : h.baseUrl, limited.key)));
    const ok = responses.filter((r) => r.status === 200);
    const limitedOut = responses.filter((r) => r.status === 429);
    expect(ok.length).toBe(7);
    expect(limitedOut.length).toBe(13);

    expect(ok.map((r) => Number(r.headers.get('x-ratelimit-remaining-requests'))).sort()).toEqual([0, 1, 2, 3, 4, 5, 6]);
    for (const r of ok) expect(r.headers.get('x-ratelimit-limit-requests')).toBe('7');

    const refused = limitedOut[0]!;
    expect(refused.headers.get('x-ratelimit-limit-requests')).toBe('7');
    expect(refused.headers.get('x-ratelimit-remaining-requests')).toBe('0');
    expect(refused.headers.get('x-ratelimit-reset-requests')).toMatch(/^(\d+(\.\d+)?s|\d+ms)$/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect((await refused.json()).error).toMatchObject({ code: 'rate_limit_exceeded', type: 'requests', param: null });
  });

  it('counts each key on its own, and leaves keys without rpm unlimited and without the headers', async () => {
    const { manager, limited } = await keyWithRpm(1);
    await awayFromMinuteBoundary();
    expect((await get(h.baseUrl, limited.key)).status).toBe(200);
    expect((await get(second.baseUrl, limited.key)).status).toBe(429);
    const unlimited = await Promise.all(Array.from({ length: 5 }, () => get(second.baseUrl, manager)));
    expect(unlimited.map((r) => r.status)).toEqual([200, 200, 200, 200, 200]);
    expect(unlimited[0]!.headers.get('x-ratelimit-limit-requests')).toBeNull();
  });

  it('starts counting again in a new window', async () => {
    const { limited } = await keyWithRpm(1);
    expect((await get(h.baseUrl, limited.key)).status).toBe(200);
    // Move the stored window a minute back, as if the minute had passed.
    await h.services.db('api_key_rate_windows').where({ api_key_id: limited.id }).update({ window_start: h.services.db.raw(`window_start - interval '1 minute'`) });
    const next = await get(h.baseUrl, limited.key);
    expect(next.status).toBe(200);
    expect(next.headers.get('x-ratelimit-remaining-requests')).toBe('0');
  });
});

describe('per-key tokens per minute', () => {
  const chat = (baseUrl: string, key: string) =>
    fetch(baseUrl + '/v1/chat/completions', {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5.2', max_tokens: 16, messages: [{ role: 'user', content: 'Say hello.' }] }),
    });
  const flushBoth = () => Promise.all([h.services.keys.tokens.flush(), second.services.keys.tokens.flush()]);
  const settledTokens = async (keyId: string) => {
    const rows = await h.services.db('requests').where({ api_key_id: keyId, status: 'completed' }).select('prompt_tokens', 'completion_tokens');
    return rows.reduce((sum, r) => sum + Number(r.prompt_tokens) + Number(r.completion_tokens), 0);
  };

  it('counts the settled tokens of concurrent requests on two API processes exactly, then answers 429 with OpenAI’s token headers; other keys keep working', async () => {
    const { key: manager, keyId: managerId } = await h.createAccount({ balanceUsd: '1.00' });
    const create = async (body: object) => {
      const response = await h.call('POST', '/v1/keys', { key: manager, body });
      expect(response.status).toBe(201);
      return response.json();
    };
    const small = await create({ name: 'small', tpm: 100 });
    const roomy = await create({ name: 'roomy', tpm: 1_000_000 });
    await awayFromMinuteBoundary();

    // Nothing is settled yet when these start: all are served, and each one's tokens are counted.
    const first = await Promise.all(Array.from({ length: 6 }, (_, i) => chat(i % 2 ? second.baseUrl : h.baseUrl, small.key)));
    expect(first.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    for (const r of first) {
      expect(r.headers.get('x-ratelimit-limit-tokens')).toBe('100');
      expect(r.headers.get('x-ratelimit-reset-tokens')).toMatch(/^(\d+(\.\d+)?s|\d+ms)$/);
      expect(r.headers.get('x-ratelimit-limit-requests')).toBeNull();
    }
    await flushBoth();
    const used = await settledTokens(small.id);
    expect(used).toBeGreaterThanOrEqual(100);
    const window = await h.services.db('api_key_rate_windows').where({ api_key_id: small.id }).first();
    expect(Number(window.tokens)).toBe(used);

    const burst = await Promise.all(Array.from({ length: 6 }, (_, i) => chat(i % 2 ? second.baseUrl : h.baseUrl, small.key)));
    expect(burst.map((r) => r.status)).toEqual([429, 429, 429, 429, 429, 429]);
    const refused = burst[0]!;
    expect(refused.headers.get('x-ratelimit-limit-tokens')).toBe('100');
    expect(refused.headers.get('x-ratelimit-remaining-tokens')).toBe('0');
    expect(refused.headers.get('x-ratelimit-reset-tokens')).toMatch(/^(\d+(\.\d+)?s|\d+ms)$/);
    const retryAfter = Number(refused.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    const body = await refused.json();
    expect(body.error).toMatchObject({ code: 'rate_limit_exceeded', type: 'tokens', param: null });
    expect(body.error.message).toContain(`Limit 100, Used ${used}`);
    // A refused request is not served: nothing more is settled or charged.
    expect(await settledTokens(small.id)).toBe(used);

    const other = await chat(second.baseUrl, roomy.key);
    expect(other.status).toBe(200);
    expect(other.headers.get('x-ratelimit-limit-tokens')).toBe('1000000');
    expect(other.headers.get('x-ratelimit-remaining-tokens')).toBe('1000000');
    const unlimited = await chat(h.baseUrl, manager);
    expect(unlimited.status).toBe(200);
    expect(unlimited.headers.get('x-ratelimit-limit-tokens')).toBeNull();
    // A key with neither limit costs no write: it has no window at all.
    await flushBoth();
    expect(await h.services.db('api_key_rate_windows').where({ api_key_id: managerId })).toEqual([]);
    await h.expectBooksBalanced();
  });

  it('starts counting tokens again in a new window', async () => {
    const { key: manager } = await h.createAccount({ balanceUsd: '1.00' });
    const small = await (await h.call('POST', '/v1/keys', { key: manager, body: { name: 'small', tpm: 1 } })).json();
    expect((await chat(h.baseUrl, small.key)).status).toBe(200);
    await h.services.keys.tokens.flush();
    expect((await chat(h.baseUrl, small.key)).status).toBe(429);
    await h.services.db('api_key_rate_windows').where({ api_key_id: small.id }).update({ window_start: h.services.db.raw(`window_start - interval '1 minute'`) });
    const next = await chat(h.baseUrl, small.key);
    expect(next.status).toBe(200);
    expect(next.headers.get('x-ratelimit-remaining-tokens')).toBe('1');
    await h.expectBooksBalanced();
  });
});

describe('last_used_at', () => {
  it('is written by the batched flush from every process and never moves backwards', async () => {
    const { key, keyId } = await h.createAccount();
    const before = await h.services.db('api_keys').where({ id: keyId }).first();
    expect(before.last_used_at).toBeNull();
    await get(h.baseUrl, key);
    await get(second.baseUrl, key);
    await h.services.keys.lastUsed.flush();
    await second.services.keys.lastUsed.flush();
    const after = await h.services.db('api_keys').where({ id: keyId }).first();
    expect(after.last_used_at).toBeInstanceOf(Date);

    second.services.keys.lastUsed.touch(keyId, new Date(after.last_used_at.getTime() - 60_000));
    await second.services.keys.lastUsed.flush();
    const kept = await h.services.db('api_keys').where({ id: keyId }).first();
    expect(kept.last_used_at.getTime()).toBe(after.last_used_at.getTime());

    const listed = await (await h.call('GET', '/v1/keys', { key })).json();
    expect(listed.data[0].last_used_at).toBe(Math.floor(after.last_used_at.getTime() / 1000));
  });
});
