import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { promptPicture } from '../../src/sandboxes/gemini/png.js';
import { startHarness, type Harness } from '../support/harness.js';
import { useHarness } from '../support/suite-harness.js';
import { harnessWithGemini } from '../workflows/generation-fixtures.js';

let h: Harness;
useHarness(harnessWithGemini, (started) => (h = started));

const balance = async (accountId: string) => (await h.services.ledger.balance(accountId)).balance;

describe('POST /v1/images/generations', () => {
  it('answers the official SDK with the images, b64 by default, charging $0.21 per image', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const result = await h.openai(key).images.generate({ model: 'nano-banana-2', prompt: 'a red bicycle', n: 2, size: '1536x1024' });
    expect(result.created).toBeTypeOf('number');
    expect(result.data).toHaveLength(2);
    const png = Buffer.from(result.data![0].b64_json!, 'base64');
    expect(png.equals(promptPicture('a red bicycle', '3:2'))).toBe(true);
    expect(await balance(accountId)).toBe(1_000_000_000n - 420_000_000n);
  });

  it('serves the bytes on the bearer route to the owner only', async () => {
    const owner = await h.createAccount({ balanceUsd: '1.00' });
    const stranger = await h.createAccount({ balanceUsd: '1.00' });
    const res = await h.call('POST', '/v1/images/generations', { key: owner.key, body: { model: 'nano-banana-pro', prompt: 'a lighthouse', response_format: 'url' } });
    const body = await res.json();
    // The url itself is a signed link (test/http/signed-asset-urls.test.ts); this route asks for the key.
    const path = `/v1/images/generations/${body.id}/0`;
    expect(body.cost).toBe(0.21);
    const mine = await h.call('GET', path, { key: owner.key });
    expect(mine.status).toBe(200);
    expect(mine.headers.get('content-type')).toBe('image/png');
    expect(Buffer.from(await mine.arrayBuffer()).equals(promptPicture('a lighthouse'))).toBe(true);
    expect((await h.call('GET', path, { key: stranger.key })).status).toBe(404);
    expect((await h.call('GET', path)).status).toBe(401);
  });

  it('returns the same images for a retried request with the same Idempotency-Key, charging once', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const send = (prompt: string) =>
      h.call('POST', '/v1/images/generations', { key, body: { prompt }, headers: { 'idempotency-key': 'img-retry-1' } });
    const [a, b] = await Promise.all([send('a quiet harbour'), send('a quiet harbour')]);
    const c = await send('a quiet harbour');
    const bodies = await Promise.all([a.json(), b.json(), c.json()]);
    expect(new Set(bodies.map((x) => x.id)).size).toBe(1);
    expect(bodies[2].data[0].b64_json).toBe(bodies[0].data[0].b64_json);
    expect(await balance(accountId)).toBe(1_000_000_000n - 210_000_000n);
    const reused = await send('a different prompt');
    expect(reused.status).toBe(409);
    expect((await reused.json()).error.code).toBe('idempotency_conflict');
  });

  it('answers 402 insufficient_funds at once when the hold cannot be placed, and works again after a top-up', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '0.20' });
    const refused = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'a cat' }, headers: { 'idempotency-key': 'poor-1' } });
    expect(refused.status).toBe(402);
    expect(refused.headers.get('x-should-retry')).toBe('false');
    expect((await refused.json()).error).toMatchObject({ type: 'insufficient_funds', code: 'insufficient_funds' });
    expect(await balance(accountId)).toBe(200_000_000n);

    await h.admin('POST', `/admin/accounts/${accountId}/adjustments`, { amount_usd: '1.00', reason: 'top-up in test' });
    const retried = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'a cat' }, headers: { 'idempotency-key': 'poor-1' } });
    expect(retried.status).toBe(200);
    expect(await balance(accountId)).toBe(1_200_000_000n - 210_000_000n);
  });

  it('answers n above 4, a video model and an unknown model with 4xx, charging nothing', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const tooMany = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'x', n: 5 } });
    expect(tooMany.status).toBe(400);
    expect((await tooMany.json()).error.param).toBe('n');
    const video = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'x', model: 'veo-3.1' } });
    expect(video.status).toBe(400);
    const unknown = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'x', model: 'dall-e-9' } });
    expect(unknown.status).toBe(404);
    expect((await unknown.json()).error.code).toBe('model_not_found');
    const badSize = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'x', size: 'huge' } });
    expect(badSize.status).toBe(400);
    expect(await balance(accountId)).toBe(1_000_000_000n);
    expect(await h.services.db('generations').where({ account_id: accountId })).toHaveLength(0);
  });

  it('reports a provider that rejects the request as a 4xx without charging', async () => {
    const { key, accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const res = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'x [fail:http400]' } });
    expect(res.status).toBe(400);
    expect((await res.json()).error.code).toBe('invalid_request');
    expect(await balance(accountId)).toBe(1_000_000_000n);
  });

  it('logs the call, with its cost, in the per-request usage', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const res = await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'a tidy desk' } });
    const requestId = res.headers.get('x-request-id');
    const usage = await (await h.call('GET', '/v1/billing/usage', { key })).json();
    expect(usage.data.find((r: { id: string }) => r.id === requestId)).toMatchObject({
      endpoint: '/v1/images/generations',
      model: 'nano-banana-2',
      status: 'completed',
      http_status: 200,
      cost_usd: '0.21',
    });
  });
});

describe('the embedded simulated Gemini', () => {
  let embedded: Harness;
  beforeAll(async () => {
    embedded = await startHarness({ env: { SIMULATED_IMAGE_DELAY_MS: '0' } });
  });
  afterAll(async () => embedded?.close());

  it('serves generations with no provider configured, behind its own key', async () => {
    const { key } = await embedded.createAccount({ balanceUsd: '1.00' });
    const res = await embedded.call('POST', '/v1/images/generations', { key, body: { prompt: 'a teapot' } });
    expect(res.status).toBe(200);
    expect(Buffer.from((await res.json()).data[0].b64_json, 'base64').equals(promptPicture('a teapot'))).toBe(true);
    const anonymous = await embedded.call('POST', '/sandbox/gemini/v1beta/models/gemini-3.1-flash-image-preview:generateContent', {
      body: { contents: [{ parts: [{ text: 'x' }] }] },
    });
    expect(anonymous.status).toBe(403);
    await embedded.expectBooksBalanced();
  });
});

describe('GET /v1/images', () => {
  it("lists the account's image generations newest first, paged, with cost and signed links to the images; never another account's or one refused at the hold", async () => {
    const { key } = await h.createAccount({ balanceUsd: '0.70' });
    const stranger = await h.createAccount({ balanceUsd: '1.00' });
    const first = await (await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'a red kite', n: 2 } })).json();
    const second = await (await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'a blue door', size: '1024x1024' } })).json();
    // $0.07 left: refused at the hold, so not shown.
    expect((await h.call('POST', '/v1/images/generations', { key, body: { prompt: 'too expensive' } })).status).toBe(402);
    await h.call('POST', '/v1/images/generations', { key: stranger.key, body: { prompt: 'someone else' } });

    const list = await (await h.call('GET', '/v1/images', { key })).json();
    expect(list).toMatchObject({ object: 'list', first_id: second.id, last_id: first.id, has_more: false });
    expect(list.data.map((g: { id: string }) => g.id)).toEqual([second.id, first.id]);
    expect(list.data[0]).toMatchObject({ object: 'image.generation', model: 'nano-banana-2', status: 'completed', n: 1, prompt: 'a blue door', size: '1024x1024', cost: 0.21, error: null });
    expect(list.data[1]).toMatchObject({ status: 'completed', n: 2, cost: 0.42 });
    expect(list.data[1].data).toHaveLength(2);
    const image = await fetch(list.data[1].data[0].url);
    expect(image.status).toBe(200);
    expect(Buffer.from(await image.arrayBuffer()).equals(promptPicture('a red kite'))).toBe(true);

    const page1 = await (await h.call('GET', '/v1/images?limit=1', { key })).json();
    expect(page1).toMatchObject({ has_more: true, last_id: second.id });
    const page2 = await (await h.call('GET', `/v1/images?limit=1&after=${second.id}`, { key })).json();
    expect(page2).toMatchObject({ has_more: false, first_id: first.id });
    const bad = await h.call('GET', '/v1/images?limit=0', { key });
    expect(bad.status).toBe(400);
    expect((await bad.json()).error.type).toBe('invalid_request_error');
    expect((await h.call('GET', '/v1/images')).status).toBe(401);
    await h.expectBooksBalanced();
  });
});
