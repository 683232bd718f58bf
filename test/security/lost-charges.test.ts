import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { allowanceCaptureName, captureHandedOff, chatCaptureWorkflowId } from '../../src/chat/durable-capture.js';
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

// The two ways a chat request's worst case is held, each tested: the API process's allowance on the
// account (a key without a spend limit), and a hold row of its own (a key with one).
const paths = [
  { path: 'on an allowance', limited: false },
  { path: 'on a hold row', limited: true },
];

/** A customer with $1.00, calling with an unlimited key or with one whose spend limit is far off. */
async function customer(limited: boolean): Promise<{ accountId: string; key: string }> {
  const { accountId, key } = await h.createAccount({ balanceUsd: '1.00' });
  if (!limited) return { accountId, key };
  const created = await h.call('POST', '/v1/keys', { key, body: { name: 'limited', limit_usd: '100' } });
  expect(created.status).toBe(201);
  return { accountId, key: (await created.json()).key };
}

/** The workflow a request's charge is handed to: named by its hold, or by the request when on an allowance. */
async function captureNameOf(requestId: string, limited: boolean): Promise<string> {
  if (!limited) return allowanceCaptureName(requestId);
  const hold = await holdOfRequest(requestId);
  return hold.id;
}

/** Takes this API process for dead, as a stalled renewal would, and lets it notice (its next request takes a fresh lease). */
async function lapseOwnLease(): Promise<number> {
  const leaseId = await h.services.holdLease.id();
  await h.services.db('process_leases')
    .where({ id: leaseId })
    .update({ renewed_at: h.services.db.raw(`now() - interval '1 hour'`), expires_at: h.services.db.raw(`now() - interval '1 hour'`) });
  const swept = await sweep();
  await h.services.holdLease.lapsed(leaseId);
  return swept.releasedOfDeadProcesses;
}

describe('the charge of a delivered answer is never lost to a transient database failure', () => {
  it.each(paths)('a database blip during the capture, $path: retried in-process, charged exactly once', async ({ limited }) => {
    const { accountId, key } = await customer(limited);
    await h.services.db('capture_faults').insert({ account_id: accountId, blips: 2 });

    const response = await h.call('POST', '/v1/chat/completions', { key, body: { model: 'gpt-5.2', messages } });
    expect(response.status).toBe(200);
    const body = await response.json();
    const requestId = response.headers.get('x-request-id')!;
    // Two captures died with their backend; the third landed.
    expect(Number((await h.services.db.raw(`SELECT last_value FROM capture_blips`)).rows[0].last_value)).toBe(3);
    await h.services.db.raw(`ALTER SEQUENCE capture_blips RESTART`);

    const charged = parseUsd(response.headers.get('x-request-cost-usd')!);
    expect(body.usage.cost).toBeGreaterThan(0);
    expect(await h.chargesOf(requestId)).toEqual([-charged]);
    if (limited) expect(await holdOfRequest(requestId)).toMatchObject({ status: 'captured', captured_amount: charged });
    else expect(await holdOfRequest(requestId)).toBeUndefined();
    expect(await h.idleBalance(accountId)).toMatchObject({ balance: parseUsd('1.00') - charged, held: 0n });
    expect(await captureHandedOff(h.services.temporal.client, await captureNameOf(requestId, limited))).toBe(false);
  });

  it.each(paths)('an outage outlasting the retries, $path: the charge goes to a workflow, survives its process lease, and lands when the database is back', async ({ limited }) => {
    const { accountId, key } = await customer(limited);
    await h.services.db('capture_faults').insert({ account_id: accountId, outage: true });

    const response = await h.call('POST', '/v1/chat/completions', { key, body: { model: 'gpt-5.2', messages } });
    expect(response.status).toBe(200);
    const requestId = response.headers.get('x-request-id')!;
    const charged = parseUsd(response.headers.get('x-request-cost-usd')!);
    expect(charged).toBeGreaterThan(0n);
    expect(await h.chargesOf(requestId)).toEqual([]);
    const capture = h.services.temporal.client.workflow.getHandle(chatCaptureWorkflowId(await captureNameOf(requestId, limited)));
    expect((await capture.describe()).status.name).toBe('RUNNING');

    // Even if the process is taken for dead, the sweep leaves an owed charge's hold alone; an
    // allowance it may release, as the balance then covers the charge.
    expect(await lapseOwnLease()).toBe(0);
    if (limited) expect(await holdOfRequest(requestId)).toMatchObject({ status: 'pending' });

    await h.services.db('capture_faults').delete();
    await capture.result();
    expect(await h.chargesOf(requestId)).toEqual([-charged]);
    if (limited) expect(await holdOfRequest(requestId)).toMatchObject({ status: 'captured', captured_amount: charged });
    expect(await h.idleBalance(accountId)).toMatchObject({ balance: parseUsd('1.00') - charged, held: 0n });
  });
});

describe('the holds of a process that dies are released within about a minute', () => {
  let child: ChildProcess | undefined;
  afterEach(() => {
    child?.kill('SIGKILL');
  });

  it.each(paths)('an API process killed mid-stream, $path: what it held survives sweeps while it lives, and is released by the first sweep after its lease lapses', async ({ limited }) => {
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

    const { accountId, key } = await customer(limited);
    const response = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, {
      method: 'POST',
      headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
      body: JSON.stringify({ model: 'gpt-5.2', messages, stream: true }),
    });
    const reader = response.body!.getReader();
    let received = '';
    while ((received.match(/"content":"[^"]+"/g) ?? []).length < 3) received += new TextDecoder().decode((await reader.read()).value);
    const holds = () => h.services.db('holds').where({ account_id: accountId });
    const allowances = () => h.services.db('chat_allowances').where({ account_id: accountId });
    const [held] = limited ? await holds() : await allowances();
    if (limited) expect(held).toMatchObject({ status: 'pending', purpose: 'chat' });
    else expect(await holds()).toEqual([]);
    expect(held.lease_id).toBeTruthy();
    expect((await h.services.ledger.balance(accountId)).held).toBeGreaterThan(0n);

    // Alive, the process renews its lease (every third of a second here): the sweep leaves what it holds.
    const alive = await sweep();
    expect(alive.releasedOfDeadProcesses + alive.releasedAllowancesOfDeadProcesses).toBe(0);
    if (limited) expect(await holds()).toMatchObject([{ id: held.id, status: 'pending' }]);
    else expect(await allowances()).toHaveLength(1);

    child.kill('SIGKILL');
    await exited;
    await reader.cancel().catch(() => {});
    while (!(await h.services.db.raw(`SELECT expires_at < now() AS lapsed FROM process_leases WHERE id = ?`, [held.lease_id])).rows[0].lapsed) {
      await sleep(100);
    }

    const dead = await sweep();
    expect(limited ? dead.releasedOfDeadProcesses : dead.releasedAllowancesOfDeadProcesses).toBe(1);
    if (limited) expect(await holds()).toMatchObject([{ id: held.id, status: 'released' }]);
    else expect(await allowances()).toEqual([]);
    // The request was never charged: the process died before it could be, and that is our loss.
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
