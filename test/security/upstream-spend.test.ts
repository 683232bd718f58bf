import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FORWARDED_FIELDS } from '../../src/chat/forwarded-fields.js';
import { countPromptTokens, countTextTokens } from '../../src/chat/tokens.js';
import { parseUsd } from '../../src/ledger/money.js';
import { chatCost } from '../../src/pricing/cost.js';
import { startHarness, type Harness } from '../support/harness.js';
import { startScriptedUpstream, type ScriptedUpstream } from './scripted-upstream.js';
import fs from 'node:fs';

// Upstream spend we could be made to give away, replayed. Once the upstream accepted a request it
// bills us, whether or not the caller is still listening; the caller pays what it reports.

let h: Harness;
let upstream: ScriptedUpstream & { reset(): void };
beforeAll(async () => {
  upstream = (await startScriptedUpstream()) as ScriptedUpstream & { reset(): void };
  h = await startHarness({ worker: false, env: { UPSTREAM_BASE_URL: upstream.baseUrl, CHAT_DRAIN_TIMEOUT: '1' } });
});
afterAll(async () => {
  await h?.close();
  await upstream?.close();
});
afterEach(async () => {
  upstream.release();
  upstream.reset();
  await h.expectBooksBalanced();
});

const messages = [{ role: 'user' as const, content: 'Think hard, then answer briefly.' }];
const gpt52 = () => h.services.catalog.chat('gpt-5.2')!;

function send(key: string, body: Record<string, unknown>, signal: AbortSignal) {
  return fetch(`${h.baseUrl}/v1/chat/completions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'gpt-5.2', messages, ...body }),
    signal,
  });
}

/** Streams a chat request and hangs up once `until` matches what arrived. */
async function hangUp(key: string, body: Record<string, unknown>, until: RegExp): Promise<void> {
  const controller = new AbortController();
  const response = await send(key, body, controller.signal);
  const reader = response.body!.getReader();
  let received = '';
  while (!until.test(received)) received += new TextDecoder().decode((await reader.read()).value);
  controller.abort();
}

/** Sends a plain (non-streamed) request and hangs up once the upstream has it, before any answer. */
async function hangUpBeforeAnswer(key: string): Promise<void> {
  const controller = new AbortController();
  const response = send(key, {}, controller.signal).catch(() => undefined);
  while (upstream.seen.length === 0) await sleep(10);
  controller.abort();
  await response;
}

/** The request row, once the gateway has settled and recorded the call. */
async function settledRow(where: Record<string, string>) {
  for (let i = 0; i < 400; i++) {
    const row = await h.services.db('requests').where(where).first();
    if (row) return row;
    await sleep(25);
  }
  throw new Error('the request was never recorded');
}

describe('a caller who hangs up does not get the upstream work for free', () => {
  it.each([
    ['before the first visible token', [], /"role":"assistant"/],
    ['after some text, before the usage chunk', ['Because', ' of'], /"content":"Because"/],
  ])('a stream cut %s pays the upstream’s usage, hidden reasoning tokens included', async (_when, before, until) => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.script.visibleBeforeGate = before;
    await hangUp(key, { stream: true }, until);
    // Give the gateway time to notice the hang-up before the upstream finishes (on a gateway that
    // stopped the upstream at that moment, the usage would never come).
    await sleep(300);
    upstream.release();

    const row = await settledRow({ account_id: accountId });
    const completion = before.length + 2 + 600;
    expect(row).toMatchObject({ status: 'client_closed', usage_source: 'upstream', prompt_tokens: 40, completion_tokens: completion });
    expect(row.cost).toBe(chatCost(gpt52(), { promptTokens: 40, completionTokens: completion }));
    expect(upstream.endings).toEqual(['finished']);
    expect(upstream.seen[0].stream_options).toEqual({ include_usage: true });
    expect(await h.chargesOf(row.id)).toEqual([-row.cost]);
    expect(await h.idleBalance(accountId)).toMatchObject({ balance: parseUsd('1.00') - row.cost, held: 0n });
  });

  it('a non-streamed request whose caller hangs up is still completed upstream and charged', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    await hangUpBeforeAnswer(key);
    await sleep(300);
    upstream.release();

    const row = await settledRow({ account_id: accountId });
    expect(row).toMatchObject({ status: 'client_closed', http_status: 499, usage_source: 'upstream', prompt_tokens: 40, completion_tokens: 602 });
    expect(row.cost).toBe(chatCost(gpt52(), { promptTokens: 40, completionTokens: 602 }));
    expect(upstream.endings).toEqual(['finished']);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(parseUsd('1.00') - row.cost);
  });

  it.each([
    ['before any text', [] as string[]],
    ['after some text', ['Partial', ' answer']],
  ])('an upstream that never reports usage once the caller left %s is stopped at the drain bound and charged the prompt plus the output seen, never nothing', async (_when, before) => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.script.visibleBeforeGate = before;
    upstream.script.stall = true;
    upstream.release();
    await hangUp(key, { stream: true }, /"role":"assistant"/);

    const row = await settledRow({ account_id: accountId });
    const prompt = countPromptTokens(messages);
    const seen = before.length ? countTextTokens(before.join('')) : 0;
    expect(prompt).toBeGreaterThan(0);
    expect(row).toMatchObject({ status: 'client_closed', usage_source: 'estimated', prompt_tokens: prompt, completion_tokens: seen });
    expect(row.cost).toBe(chatCost(gpt52(), { promptTokens: prompt, completionTokens: seen }));
    expect(row.cost).toBeGreaterThan(0n);
    expect(upstream.endings).toEqual(['closed_early']);
  });

  it('a non-streamed request whose caller left and whose upstream stalls is charged the prompt at the drain bound', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.script.stall = true;
    upstream.release();
    await hangUpBeforeAnswer(key);

    const row = await settledRow({ account_id: accountId });
    expect(row).toMatchObject({ status: 'client_closed', usage_source: 'estimated', completion_tokens: 0 });
    expect(row.cost).toBe(chatCost(gpt52(), { promptTokens: countPromptTokens(messages), completionTokens: 0 }));
    expect(row.cost).toBeGreaterThan(0n);
  });

  it('a caller who did not ask for usage gets no usage chunk, though the gateway asked the upstream for it', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.release();
    const response = await h.call('POST', '/v1/chat/completions', { key, body: { model: 'gpt-5.2', messages, stream: true } });
    const text = await response.text();
    expect(text).toContain('data: [DONE]');
    expect(text).not.toMatch(/"usage":\{/);
    expect(upstream.seen[0].stream_options).toEqual({ include_usage: true });
  });
});

describe('fields that would change the upstream’s price are refused, and only documented fields are forwarded', () => {
  const tool = { type: 'function', function: { name: 'lookup', parameters: { type: 'object', properties: {} } } };
  it.each([
    [{ service_tier: 'priority' }, 'service_tier', 'unsupported_parameter'],
    [{ service_tier: 'flex' }, 'service_tier', 'unsupported_parameter'],
    [{ web_search_options: {} }, 'web_search_options', 'unsupported_parameter'],
    [{ tools: [tool, { type: 'web_search_preview' }] }, 'tools[1].type', 'unsupported_parameter'],
    [{ store: true }, 'store', 'unsupported_parameter'],
    [{ modalities: ['text', 'audio'] }, 'modalities', 'unsupported_parameter'],
    [{ audio: { voice: 'alloy', format: 'wav' } }, 'audio', 'unsupported_parameter'],
    [
      { messages: [{ role: 'user', content: [{ type: 'input_audio', input_audio: { data: 'AAAA', format: 'wav' } }] }] },
      'messages[0].content[0].type',
      'unsupported_parameter',
    ],
    [{ surprise_fee_option: true }, 'surprise_fee_option', 'unknown_parameter'],
  ])('%j answers 400 naming %s, holds nothing and sends nothing upstream', async (extra, param, code) => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const response = await h.call('POST', '/v1/chat/completions', { key, body: { model: 'gpt-5.2', messages, ...extra } });
    expect(response.status).toBe(400);
    expect((await response.json()).error).toMatchObject({ type: 'invalid_request_error', code, param });
    expect(upstream.seen).toHaveLength(0);
    expect(await h.services.db('holds').where({ account_id: accountId })).toEqual([]);
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
  });

  it('forwards standard-priced options as sent', async () => {
    const { key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.release();
    const body = { model: 'gpt-5.2', messages, temperature: 0.3, seed: 7, service_tier: 'default', store: false, tools: [tool], user: 'u-1' };
    const response = await h.call('POST', '/v1/chat/completions', { key, body });
    expect(response.status).toBe(200);
    expect(upstream.seen[0]).toMatchObject({ temperature: 0.3, seed: 7, service_tier: 'default', store: false, tools: [tool], user: 'u-1' });
  });

  it('the README documents exactly the forwarded fields', () => {
    const readme = fs.readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const section = readme.split('### Chat request fields')[1]?.split('\n## ')[0]?.split('\n### ')[0] ?? '';
    const listed = section.split('\n').find((line) => line.startsWith('Forwarded:')) ?? '';
    expect(new Set([...listed.matchAll(/`([a-z_]+)`/g)].map((m) => m[1]))).toEqual(new Set(FORWARDED_FIELDS));
  });
});
