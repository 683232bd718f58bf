import http from 'node:http';
import type { AddressInfo } from 'node:net';
import OpenAI from 'openai';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTextTokens } from '../../src/chat/tokens.js';
import { parseUsd } from '../../src/ledger/money.js';
import { embeddingCost } from '../../src/pricing/cost.js';
import { startHarness, type Harness } from '../support/harness.js';

const norm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));

describe('POST /v1/embeddings against the built-in simulated upstream', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
  });
  afterAll(async () => h?.close());

  it('answers float vectors of the native size, counts real tokens and charges their exact cost', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const text = 'The food was delicious and the waiter was very friendly.';
    const { data: result, response } = await h
      .openai(key)
      .embeddings.create({ model: 'text-embedding-3-large', input: text, encoding_format: 'float' })
      .withResponse();

    const tokens = countTextTokens(text);
    const cost = embeddingCost(h.services.catalog.embedding('text-embedding-3-large')!, tokens);
    expect(result.model).toBe('text-embedding-3-large');
    expect(result.data).toHaveLength(1);
    expect(result.data[0]!.embedding).toHaveLength(3072);
    expect(norm(result.data[0]!.embedding)).toBeCloseTo(1, 5);
    expect(result.usage).toEqual({ prompt_tokens: tokens, total_tokens: tokens, cost: Number(cost) / 1e9 });
    expect(parseUsd(response.headers.get('x-request-cost-usd')!)).toBe(cost);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(parseUsd('1.00') - cost);
    expect((await h.services.ledger.balance(accountId)).held).toBe(0n);

    const row = await h.services.db('requests').where({ id: response.headers.get('x-request-id') }).first();
    expect(row).toMatchObject({ endpoint: '/v1/embeddings', model: 'text-embedding-3-large', status: 'completed', prompt_tokens: tokens, completion_tokens: 0, usage_source: 'upstream' });
    expect(BigInt(row.cost)).toBe(cost);
    await h.expectBooksBalanced();
  });

  it("gives the SDK's default base64 path the same vectors as the float path, and the same input the same vector", async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const floats = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world', encoding_format: 'float' });
    // openai-node asks for base64 when no format is given and decodes it into floats itself.
    const decoded = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world' });
    expect(decoded.data[0]!.embedding).toHaveLength(1536);
    expect(decoded.data[0]!.embedding).toEqual(floats.data[0]!.embedding);

    const raw = await client.embeddings.create({ model: 'text-embedding-3-small', input: 'hello world', encoding_format: 'base64' });
    const bytes = Buffer.from(raw.data[0]!.embedding as unknown as string, 'base64');
    expect(bytes.length).toBe(1536 * 4);
    expect(bytes.readFloatLE(0)).toBe(floats.data[0]!.embedding[0]);
    await h.expectBooksBalanced();
  });

  it("shortens vectors to 'dimensions' and embeds arrays of strings and of token ids, one vector per input", async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const short = await client.embeddings.create({ model: 'text-embedding-3-small', input: ['a cat', 'a dog', 'a cat'], dimensions: 256, encoding_format: 'float' });
    expect(short.data.map((d) => d.index)).toEqual([0, 1, 2]);
    for (const d of short.data) {
      expect(d.embedding).toHaveLength(256);
      expect(norm(d.embedding)).toBeCloseTo(1, 5);
    }
    expect(short.data[2]!.embedding).toEqual(short.data[0]!.embedding);
    expect(short.data[1]!.embedding).not.toEqual(short.data[0]!.embedding);

    const ids = await client.embeddings.create({ model: 'bge-m3', input: [[1, 2, 3], [4, 5]], encoding_format: 'float' });
    expect(ids.data.map((d) => d.embedding.length)).toEqual([1024, 1024]);
    expect(ids.usage.prompt_tokens).toBe(5);

    const small = h.services.catalog.embedding('text-embedding-3-small')!;
    const spent = embeddingCost(small, 3 * countTextTokens('a cat') - countTextTokens('a cat') + countTextTokens('a dog')) + embeddingCost(h.services.catalog.embedding('bge-m3')!, 5);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(parseUsd('1.00') - spent);
    await h.expectBooksBalanced();
  });

  it('takes a request at OpenAI\u2019s own limit of 300,000 tokens, a body of 1.5 MB, and charges every token', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const input = Array.from({ length: 40 }, () => Array.from({ length: 7_500 }, () => 1000));
    expect(Buffer.byteLength(JSON.stringify(input))).toBeGreaterThan(1024 * 1024);
    const result = await h.openai(key).embeddings.create({ model: 'text-embedding-3-small', input, dimensions: 8, encoding_format: 'float' });
    expect(result.data).toHaveLength(40);
    expect(result.usage.prompt_tokens).toBe(300_000);
    const cost = embeddingCost(h.services.catalog.embedding('text-embedding-3-small')!, 300_000);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(parseUsd('1.00') - cost);
    await h.expectBooksBalanced();
  });

  it('answers 402 insufficient_funds when the tokens cannot be held, and charges nothing', async () => {
    const { accountId, key } = await h.createAccount();
    const error = await h.openai(key).embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect((error as InstanceType<typeof OpenAI.APIError>).status).toBe(402);
    expect((error as InstanceType<typeof OpenAI.APIError>).code).toBe('insufficient_funds');
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: 0n, held: 0n });
    const row = await h.services.db('requests').where({ account_id: accountId }).first();
    expect(row).toMatchObject({ status: 'failed', http_status: 402, error_code: 'insufficient_funds' });
    await h.expectBooksBalanced();
  });

  it('refuses bad input with a 400 naming the parameter, and unknown or non-embedding models with a 404', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const failure = (body: Record<string, unknown>) =>
      client.embeddings.create(body as never).then(
        () => {
          throw new Error('expected a refusal');
        },
        (e: InstanceType<typeof OpenAI.APIError>) => ({ status: e.status, param: e.param, message: e.message }),
      );
    expect(await failure({ model: 'text-embedding-3-small', input: '' })).toMatchObject({ status: 400, param: 'input', message: expect.stringMatching(/empty string/) });
    expect(await failure({ model: 'text-embedding-3-small', input: ['ok', ''] })).toMatchObject({ status: 400, param: 'input.1' });
    expect(await failure({ model: 'text-embedding-3-small', input: Array(2049).fill('a') })).toMatchObject({ status: 400, message: expect.stringMatching(/at most 2048/) });
    expect(await failure({ model: 'text-embedding-3-small', input: [[1, 2], 'x'] })).toMatchObject({ status: 400, param: 'input' });
    expect(await failure({ model: 'text-embedding-3-small', input: 'x', dimensions: 4096 })).toMatchObject({ status: 400, param: 'dimensions' });
    expect(await failure({ model: 'bge-m3', input: 'x', dimensions: 256 })).toMatchObject({ status: 400, param: 'dimensions' });
    expect(await failure({ model: 'text-embedding-3-small', input: 'x', encoding_format: 'int8' })).toMatchObject({ status: 400, param: 'encoding_format' });
    expect(await failure({ model: 'text-embedding-3-small', input: [Array(8193).fill(1)] })).toMatchObject({ status: 400, param: 'input', message: expect.stringMatching(/8192 tokens/) });
    expect(await failure({ model: 'gpt-5.2', input: 'x' })).toMatchObject({ status: 404, param: 'model' });
    expect(await failure({ model: 'no-such-model', input: 'x' })).toMatchObject({ status: 404, param: 'model' });
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
    await h.expectBooksBalanced();
  });

  it('is listed in /openapi.json and its models in /v1/models with their prices', async () => {
    const doc = await (await h.call('GET', '/openapi.json')).json();
    expect(doc.paths['/v1/embeddings']?.post).toBeDefined();
    const { key } = await h.createAccount();
    const model = await (await h.call('GET', '/v1/models/text-embedding-3-small', { key })).json();
    expect(model).toMatchObject({ kind: 'embedding', dimensions: 1536, pricing: { input_usd_per_million_tokens: '0.006' } });
  });
});

describe('POST /v1/embeddings when the upstream fails', () => {
  let h: Harness;
  let upstream: http.Server;
  beforeAll(async () => {
    upstream = http.createServer((_req, res) => {
      res.writeHead(503, { 'content-type': 'application/json' }).end(JSON.stringify({ error: { message: 'overloaded', type: 'server_error', code: null, param: null } }));
    });
    await new Promise<void>((resolve) => upstream.listen(0, '127.0.0.1', resolve));
    h = await startHarness({ worker: false, env: { UPSTREAM_BASE_URL: `http://127.0.0.1:${(upstream.address() as AddressInfo).port}/v1` } });
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((resolve) => upstream?.close(resolve));
  });

  it('releases the whole hold and passes the upstream status on', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const error = (await h.openai(key).embeddings.create({ model: 'text-embedding-3-small', input: 'hello' }).catch((e: unknown) => e)) as InstanceType<typeof OpenAI.APIError>;
    expect(error.status).toBe(503);
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
    const hold = await h.services.db('holds').where({ account_id: accountId }).first();
    expect(hold.status).toBe('released');
    await h.expectBooksBalanced();
  });
});
