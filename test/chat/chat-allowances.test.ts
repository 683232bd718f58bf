import OpenAI from 'openai';
import { setTimeout as sleep } from 'node:timers/promises';
import { beforeAll, describe, expect, it } from 'vitest';
import { planHold } from '../../src/chat/hold-plan.js';
import { promptTokenBound } from '../../src/chat/prompt-bound.js';
import { createChatActivities } from '../../src/chat/chat-activities.js';
import { chargeKey } from '../../src/chat/chat-billing.js';
import { formatUsd } from '../../src/ledger/money.js';
import type { Harness } from '../support/harness.js';
import { chatHarness, type TestUpstream } from '../http/chat-upstream.js';

// CHAT_ALLOWANCES=1: chat requests take their worst case from the API process's allowance on the
// account, with no hold row, and each is charged by one ledger operation.
const chat = chatHarness({ replyLength: { min: 20, max: 60 } }, { CHAT_ALLOWANCES: '1' });
let h: Harness;
let upstream: TestUpstream;
beforeAll(() => ({ h, upstream } = chat));

const messages = [{ role: 'user' as const, content: 'Explain prepaid credit in one paragraph.' }];
const holdsOf = (accountId: string) => h.services.db('holds').where({ account_id: accountId });
const allowancesOf = (accountId: string) => h.services.db('chat_allowances').where({ account_id: accountId });
const requestsOf = async (accountId: string) => h.services.db('requests').where({ account_id: accountId });

/** Polls until the account's allowance was given back (2 s after its last request). */
async function givenBack(accountId: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if ((await allowancesOf(accountId)).length === 0) return;
    await sleep(100);
  }
  throw new Error(`the allowance of ${accountId} was not given back`);
}

describe('chat requests on allowances (CHAT_ALLOWANCES=1)', () => {
  it('charges a request its exact cost with no hold row, writes its request row, and gives the allowance back when idle', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.fixedUsage = { prompt: 500, completion: 200 };
    const completion = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages });
    expect(completion.usage).toMatchObject({ prompt_tokens: 500, completion_tokens: 200 });

    expect(await holdsOf(accountId)).toHaveLength(0);
    const [row] = await requestsOf(accountId);
    expect(row).toMatchObject({ status: 'completed', hold_id: null, cost: 1_102_500n });
    const balance = await h.services.ledger.balance(accountId);
    expect(balance.balance).toBe(1_000_000_000n - 1_102_500n);
    // Until it is given back, the request's worst case stays reserved for the account's next request.
    expect(balance.held).toBeGreaterThan(0n);

    await givenBack(accountId);
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ held: 0n, available: 1_000_000_000n - 1_102_500n });
  });

  it('serves many concurrent requests of one account, each charged once, never past its balance', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '0.05' });
    upstream.controls.delayMs = 30;
    const client = h.openai(key);
    const results = await Promise.allSettled(Array.from({ length: 24 }, () => client.chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 200 })));
    const served = results.filter((r) => r.status === 'fulfilled').length;
    const refused = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    expect(served).toBeGreaterThan(0);
    for (const r of refused) expect(r.reason).toMatchObject({ status: 402 });

    const rows = await requestsOf(accountId);
    const charged = rows.filter((r) => r.status === 'completed');
    expect(charged).toHaveLength(served);
    const spent = charged.reduce((t, r) => t + BigInt(r.cost), 0n);
    const balance = await h.services.ledger.balance(accountId);
    expect(balance.balance).toBe(50_000_000n - spent);
    expect(balance.available).toBeGreaterThanOrEqual(0n);
    expect(await holdsOf(accountId)).toHaveLength(0);
    await givenBack(accountId);
  });

  it('lowers the output limit to what the balance affords, as with a hold, and refuses with 402 when not even the prompt is', async () => {
    const available = 200_000n; // $0.0002
    const { accountId, key } = await h.createAccount({ balanceUsd: formatUsd(available) });
    const body = { model: 'gpt-5.2', messages };
    const { response } = await h.openai(key).chat.completions.create(body).withResponse();
    const plan = planHold({ model: h.services.catalog.chat('gpt-5.2')!, promptTokenBound: promptTokenBound(body), requestedMaxTokens: undefined, choices: 1, available });
    expect(plan.affordable).toBe(true);
    expect(upstream.seen[0]!.max_completion_tokens).toBe(plan.affordable && plan.maxTokens);
    expect(response.headers.get('x-max-tokens-cap')).toBe(String(upstream.seen[0]!.max_completion_tokens));
    await givenBack(accountId);
    expect((await h.services.ledger.balance(accountId)).available).toBeGreaterThanOrEqual(0n);

    const broke = await h.createAccount();
    const error = await h.openai(broke.key).chat.completions.create({ model: 'gpt-5.2', messages }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    expect(error.status).toBe(402);
    expect(error.code).toBe('insufficient_funds');
    expect(await allowancesOf(broke.accountId)).toHaveLength(0);
    expect((await h.services.ledger.balance(broke.accountId)).held).toBe(0n);
  });

  it('charges nothing for a request the upstream failed, and gives its take back', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    upstream.controls.model = 'sim-error-503';
    const error = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages }).catch((e) => e);
    expect(error).toBeInstanceOf(OpenAI.APIError);
    await givenBack(accountId);
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: 1_000_000_000n, held: 0n });
  });

  it('answers 503 when this process finds its lease lapsed, and serves the retry under a fresh lease', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const stale = await h.services.holdLease.id();
    await h.services.db('process_leases').where({ id: stale }).update({ renewed_at: h.services.db.raw(`now() - interval '1 minute'`), expires_at: h.services.db.raw(`now() - interval '1 second'`) });
    const error = await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 50 }, { maxRetries: 0 }).catch((e) => e);
    expect(error).toMatchObject({ status: 503 });
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: 1_000_000_000n, held: 0n });

    await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 50 });
    expect(await h.services.holdLease.id()).not.toBe(stale);
    await givenBack(accountId);
  });

  it('a charge handed off to the capture workflow lands once against the allowance, however often its activity runs', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const { leaseId } = await h.services.chatAllowances!.take(accountId, 5_000_000n);
    const order = { holdId: 'allowance-req_handoff', accountId, amount: '1200000', requestId: 'req_handoff', leaseId, idempotencyKey: chargeKey('req_handoff') };
    const activities = createChatActivities(h.services);
    await activities.captureChatHold(order);
    await activities.captureChatHold(order);
    h.services.chatAllowances!.giveBack(accountId, leaseId, 5_000_000n, 0n);
    expect((await h.services.ledger.balance(accountId)).balance).toBe(1_000_000_000n - 1_200_000n);
    expect(await h.services.db('ledger_entries').where({ idempotency_key: chargeKey('req_handoff') })).toHaveLength(1);
    await givenBack(accountId);
  });

  it('a key with a spend limit still places hold rows, which its budget counts', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '10.00' });
    const created = await h.call('POST', '/v1/keys', { key, body: { name: 'capped', limit_usd: '5.00' } });
    expect(created.status).toBe(201);
    await h.openai((await created.json()).key).chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 200 });
    expect(await holdsOf(accountId)).toEqual([expect.objectContaining({ status: 'captured', purpose: 'chat' })]);
    expect(await allowancesOf(accountId)).toHaveLength(0);
  });
});
