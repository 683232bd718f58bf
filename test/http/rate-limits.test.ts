import type { Server } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/http/app.js';
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
    const s = createApp(services).listen(port, '127.0.0.1', () => resolve(s));
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
