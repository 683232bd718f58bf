import { request as httpRequest } from 'node:http';
import { beforeAll, describe, expect, it } from 'vitest';
import { MAX_JSON_DEPTH } from '../../src/http/input-guards.js';
import { takesLean } from '../../src/http/lean-chat.js';
import { bodyLimitFor } from '../../src/http/request-body.js';
import type { Harness } from '../support/harness.js';
import { chatHarness, type TestUpstream } from './chat-upstream.js';

const chat = chatHarness({ replyLength: { min: 5, max: 10 } });
let h: Harness;
let upstream: TestUpstream;
beforeAll(() => ({ h, upstream } = chat));

const LEAN = '/v1/chat/completions';
// Express's router takes the trailing slash (it is not strict), the lean path does not.
const EXPRESS = '/v1/chat/completions/';
const JSON_TYPE = 'application/json';
const MESSAGES = '/v1/messages';
const RESPONSES = '/v1/responses';

describe('which requests the lean chat path takes', () => {
  const plain = { authorization: 'Bearer sk-x', 'content-type': JSON_TYPE };

  it('takes a keyed POST with a UTF-8 JSON body, however the JSON type is spelt', () => {
    for (const type of ['application/json', 'Application/JSON', 'application/json; charset=utf-8', 'application/json;charset="UTF-8"']) {
      expect(takesLean('POST', LEAN, { ...plain, 'content-type': type }, false)).toBe(true);
    }
    expect(takesLean('POST', LEAN, { ...plain, 'content-encoding': 'identity' }, false)).toBe(true);
    // Anthropic's Messages, with its x-api-key as well as Bearer.
    expect(takesLean('POST', MESSAGES, plain, false)).toBe(true);
    expect(takesLean('POST', MESSAGES, { 'x-api-key': 'sk-x', 'content-type': JSON_TYPE }, false)).toBe(true);
    expect(takesLean('POST', RESPONSES, plain, false)).toBe(true);
    // Without CORS configured an Origin changes nothing, as on Express.
    expect(takesLean('POST', LEAN, { ...plain, origin: 'https://app.example' }, false)).toBe(true);
  });

  it('leaves to Express whatever only Express handles', () => {
    expect(takesLean('GET', LEAN, plain, false)).toBe(false);
    expect(takesLean('POST', EXPRESS, plain, false)).toBe(false);
    expect(takesLean('POST', `${LEAN}?x=1`, plain, false)).toBe(false);
    expect(takesLean('POST', '/v1/responses/resp_1', plain, false)).toBe(false);
    expect(takesLean('POST', `${MESSAGES}/count_tokens`, plain, false)).toBe(false);
    // x-api-key is Anthropic's header: the chat endpoint does not take it, on either path.
    expect(takesLean('POST', LEAN, { 'x-api-key': 'sk-x', 'content-type': JSON_TYPE }, false)).toBe(false);
    expect(takesLean('POST', RESPONSES, { 'x-api-key': 'sk-x', 'content-type': JSON_TYPE }, false)).toBe(false);
    // No key: a console session or a forgotten key, told apart by Express.
    expect(takesLean('POST', LEAN, { 'content-type': JSON_TYPE }, false)).toBe(false);
    expect(takesLean('POST', LEAN, { ...plain, origin: 'https://app.example' }, true)).toBe(false);
    expect(takesLean('POST', LEAN, { ...plain, 'content-encoding': 'gzip' }, false)).toBe(false);
    for (const type of [undefined, 'text/plain', 'application/x-www-form-urlencoded', 'application/json; charset=latin1', 'application/vnd.api+json']) {
      expect(takesLean('POST', LEAN, { ...plain, 'content-type': type }, false)).toBe(false);
    }
  });
});

describe('the lean chat path answers as Express does', () => {
  const send = (path: string, body: string, headers: Record<string, string>) =>
    fetch(h.baseUrl + path, { method: 'POST', headers: { 'content-type': JSON_TYPE, ...headers }, body });

  it('charges a completion the same and records it once, on either path', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.fixedUsage = { prompt: 40, completion: 12 };
    const body = JSON.stringify({ model: 'gpt-5.2', messages: [{ role: 'user', content: 'Hello.' }], max_tokens: 32 });
    const before = (await h.services.ledger.balance(accountId)).balance;
    const lean = await send(LEAN, body, { authorization: `Bearer ${key}` });
    const afterLean = (await h.services.ledger.balance(accountId)).balance;
    const express = await send(EXPRESS, body, { authorization: `Bearer ${key}` });
    const afterExpress = (await h.services.ledger.balance(accountId)).balance;

    for (const response of [lean, express]) {
      expect(response.status).toBe(200);
      expect(response.headers.get('content-type')).toBe('application/json; charset=utf-8');
      expect(response.headers.get('x-request-id')).toMatch(/^req_/);
      expect(response.headers.get('etag')).toBeNull();
    }
    const [a, b] = [await lean.json(), await express.json()];
    expect(a.usage).toEqual(b.usage);
    expect(lean.headers.get('x-request-cost-usd')).toBe(express.headers.get('x-request-cost-usd'));
    expect(before - afterLean).toBe(afterLean - afterExpress);
    expect(before - afterLean).toBeGreaterThan(0n);
    const rows = await h.services.db('requests').where({ account_id: accountId }).select('id', 'status', 'endpoint');
    expect(rows.map((r) => r.id).sort()).toEqual([lean.headers.get('x-request-id'), express.headers.get('x-request-id')].sort());
    expect(rows.every((r) => r.status === 'completed' && r.endpoint === LEAN)).toBe(true);
  });

  it('refuses bad bodies and keys with the same status and error, and charges nothing', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const auth = { authorization: `Bearer ${key}` };
    const deep = '['.repeat(MAX_JSON_DEPTH + 1) + ']'.repeat(MAX_JSON_DEPTH + 1);
    const cases: [string, string, Record<string, string>][] = [
      ['malformed JSON', '{"model":', auth],
      ['a JSON string (not an object or array)', '"hello"', auth],
      ['whitespace only', ' \n ', auth],
      ['an empty body (read as {})', '', auth],
      ['a BOM before {}', '\ufeff{}', auth],
      ['an array', '[1]', auth],
      ['a NUL character', JSON.stringify({ model: 'gpt-5.2', messages: [{ role: 'user', content: 'a\u0000b' }] }), auth],
      ['JSON nested too deep', deep, auth],
      ['an unknown field', JSON.stringify({ model: 'gpt-5.2', messages: [{ role: 'user', content: 'hi' }], bogus: 1 }), auth],
      ['an unknown key', '{}', { authorization: 'Bearer sk-cheapa-not-a-real-key-000000000000' }],
      ['a malformed Authorization header', '{}', { authorization: 'Basic abc' }],
    ];
    for (const [what, body, headers] of cases) {
      const lean = await send(LEAN, body, headers);
      const express = await send(EXPRESS, body, headers);
      expect({ what, status: lean.status }).toEqual({ what, status: express.status });
      expect(lean.status, what).toBeGreaterThanOrEqual(400);
      expect(lean.status, what).toBeLessThan(500);
      expect(lean.headers.get('x-request-id'), what).toMatch(/^req_/);
      expect(await lean.json(), what).toEqual(await express.json());
    }
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: 1_000_000_000n, held: 0n });
    expect(upstream.seen).toEqual([]);
  });

  it('answers a body over the limit 413 from its Content-Length, before reading it, and closes the connection', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const limit = bodyLimitFor(LEAN);
    const answer = await new Promise<{ status: number; connection: string | undefined; body: any }>((resolve, reject) => {
      const req = httpRequest(h.baseUrl + LEAN, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': JSON_TYPE, 'content-length': String(limit + 1) },
      });
      req.on('response', (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c) => (text += c));
        res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body: JSON.parse(text) }));
      });
      req.on('error', reject);
      req.flushHeaders(); // and never a byte of the body
    });
    expect(answer.status).toBe(413);
    expect(answer.connection).toBe('close');
    expect(answer.body.error).toMatchObject({ type: 'invalid_request_error', code: 'request_too_large' });
  });

  it('stops reading a chunked body once it passes the limit and answers 413', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const limit = bodyLimitFor(LEAN);
    const chunk = Buffer.alloc(1024 * 1024, 0x20);
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpRequest(h.baseUrl + LEAN, { method: 'POST', headers: { authorization: `Bearer ${key}`, 'content-type': JSON_TYPE } });
      let answered = false;
      req.on('response', (res) => {
        answered = true;
        res.resume();
        resolve(res.statusCode!);
      });
      // Once the server has answered and closed, our remaining writes fail: that is the point.
      req.on('error', (err) => (answered ? undefined : reject(err)));
      let sent = 0;
      const pump = () => {
        while (!answered && sent <= limit + chunk.length) {
          sent += chunk.length;
          if (!req.write(chunk)) return void req.once('drain', pump);
        }
        if (!answered) req.end();
      };
      pump();
    });
    expect(status).toBe(413);
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: 1_000_000_000n, held: 0n });
  });
});

describe('the lean path answers Anthropic\u2019s Messages as Express does', () => {
  const send = (path: string, body: string, headers: Record<string, string>) =>
    fetch(h.baseUrl + path, { method: 'POST', headers: { 'content-type': JSON_TYPE, 'anthropic-version': '2023-06-01', ...headers }, body });
  const message = JSON.stringify({ model: 'claude-sonnet-4.5', max_tokens: 32, messages: [{ role: 'user', content: 'Hello.' }] });

  it('charges a message the same on either path, with its request-id header', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.fixedUsage = { prompt: 30, completion: 9 };
    const lean = await send(MESSAGES, message, { 'x-api-key': key });
    const afterLean = (await h.services.ledger.balance(accountId)).balance;
    const express = await send(`${MESSAGES}/`, message, { 'x-api-key': key });
    const afterExpress = (await h.services.ledger.balance(accountId)).balance;
    for (const response of [lean, express]) {
      expect(response.status).toBe(200);
      expect(response.headers.get('request-id')).toBe(response.headers.get('x-request-id'));
    }
    const [a, b] = [await lean.json(), await express.json()];
    expect(a.type).toBe('message');
    expect(a.usage).toEqual(b.usage);
    expect(1_000_000_000n - afterLean).toBe(afterLean - afterExpress);
    expect(afterLean).toBeLessThan(1_000_000_000n);
    const rows = await h.services.db('requests').where({ account_id: accountId }).select('endpoint', 'status');
    expect(rows).toEqual([
      { endpoint: MESSAGES, status: 'completed' },
      { endpoint: MESSAGES, status: 'completed' },
    ]);
  });

  it('refuses bad bodies and keys in Anthropic\u2019s error shape, the same on either path, and charges nothing', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const cases: [string, string, Record<string, string>][] = [
      ['malformed JSON', '{"model":', { 'x-api-key': key }],
      ['a JSON string', '"hello"', { 'x-api-key': key }],
      ['no max_tokens', JSON.stringify({ model: 'claude-sonnet-4.5', messages: [{ role: 'user', content: 'hi' }] }), { 'x-api-key': key }],
      ['a NUL character', JSON.stringify({ model: 'claude-sonnet-4.5', max_tokens: 8, messages: [{ role: 'user', content: 'a\u0000b' }] }), { authorization: `Bearer ${key}` }],
      ['an unknown key', message, { 'x-api-key': 'sk-cheapa-not-a-real-key-000000000000' }],
      ['an empty x-api-key', message, { 'x-api-key': ' ' }],
    ];
    for (const [what, body, headers] of cases) {
      const lean = await send(MESSAGES, body, headers);
      const express = await send(`${MESSAGES}/`, body, headers);
      expect({ what, status: lean.status }).toEqual({ what, status: express.status });
      expect(lean.status, what).toBeGreaterThanOrEqual(400);
      expect(lean.status, what).toBeLessThan(500);
      const [a, b] = [await lean.json(), await express.json()];
      expect(a.type, what).toBe('error');
      expect(a.request_id, what).toBe(lean.headers.get('x-request-id'));
      expect({ ...a, request_id: null }, what).toEqual({ ...b, request_id: null });
    }
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: 1_000_000_000n, held: 0n });
    expect(upstream.seen).toEqual([]);
  });
});

describe('the lean path answers OpenAI\u2019s Responses as Express does', () => {
  const send = (path: string, body: string, headers: Record<string, string>) =>
    fetch(h.baseUrl + path, { method: 'POST', headers: { 'content-type': JSON_TYPE, ...headers }, body });
  const response = JSON.stringify({ model: 'gpt-5.2', input: 'Hello.', max_output_tokens: 32 });

  it('charges a response the same on either path', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.fixedUsage = { prompt: 25, completion: 7 };
    const lean = await send(RESPONSES, response, { authorization: `Bearer ${key}` });
    const afterLean = (await h.services.ledger.balance(accountId)).balance;
    const express = await send(`${RESPONSES}/`, response, { authorization: `Bearer ${key}` });
    const afterExpress = (await h.services.ledger.balance(accountId)).balance;
    expect([lean.status, express.status]).toEqual([200, 200]);
    const [a, b] = [await lean.json(), await express.json()];
    expect(a.object).toBe('response');
    expect(a.usage).toEqual(b.usage);
    expect(1_000_000_000n - afterLean).toBe(afterLean - afterExpress);
    expect(afterLean).toBeLessThan(1_000_000_000n);
  });

  it('refuses bad bodies with the same status and error on either path, and charges nothing', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const auth = { authorization: `Bearer ${key}` };
    const cases: [string, string][] = [
      ['malformed JSON', '{"model":'],
      ['store: true', JSON.stringify({ model: 'gpt-5.2', input: 'hi', store: true })],
      ['an unknown model', JSON.stringify({ model: 'no-such-model', input: 'hi' })],
      ['an unknown field', JSON.stringify({ model: 'gpt-5.2', input: 'hi', bogus: 1 })],
    ];
    for (const [what, body] of cases) {
      const lean = await send(RESPONSES, body, auth);
      const express = await send(`${RESPONSES}/`, body, auth);
      expect({ what, status: lean.status }).toEqual({ what, status: express.status });
      expect(lean.status, what).toBeGreaterThanOrEqual(400);
      expect(lean.status, what).toBeLessThan(500);
      expect(await lean.json(), what).toEqual(await express.json());
    }
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: 1_000_000_000n, held: 0n });
  });
});
