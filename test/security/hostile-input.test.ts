import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../support/harness.js';
import { announceBigBody } from './raw-http.js';

/**
 * Attacks replayed from issue 10 §4 ("hostile and unlucky input"): each one used to cost memory,
 * give a 500 or change something; each must now be a 4xx in OpenAI's error shape that changes nothing.
 */

let h: Harness;
let user: { accountId: string; key: string };
beforeAll(async () => {
  h = await startHarness({ worker: false });
  user = await h.createAccount({ balanceUsd: '5.00' });
});
afterEach(async () => h.expectBooksBalanced());
afterAll(async () => h?.close());

const MB = 1024 * 1024;

function expectOpenAiError(body: unknown, code?: string) {
  expect(body).toMatchObject({ error: { message: expect.any(String), type: expect.any(String) } });
  if (code) expect((body as { error: { code: string } }).error.code).toBe(code);
}

async function rowCounts() {
  const count = async (table: string) => Number((await h.services.db(table).count({ n: '*' }))[0]!.n);
  return {
    accounts: await count('accounts'),
    deposits: await count('deposits'),
    generations: await count('generations'),
    support: await count('support_requests'),
    ledger: await count('ledger_entries'),
  };
}

describe('attack 1: big bodies from callers we do not know', () => {
  it.each([
    ['/v1/chat/completions', {}],
    ['/v1/chat/completions', { Authorization: 'Bearer sk-cheapa-' + 'x'.repeat(43) }],
    ['/v1/billing/deposits', { Authorization: 'Bearer not-a-key' }],
    ['/admin/accounts', {}],
    ['/admin/accounts', { Authorization: 'Bearer wrong-admin-token-123456' }],
  ])('a 12 MB body to %s with %j is refused 401 and the connection closed without reading it', async (path, headers) => {
    const r = await announceBigBody(h.baseUrl, { path, announced: 12 * MB, send: 256 * 1024, headers });
    expect(r.status).toBe(401);
    expect(r.text.toLowerCase()).toContain('connection: close');
    expectOpenAiError(JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)), 'invalid_api_key');
    expect(r.sent).toBeLessThan(12 * MB);
  }, 20_000);

  it('eight such bodies at once leave /healthz answering and nothing buffered', async () => {
    const attacks = Array.from({ length: 8 }, () =>
      announceBigBody(h.baseUrl, { path: '/v1/chat/completions', announced: 12 * MB, send: 256 * 1024 }),
    );
    expect((await fetch(`${h.baseUrl}/healthz`)).status).toBe(200);
    for (const r of await Promise.all(attacks)) expect(r.status).toBe(401);
  }, 20_000);

  it('an authenticated body over its route limit is 413 in OpenAI shape, decided before reading it', async () => {
    const r = await announceBigBody(h.baseUrl, {
      path: '/v1/billing/deposits',
      announced: 1 * MB,
      send: 64 * 1024,
      headers: { Authorization: `Bearer ${user.key}` },
    });
    expect(r.status).toBe(413);
    expectOpenAiError(JSON.parse(r.text.slice(r.text.indexOf('\r\n\r\n') + 4)), 'request_too_large');
  }, 20_000);

  it.each([
    ['/v1/billing/deposits', 20 * 1024],
    ['/v1/billing/support', 80 * 1024],
    ['/admin/accounts', 80 * 1024],
  ])('a complete authenticated body over the limit of %s is 413 and creates nothing', async (path, size) => {
    const before = await rowCounts();
    const body = JSON.stringify({ method: 'card', tier: 'starter', kind: 'other', name: 'x', email: 'a@b.co', message: 'x'.repeat(size) });
    const res = path.startsWith('/admin') ? await h.admin('POST', path, body) : await h.call('POST', path, { key: user.key, body });
    expect(res.status).toBe(413);
    expectOpenAiError(await res.json(), 'request_too_large');
    expect(await rowCounts()).toEqual(before);
  });
});

describe('attack 2: malformed input answers 400 and changes nothing', () => {
  const deep = (n: number) => '['.repeat(n) + ']'.repeat(n);
  const deepObject = (n: number) => '{"a":'.repeat(n) + '1' + '}'.repeat(n);

  // Deep bodies within each route's size limit: 200,000 levels where the limit allows it.
  it.each([
    ['POST', '/v1/chat/completions', deep(200_000)],
    ['POST', '/v1/chat/completions', `{"model":"gpt-5.2","messages":[{"role":"user","content":"hi"}],"metadata":${deepObject(200_000)}}`],
    ['POST', '/v1/billing/deposits', `{"method":"card","tier":${deep(5_000)}}`],
    ['POST', '/v1/videos', `{"model":"veo-3.1","prompt":${deep(100_000)}}`],
    ['POST', '/admin/accounts', deepObject(5_000)],
  ])('a deeply nested JSON body to %s %s is 400 json_too_deep', async (method, path, body) => {
    const before = await rowCounts();
    const res = path.startsWith('/admin') ? await h.admin(method, path, body) : await h.call(method, path, { key: user.key, body });
    expect(res.status).toBe(400);
    expectOpenAiError(await res.json(), 'json_too_deep');
    expect(await rowCounts()).toEqual(before);
  });

  it.each([
    ['/v1/videos', { model: 'veo-3.1', prompt: 'a lake\u0000at dawn' }],
    ['/v1/images/generations', { model: 'nano-banana-2', prompt: 'a cat\u0000' }],
    ['/v1/billing/support', { kind: 'other', message: 'hello\u0000world' }],
    ['/v1/billing/deposits', { method: 'card', tier: 'starter\u0000' }],
    ['/v1/chat/completions', { model: 'gpt-5.2', messages: [{ role: 'user', content: 'hi\u0000' }] }],
    ['/admin/accounts', { name: 'Eve\u0000', email: 'eve@example.com' }],
    ['/admin/accounts', { 'name\u0000': 'Eve', email: 'eve@example.com' }],
  ])('a NUL character in a JSON text field of %s is 400 nul_character', async (path, body) => {
    const before = await rowCounts();
    const res = path.startsWith('/admin') ? await h.admin('POST', path, body) : await h.call('POST', path, { key: user.key, body });
    expect(res.status).toBe(400);
    expectOpenAiError(await res.json(), 'nul_character');
    expect(await rowCounts()).toEqual(before);
  });

  it('a NUL character in a multipart video prompt is 400 naming the field', async () => {
    const before = await rowCounts();
    const form = new FormData();
    form.set('model', 'veo-3.1');
    form.set('prompt', 'a lake\u0000at dawn');
    const res = await fetch(`${h.baseUrl}/v1/videos`, { method: 'POST', headers: { authorization: `Bearer ${user.key}` }, body: form });
    expect(res.status).toBe(400);
    const body = await res.json();
    expectOpenAiError(body, 'nul_character');
    expect(body.error.param).toBe('prompt');
    expect(await rowCounts()).toEqual(before);
  });

  it.each(['/v1/billing/deposits?after=%00', '/v1/billing/deposits/dep_%00', '/v1/videos/video_%00', '/v1/billing/usage?after=a%00b'])(
    'a NUL character in the URL %s is 400',
    async (path) => {
      const res = await h.call('GET', path, { key: user.key });
      expect(res.status).toBe(400);
      expectOpenAiError(await res.json(), 'nul_character');
    },
  );

  it.each([
    ['"99999999999999999999"', 'string beyond BIGINT'],
    ['"9223372036.854775808"', 'one nano-dollar beyond BIGINT'],
    ['"-99999999999999999999"', 'negative beyond BIGINT'],
    ['1e30', 'number beyond BIGINT'],
    ['1e400', 'number beyond a double'],
    [`"${'9'.repeat(5000)}"`, 'five thousand digits'],
    ['"1000000.000000001"', 'just above the request cap'],
  ])('an admin adjustment amount_usd of %s (%s) is 400 and moves no money', async (amount) => {
    const before = await h.services.ledger.balance(user.accountId);
    const res = await h.admin('POST', `/admin/accounts/${user.accountId}/adjustments`, `{"amount_usd":${amount},"reason":"overflow attempt"}`);
    expect(res.status).toBe(400);
    const body = await res.json();
    expectOpenAiError(body);
    expect(body.error.param).toBe('amount_usd');
    expect(await h.services.ledger.balance(user.accountId)).toEqual(before);
  });

  it.each([
    ['/v1/billing/deposits', '{"method":"card","amount_usd":"99999999999999999999"}'],
    ['/v1/billing/support', '{"kind":"custom_amount","message":"please","amount_usd":"99999999999999999999"}'],
  ])('an amount_usd beyond BIGINT to %s is 400', async (path, body) => {
    const before = await rowCounts();
    const res = await h.call('POST', path, { key: user.key, body });
    expect(res.status).toBe(400);
    expectOpenAiError(await res.json());
    expect(await rowCounts()).toEqual(before);
  });

  it.each([
    ['malformed JSON', '{"method":"card",', 'application/json'],
    ['a JSON array where an object is expected', '[{"method":"card","tier":"starter"}]', 'application/json'],
    ['a bare JSON string', '"card"', 'application/json'],
    ['JSON null', 'null', 'application/json'],
    ['a JSON body sent as text/plain', '{"method":"card","tier":"starter"}', 'text/plain'],
    ['a JSON body in UTF-16', '{"method":"card","tier":"starter"}', 'application/json; charset=utf-16'],
    ['an unknown charset', '{"method":"card","tier":"starter"}', 'application/json; charset=klingon'],
    ['a form body with thousands of fields', Array.from({ length: 2000 }, (_, i) => `f${i}=1`).join('&'), 'application/x-www-form-urlencoded'],
    ['an object where a string is expected', '{"method":{"card":true},"tier":"starter"}', 'application/json'],
    ['a huge number for a tier', '{"method":"card","tier":1e400}', 'application/json'],
  ])('%s to POST /v1/billing/deposits is 4xx in OpenAI shape and creates nothing', async (_what, body, contentType) => {
    const before = await rowCounts();
    const res = await h.call('POST', '/v1/billing/deposits', { key: user.key, body, headers: { 'content-type': contentType } });
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(res.status).toBeLessThan(500);
    expectOpenAiError(await res.json());
    expect(await rowCounts()).toEqual(before);
  });

  it.each([
    ['/v1/chat/completions', '[1,2,3]'],
    ['/v1/chat/completions', '{"model":"gpt-5.2","messages":{"role":"user"}}'],
    ['/v1/chat/completions', '{"model":["gpt-5.2"],"messages":[]}'],
    ['/v1/images/generations', '{"model":"nano-banana-2","prompt":["a","cat"]}'],
    ['/v1/videos', '[{"model":"veo-3.1","prompt":"x"}]'],
    ['/v1/billing/support', '{"kind":"disputed_deduction","message":"hello there","request_ids":"req_1"}'],
    ['/admin/accounts', '[]'],
  ])('wrong shapes to %s (%s) are 400 and change nothing', async (path, body) => {
    const before = await rowCounts();
    const res = path.startsWith('/admin') ? await h.admin('POST', path, body) : await h.call('POST', path, { key: user.key, body });
    expect(res.status).toBe(400);
    expectOpenAiError(await res.json());
    expect(await rowCounts()).toEqual(before);
  });
});
