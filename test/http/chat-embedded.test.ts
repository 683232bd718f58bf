import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { countTextTokens } from '../../src/chat/tokens.js';
import { parseUsd } from '../../src/ledger/money.js';
import { startHarness, type Harness } from '../support/harness.js';

describe('chat with no UPSTREAM_BASE_URL', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ worker: false });
  });
  afterAll(async () => h?.close());

  it('is answered end to end by the built-in simulated upstream, with real token counts, and billed', async () => {
    expect(h.services.config.upstream.baseUrl).toBeUndefined();
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const client = h.openai(key);
    const messages = [{ role: 'user' as const, content: 'Hello' }];

    const first = await client.chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 16 });
    const again = await client.chat.completions.create({ model: 'gpt-5.2', messages, max_tokens: 16 });
    const text = first.choices[0]!.message.content!;
    expect(again.choices[0]!.message.content).toBe(text);
    expect(first.usage).toMatchObject({ prompt_tokens: 8, completion_tokens: countTextTokens(text) });
    expect(first.usage!.completion_tokens).toBeLessThanOrEqual(16);

    const spent = parseUsd('1.00') - (await h.services.ledger.balance(accountId)).balance;
    expect(spent).toBe(2n * parseUsd(String((first.usage as unknown as { cost: number }).cost)));
    await h.expectBooksBalanced();
  });
});
