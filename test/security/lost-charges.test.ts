import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { captureHandedOff, chatCaptureWorkflowId } from '../../src/chat/durable-capture.js';
import { freePort } from '../../src/launcher/free-port.js';
import { parseUsd } from '../../src/ledger/money.js';
import { listenChatSandbox, type ListeningChatSandbox } from '../../src/sandboxes/chat/chat-sandbox.js';
import { HOLD_SWEEP_WORKFLOW_TYPE, type HoldSweepResult } from '../../workflows/hold-sweep.js';
import { installCaptureFaults } from '../support/capture-faults.js';
import { startHarness, type Harness } from '../support/harness.js';

// Accidents that used to lose a charge or strand a customer's money, replayed against the real
// PostgreSQL and Temporal: a database blip while a delivered answer is charged, an outage that
// outlasts the in-process retries, and an API process that dies mid-request.

let h: Harness;
let upstream: ListeningChatSandbox;
let slowUpstream: ListeningChatSandbox;
beforeAll(async () => {
  upstream = await listenChatSandbox({ replyLength: { min: 20, max: 40 } });
  slowUpstream = await listenChatSandbox({ tokenDelayMs: 20, replyLength: { min: 2000, max: 2000 } });
  h = await startHarness({ env: { UPSTREAM_BASE_URL: upstream.baseUrl } });
  // The fault: the database backend of a listed account's capture dies mid-statement (see capture-faults.ts).
  await installCaptureFaults(h.services.db);
});
afterAll(async () => {
  await h?.close();
  await upstream?.close();
  await slowUpstream?.close();
});
afterEach(async () => {
  await h.services.db('capture_faults').delete();
  await h.expectBooksBalanced();
});

const messages = [{ role: 'user' as const, content: 'Summarise double-entry bookkeeping.' }];

function sweep(): Promise<HoldSweepResult> {
  return h.services.temporal.client.workflow.execute(HOLD_SWEEP_WORKFLOW_TYPE, {
    taskQueue: h.services.temporal.taskQueue,
    workflowId: `sweep-${randomBytes(4).toString('hex')}`,
    args: [{}],
  });
}

const holdOfRequest = (requestId: string) => h.services.db('holds').where({ request_id: requestId }).first();

describe('the charge of a delivered answer is never lost to a transient database failure', () => {
  it('a database blip during the capture: retried in-process, charged exactly once', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    await h.services.db('capture_faults').insert({ account_id: accountId, blips: 2 });

    const response = await h.call('POST', '/v1/chat/completions', { key, body: { model: 'gpt-5.2', messages } });
    expect(response.status).toBe(200);
    const body = await response.json();
    const requestId = response.headers.get('x-request-id')!;
    // Two captures died with their backend; the third landed.
    expect(Number((await h.services.db.raw(`SELECT last_value FROM capture_blips`)).rows[0].last_value)).toBe(3);

    const hold = await holdOfRequest(requestId);
    expect(hold.status).toBe('captured');
    const charged = parseUsd(response.headers.get('x-request-cost-usd')!);
    expect(hold.captured_amount).toBe(charged);
    expect(body.usage.cost).toBeGreaterThan(0);
    expect(await h.services.db('ledger_entries').where({ hold_id: hold.id })).toHaveLength(1);
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00') - charged, held: 0n });
    expect(await captureHandedOff(h.services.temporal.client, hold.id)).toBe(false);
  });

  it('an outage outlasting the retries: the charge goes to a workflow, the hold stays held (even past its process lease) and is captured when the database is back', async () => {
    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    await h.services.db('capture_faults').insert({ account_id: accountId, outage: true });

    const response = await h.call('POST', '/v1/chat/completions', { key, body: { model: 'gpt-5.2', messages } });
    expect(response.status).toBe(200);
    const charged = parseUsd(response.headers.get('x-request-cost-usd')!);
    expect(charged).toBeGreaterThan(0n);
    const hold = await holdOfRequest(response.headers.get('x-request-id')!);
    expect(hold.status).toBe('pending');
    const capture = h.services.temporal.client.workflow.getHandle(chatCaptureWorkflowId(hold.id));
    expect((await capture.describe()).status.name).toBe('RUNNING');

    // Even if the process that placed the hold is taken for dead, the sweep leaves an owed charge alone.
    await h.services.db('process_leases')
      .where({ id: hold.lease_id })
      .update({ renewed_at: h.services.db.raw(`now() - interval '1 hour'`), expires_at: h.services.db.raw(`now() - interval '1 hour'`) });
    expect((await sweep()).releasedOfDeadProcesses).toBe(0);
    expect((await holdOfRequest(hold.request_id)).status).toBe('pending');

    await h.services.db('capture_faults').delete();
    await capture.result();
    expect(await holdOfRequest(hold.request_id)).toMatchObject({ status: 'captured', captured_amount: charged });
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00') - charged, held: 0n });
  });
});

describe('the holds of a process that dies are released within about a minute', () => {
  let child: ChildProcess | undefined;
  afterAll(() => {
    child?.kill('SIGKILL');
  });

  it('an API process killed mid-stream: its hold survives sweeps while it lives, and is released by the first sweep after its lease lapses', async () => {
    const port = await freePort();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-api-process-'));
    child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./api-process.ts', import.meta.url))], {
      env: {
        ...process.env,
        PORT: String(port),
        DATABASE_URL: h.databaseUrl,
        TEMPORAL_ADDRESS: h.services.temporal.address,
        TEMPORAL_NAMESPACE: h.services.temporal.namespace,
        TEMPORAL_TASK_QUEUE: h.services.temporal.taskQueue,
        ADMIN_TOKEN: h.adminToken,
        DATA_DIR: dataDir,
        UPSTREAM_BASE_URL: slowUpstream.baseUrl,
        CHAT_HOLD_LEASE_TTL: '1',
        LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    const exited = new Promise((resolve) => child!.once('exit', resolve));
    await new Promise<void>((resolve, reject) => {
      child!.stdout!.on('data', (d: Buffer) => d.toString().includes('api ready') && resolve());
      child!.once('exit', () => reject(new Error('the API process exited before it was ready')));
    });

    const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
    const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5.2', messages, stream: true }),
    });
    const reader = response.body!.getReader();
    let received = '';
    while ((received.match(/"content":"[^"]+"/g) ?? []).length < 3) received += new TextDecoder().decode((await reader.read()).value);
    const hold = await h.services.db('holds').where({ account_id: accountId }).first();
    expect(hold).toMatchObject({ status: 'pending', purpose: 'chat' });
    expect(hold.lease_id).toBeTruthy();

    // Alive, the process renews its lease (every third of a second here): the sweep leaves its hold.
    expect((await sweep()).releasedOfDeadProcesses).toBe(0);
    expect((await h.services.db('holds').where({ id: hold.id }).first()).status).toBe('pending');

    child.kill('SIGKILL');
    await exited;
    await reader.cancel().catch(() => {});
    while (!(await h.services.db.raw(`SELECT expires_at < now() AS lapsed FROM process_leases WHERE id = ?`, [hold.lease_id])).rows[0].lapsed) {
      await sleep(100);
    }

    expect((await sweep()).releasedOfDeadProcesses).toBe(1);
    expect((await h.services.db('holds').where({ id: hold.id }).first()).status).toBe('released');
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
    fs.rmSync(dataDir, { recursive: true, force: true });
  });

  it('the audit flags a hold still pending five minutes after its process lease lapsed, and the sweep clears it', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const leaseId = `lease_dead_${randomBytes(4).toString('hex')}`;
    await h.services.db.raw(
      `INSERT INTO process_leases (id, host, pid, started_at, renewed_at, expires_at)
       VALUES (?, 'gone', 1, now() - interval '1 hour', now() - interval '11 minutes', now() - interval '10 minutes')`,
      [leaseId],
    );
    const { value: hold } = await h.services.ledger.placeHold({
      accountId,
      amount: parseUsd('0.10'),
      idempotencyKey: `chat:${leaseId}`,
      purpose: 'chat',
      leaseId,
      expiresAt: new Date(Date.now() + 3 * 3600_000),
    });

    const report = await h.audit();
    const check = report.checks.find((c) => c.name === 'no_pending_hold_of_a_dead_process')!;
    expect(check.ok).toBe(false);
    expect(check.discrepancies).toEqual([expect.objectContaining({ hold_id: hold.id, lease_id: leaseId })]);

    expect((await sweep()).releasedOfDeadProcesses).toBeGreaterThanOrEqual(1);
    expect((await h.audit()).ok).toBe(true);
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
  });

  it('the audit flags a chat allowance still held five minutes after its process lease lapsed, and the sweep releases it', async () => {
    const { accountId } = await h.createAccount({ balanceUsd: '1.00' });
    const leaseId = `lease_dead_${randomBytes(4).toString('hex')}`;
    await h.services.db.raw(
      `INSERT INTO process_leases (id, host, pid, started_at, renewed_at, expires_at)
       VALUES (?, 'gone', 1, now() - interval '1 hour', now() - interval '11 minutes', now() + interval '1 minute')`,
      [leaseId],
    );
    await h.services.ledger.reserveAllowance({ accountId, leaseId, amount: parseUsd('0.20') });
    await h.services.db('process_leases').where({ id: leaseId }).update({ expires_at: h.services.db.raw(`now() - interval '10 minutes'`) });

    const check = (await h.audit()).checks.find((c) => c.name === 'no_allowance_of_a_dead_process')!;
    expect(check.discrepancies).toEqual([expect.objectContaining({ account_id: accountId, lease_id: leaseId })]);

    expect((await sweep()).releasedAllowancesOfDeadProcesses).toBeGreaterThanOrEqual(1);
    expect((await h.audit()).ok).toBe(true);
    expect(await h.services.ledger.balance(accountId)).toMatchObject({ balance: parseUsd('1.00'), held: 0n });
  });
});
