import fs from 'node:fs';
import type { Server } from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import OpenAI from 'openai';
import pino from 'pino';
import { inject } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createDb, migrateLatest } from '../../src/db/connection.js';
import { ensureDatabase } from '../../src/launcher/embedded-postgres.js';
import { freePort } from '../../src/launcher/free-port.js';
import { createServer } from '../../src/http/server.js';
import { auditLedger, type AuditReport } from '../../src/ledger/audit.js';
import type { Balance } from '../../src/ledger/types.js';
import { closeServices, createServices, type Services } from '../../src/services.js';
import { startWorker, type RunningWorker } from '../../src/temporal/worker.js';

export interface HarnessOptions {
  /** Start a Temporal worker on the harness' own task queue (default true). */
  worker?: boolean;
  /** Extra environment for loadConfig (e.g. UPSTREAM_BASE_URL of a test's local server). */
  env?: Record<string, string>;
  /** Where the service's log lines go (default stdout), e.g. to check that no secret reaches them. */
  logStream?: NodeJS.WritableStream;
}

export interface Harness {
  services: Services;
  baseUrl: string;
  adminToken: string;
  databaseUrl: string;
  /** fetch against the service with the admin token. */
  admin(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
  /** fetch against the service with an API key (or none). */
  call(method: string, path: string, opts?: { key?: string; body?: unknown; headers?: Record<string, string> }): Promise<Response>;
  /** A new account with a key and, if given, that much credit posted as an adjustment. */
  createAccount(opts?: { balanceUsd?: string; name?: string }): Promise<{ accountId: string; key: string; keyId: string }>;
  /** The official OpenAI SDK pointed at this service. */
  openai(key: string): OpenAI;
  /**
   * The account's balance once its chat allowances were given back: an API process keeps an idle
   * account's allowance reserved for CHAT_ALLOWANCE_IDLE_MS (100 ms here) after its last request.
   */
  idleBalance(accountId: string): Promise<Balance>;
  /** The ledger entries a request made, by amount (a chat request's charge is one negative entry). */
  chargesOf(requestId: string): Promise<bigint[]>;
  audit(): Promise<AuditReport>;
  /** Throws with the failing checks unless every ledger invariant holds. */
  expectBooksBalanced(): Promise<void>;
  startWorker(): Promise<RunningWorker>;
  stopWorker(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The whole service as `npm start` wires it, against the run's real PostgreSQL (a fresh
 * database per harness) and real Temporal server (a task queue per harness), listening on a
 * loopback port.
 */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const suffix = randomBytes(5).toString('hex');
  const adminUrl = inject('pgAdminUrl');
  const dbName = `cheapa_test_${suffix}`;
  await ensureDatabase(adminUrl, dbName);
  const databaseUrl = adminUrl.replace(/\/[^/?]*(\?|$)/, `/${dbName}$1`);
  const port = await freePort();
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-test-data-'));
  const adminToken = `test-admin-${randomBytes(16).toString('hex')}`;
  const config = loadConfig({
    PORT: String(port),
    DATA_DIR: dataDir,
    ADMIN_TOKEN: adminToken,
    DATABASE_URL: databaseUrl,
    TEMPORAL_ADDRESS: inject('temporalAddress'),
    TEMPORAL_NAMESPACE: inject('temporalNamespace'),
    TEMPORAL_TASK_QUEUE: `test-${suffix}`,
    PUBLIC_URL: `http://127.0.0.1:${port}`,
    LOG_LEVEL: (process.env.TEST_LOG_LEVEL as never) ?? 'warn',
    // Short, so that a test sees an idle account's allowance given back soon (idleBalance).
    CHAT_ALLOWANCE_IDLE_MS: '100',
    ...opts.env,
  });
  const logger = opts.logStream ? pino({ level: config.logLevel }, opts.logStream) : pino({ level: config.logLevel });
  const migrator = createDb(databaseUrl, { poolMax: 1 });
  await migrateLatest(migrator);
  await migrator.destroy();

  const services = await createServices(config, { databaseUrl, temporalAddress: config.temporal.address!, adminToken }, logger);
  let worker: RunningWorker | undefined = opts.worker === false ? undefined : await startWorker(services);
  const server: Server = await new Promise((resolve, reject) => {
    const s = createServer(services).listen(port, '127.0.0.1', () => resolve(s));
    s.once('error', reject);
  });
  const baseUrl = `http://127.0.0.1:${port}`;

  const request = (method: string, p: string, auth: string | undefined, body?: unknown, headers: Record<string, string> = {}) =>
    fetch(baseUrl + p, {
      method,
      headers: {
        ...(auth ? { authorization: `Bearer ${auth}` } : {}),
        ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
        ...headers,
      },
      body: body === undefined ? undefined : typeof body === 'string' ? body : JSON.stringify(body),
    });

  const harness: Harness = {
    services,
    baseUrl,
    adminToken,
    databaseUrl,
    admin: (method, p, body, headers) => request(method, p, adminToken, body, headers),
    call: (method, p, o = {}) => request(method, p, o.key, o.body, o.headers),
    async createAccount(o = {}) {
      const acct = await (await harness.admin('POST', '/admin/accounts', { name: o.name ?? 'Test', email: 'test@example.com' })).json();
      const key = await (await harness.admin('POST', `/admin/accounts/${acct.id}/keys`, { name: 'test' })).json();
      if (o.balanceUsd && o.balanceUsd !== '0') {
        const r = await harness.admin('POST', `/admin/accounts/${acct.id}/adjustments`, { amount_usd: o.balanceUsd, reason: 'test credit' });
        if (r.status !== 201) throw new Error(`credit failed: ${r.status} ${await r.text()}`);
      }
      return { accountId: acct.id, key: key.key, keyId: key.id };
    },
    openai: (key) => new OpenAI({ apiKey: key, baseURL: `${baseUrl}/v1`, maxRetries: 0 }),
    async idleBalance(accountId) {
      for (let waited = 0; ; waited += 50) {
        const open = await services.db('chat_allowances').where({ account_id: accountId }).first();
        if (!open) return services.ledger.balance(accountId);
        if (waited > 10_000) throw new Error(`the chat allowance of ${accountId} was not given back`);
        await sleep(50);
      }
    },
    async chargesOf(requestId) {
      const rows = await services.db('ledger_entries').where({ request_id: requestId }).orderBy('id').select('amount');
      return rows.map((r) => BigInt(r.amount));
    },
    audit: () => auditLedger(services.db),
    async expectBooksBalanced() {
      const report = await auditLedger(services.db);
      if (!report.ok) {
        const failed = report.checks.filter((c) => !c.ok);
        throw new Error(`ledger invariants violated: ${JSON.stringify(failed, (_k, v) => (typeof v === 'bigint' ? v.toString() : v), 2)}`);
      }
    },
    async startWorker() {
      if (worker) throw new Error('worker already running');
      worker = await startWorker(services);
      return worker;
    },
    async stopWorker() {
      await worker?.shutdown();
      worker = undefined;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await worker?.shutdown();
      await closeServices(services);
      fs.rmSync(dataDir, { recursive: true, force: true });
    },
  };
  return harness;
}
