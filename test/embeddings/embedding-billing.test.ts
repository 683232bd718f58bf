import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { captureHandedOff, chatCaptureWorkflowId } from '../../src/chat/durable-capture.js';
import { parseUsd } from '../../src/ledger/money.js';
import { installCaptureFaults } from '../support/capture-faults.js';
import { startHarness, type Harness } from '../support/harness.js';

// The charge of a delivered embedding goes through chat's durable capture: retried in-process
// through a database blip, handed to chatCaptureWorkflow when the database stays away, and landed
// exactly once either way. The fault (test/support/capture-faults.ts): the PostgreSQL backend
// running the capture of a listed account terminates itself.

let h: Harness;
beforeAll(async () => {
  h = await startHarness();
  await installCaptureFaults(h.services.db);
});
afterAll(async () => h?.close());
afterEach(async () => {
  await h.services.db('capture_faults').delete();
  await h.expectBooksBalanced();
});

const holdOfRequest = (requestId: string) => h.services.db('holds').where({ request_id: requestId }).first();

describe('the charge of a delivered embedding survives the database going away at capture time', () => {
  it('a blip: the capture is retried in-process and lands once, with no workflow', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    await h.services.db('capture_faults').insert({ account_id: accountId, blips: 2 });

    const { data, response } = await h.openai(key).embeddings.create({ model: 'text-embedding-3-small', input: 'ledgers balance', encoding_format: 'float' }).withResponse();
    expect(data.data[0]!.embedding).toHaveLength(1536);
    const charged = parseUsd(response.headers.get('x-request-cost-usd')!);
    expect(charged).toBeGreaterThan(0n);
    expect(Number((await h.services.db.raw(`SELECT last_value FROM capture_blips`)).rows[0].last_value)).toBe(3);

    const hold = await holdOfRequest(response.headers.get('x-request-id')!);
    expect(hold).toMatchObject({ status: 'captured', captured_amount: charged });
    expect(await h.services.db('ledger_entries').where({ hold_id: hold.id })).toHaveLength(1);
    expect(await captureHandedOff(h.services.temporal.client, hold.id)).toBe(false);
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00') - charged, held: 0n });
  });

  it('an outage outlasting the retries: the embedding is answered, the charge handed to a workflow, and captured exactly once when the database is back', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    await h.services.db('capture_faults').insert({ account_id: accountId, outage: true });

    const { data, response } = await h.openai(key).embeddings.create({ model: 'text-embedding-3-small', input: ['one', 'two'], encoding_format: 'float' }).withResponse();
    expect(data.data).toHaveLength(2);
    const requestId = response.headers.get('x-request-id')!;
    const charged = parseUsd(response.headers.get('x-request-cost-usd')!);
    expect(charged).toBeGreaterThan(0n);
    expect(data.usage).toMatchObject({ cost: Number(charged) / 1e9 });

    const hold = await holdOfRequest(requestId);
    expect(hold.status).toBe('pending');
    const capture = h.services.temporal.client.workflow.getHandle(chatCaptureWorkflowId(hold.id));
    expect((await capture.describe()).status.name).toBe('RUNNING');
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: hold.amount });

    await h.services.db('capture_faults').delete();
    await capture.result();
    expect(await holdOfRequest(requestId)).toMatchObject({ status: 'captured', captured_amount: charged });
    expect(await h.services.db('ledger_entries').where({ hold_id: hold.id })).toHaveLength(1);
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00') - charged, held: 0n });
    // The request row tells the same charge as the ledger.
    const row = await h.services.db('requests').where({ id: requestId }).first();
    expect(row).toMatchObject({ endpoint: '/v1/embeddings', status: 'completed', hold_id: hold.id });
    expect(BigInt(row.cost)).toBe(charged);
  });
});
