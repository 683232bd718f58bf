import OpenAI from 'openai';
import { beforeAll, describe, expect, it } from 'vitest';
import { planHold } from '../../src/chat/hold-plan.js';
import { promptTokenBound } from '../../src/chat/prompt-bound.js';
import { createChatActivities } from '../../src/chat/chat-activities.js';
import { chargeKey } from '../../src/chat/chat-billing.js';
import { formatUsd } from '../../src/ledger/money.js';
import type { Harness } from '../support/harness.js';
import { chatHarness, type TestUpstream } from '../http/chat-upstream.js';

// Chat requests take their worst case from the API process's allowance on the account (the default;
// CHAT_ALLOWANCES=0 turns it off), with no hold row, and each is charged by one ledger operation. An
// idle account's allowance is given back after the default 2 s here, so that a test sees it stay.
const chat = chatHarness({ replyLength: { min: 20, max: 60 } }, { CHAT_ALLOWANCE_IDLE_MS: '2000' });
let h: Harness;
let upstream: TestUpstream;
beforeAll(() => ({ h, upstream } = chat));

const messages = [{ role: 'user' as const, content: 'Explain prepaid credit in one paragraph.' }];
const holdsOf = (accountId: string) => h.services.db('holds').where({ account_id: accountId });
const allowancesOf = (accountId: string) => h.services.db('chat_allowances').where({ account_id: accountId });
const requestsOf = async (accountId: string) => h.services.db('requests').where({ account_id: accountId });

/** Waits until the account's allowance was given back (2 s after its last request). */
const givenBack = (accountId: string) => h.idleBalance(accountId);

describe('chat requests on allowances', () => {
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

  it('after a charge whose shrink is not known (handed off), reserves anew rather than rely on the allowance it counted', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const allowances = h.services.chatAllowances!;
    const { leaseId } = await allowances.take(accountId, 5_000_000n);
    allowances.giveBack(accountId, leaseId, 5_000_000n, null);
    await allowances.take(accountId, 5_000_000n);
    // The capture workflow may have shrunk the first 5,000,000 by now: the second take did not count on it.
    expect((await allowancesOf(accountId)).map((r) => r.amount)).toEqual([10_000_000n]);
    allowances.giveBack(accountId, leaseId, 5_000_000n, 0n);
    await givenBack(accountId);
  });

  it('tries an idle allowance\'s release again when it fails, rather than keeping it held while the process lives', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    await h.services.db.raw(`
      CREATE TABLE release_faults (account_id text PRIMARY KEY, failures integer NOT NULL);
      CREATE SEQUENCE release_failures;
      CREATE FUNCTION fail_release() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN
        IF EXISTS (SELECT 1 FROM release_faults f WHERE f.account_id = OLD.account_id AND nextval('release_failures') <= f.failures) THEN
          RAISE EXCEPTION 'release refused (a test fault)';
        END IF;
        RETURN OLD;
      END $$;
      CREATE TRIGGER release_fault BEFORE DELETE ON chat_allowances FOR EACH ROW EXECUTE FUNCTION fail_release();`);
    try {
      await h.services.db('release_faults').insert({ account_id: accountId, failures: 1 });
      await h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 50 });
      await givenBack(accountId);
      expect(Number((await h.services.db.raw(`SELECT last_value FROM release_failures`)).rows[0].last_value)).toBe(2);
    } finally {
      await h.services.db.raw(`DROP TRIGGER release_fault ON chat_allowances; DROP FUNCTION fail_release(); DROP TABLE release_faults; DROP SEQUENCE release_failures`);
    }
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

describe('chat requests with CHAT_ALLOWANCES=0', () => {
  const rows = chatHarness({ replyLength: { min: 20, max: 60 } }, { CHAT_ALLOWANCES: '0' });

  it('place a hold row each, captured at the exact cost, and reserve no allowance', async () => {
    const { accountId, key } = await rows.h.createAccount({ balanceUsd: '1.00' });
    rows.upstream.controls.fixedUsage = { prompt: 500, completion: 200 };
    const { response } = await rows.h.openai(key).chat.completions.create({ model: 'gpt-5.2', messages }).withResponse();
    expect(rows.h.services.chatAllowances).toBeUndefined();
    const requestId = response.headers.get('x-request-id')!;
    expect(await rows.h.services.db('holds').where({ account_id: accountId })).toEqual([
      expect.objectContaining({ request_id: requestId, status: 'captured', captured_amount: 1_102_500n, purpose: 'chat' }),
    ]);
    expect(await rows.h.services.db('chat_allowances').where({ account_id: accountId })).toEqual([]);
    expect(await rows.h.services.ledger.balance(accountId)).toMatchObject({ balance: 1_000_000_000n - 1_102_500n, held: 0n });
  });
});
