import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { AccountRepository } from '../src/accounts/repository.js';
import { loadConfig } from '../src/config.js';
import { createApp } from '../src/http/app.js';
import { TOOLS_DIR } from '../src/launcher/stack.js';
import { freePort } from '../src/launcher/free-port.js';
import { resolveTemporalCli } from '../src/launcher/temporal-cli.js';
import { startTemporalDevServer } from '../src/launcher/temporal-dev-server.js';
import { formatUsd, parseUsd, PostgresLedger, auditLedger } from '../src/ledger/index.js';
import { listenChatSandbox } from '../src/sandboxes/chat/chat-sandbox.js';
import { closeServices, createServices } from '../src/services.js';
import { FAILED_ROUTES, fallbackRoutes } from './chat-fallback.js';
import { benchDatabase, percentile } from './support.js';

/**
 * `npm run bench:chat`: chat completions per second and latency through the gateway (auth, hold,
 * upstream call, capture, request log) beside the same load sent straight to the same zero-latency
 * simulated upstream, in one run; then the same model behind a first route that fails (connection
 * refused, 503) and the upstream as its fallback (bench/chat-fallback.ts); then the ledger is
 * checked to the nano-dollar.
 *
 * Upstream, gateway and load generator are separate processes, so the two paths differ only by
 * the gateway. Tuning: BENCH_SECONDS (per phase, default 10), BENCH_CONCURRENCY (default 32),
 * BENCH_MAX_TOKENS (reply length, default 16), BENCH_KEY_RPM (an rpm limit on every key, to measure its cost).
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const MAX_TOKENS = Number(process.env.BENCH_MAX_TOKENS ?? 16);
const KEY_RPM = process.env.BENCH_KEY_RPM ? Number(process.env.BENCH_KEY_RPM) : null;
const MODEL = 'gpt-5.2';
const CREDIT = parseUsd('1000000');

interface Phase {
  label: string;
  concurrency: number;
  requests: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
}

/** One keep-alive HTTP client for both paths, so the client's own cost is the same on each. */
function loadGenerator(baseUrl: string, concurrency: number) {
  const url = new URL(`${baseUrl}/chat/completions`);
  const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });
  const post = (body: string, apiKey: string | undefined) =>
    new Promise<number>((resolve, reject) => {
      const req = http.request(
        {
          host: url.hostname,
          port: url.port,
          path: url.pathname,
          method: 'POST',
          agent,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            ...(apiKey ? { authorization: `Bearer ${apiKey}` } : {}),
          },
        },
        (res) => {
          res.on('data', () => {});
          res.on('end', () => resolve(res.statusCode ?? 0));
          res.on('error', reject);
        },
      );
      req.on('error', reject);
      req.end(body);
    });
  return { post, close: () => agent.destroy() };
}

/**
 * `concurrency` clients, each sending its next request as soon as the last is answered; client i
 * uses key i modulo the keys given (none: the upstream directly).
 */
async function phase(
  label: string,
  baseUrl: string,
  keys: string[],
  stream: boolean,
  concurrency: number,
  cpuSeconds?: () => Promise<number>,
): Promise<Phase> {
  const client = loadGenerator(baseUrl, concurrency);
  const keyOf = (worker: number) => (keys.length ? keys[worker % keys.length] : undefined);
  const latencies: number[] = [];
  let errors = 0;
  let seq = 0;
  const bodyFor = (i: number) =>
    JSON.stringify({
      model: MODEL,
      messages: [{ role: 'user', content: `Benchmark request ${i}: say something short.` }],
      max_tokens: MAX_TOKENS,
      ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
    });
  // Warm-up: connections, JIT, caches.
  await Promise.all(Array.from({ length: concurrency }, (_, i) => client.post(bodyFor(-i - 1), keyOf(i))));
  const cpuBefore = await cpuSeconds?.();
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < until) {
        const body = bodyFor(seq++);
        const t0 = performance.now();
        const status = await client.post(body, keyOf(worker));
        latencies.push(performance.now() - t0);
        if (status !== 200) errors++;
      }
    }),
  );
  const cpuAfter = await cpuSeconds?.();
  client.close();
  latencies.sort((a, b) => a - b);
  const result = {
    label,
    concurrency,
    requests: latencies.length,
    errors,
    perSecond: latencies.length / SECONDS,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
  };
  console.log(
    `${label.padEnd(40)} ${String(result.requests).padStart(7)} req  ${result.perSecond.toFixed(0).padStart(6)} req/s` +
      `  p50 ${result.p50.toFixed(2).padStart(6)} ms  p99 ${result.p99.toFixed(2).padStart(6)} ms  errors ${errors}` +
      (cpuBefore === undefined ? '' : `  gateway CPU ${((1000 * (cpuAfter! - cpuBefore)) / result.requests).toFixed(2)} ms/req`),
  );
  return result;
}

const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789';

/** The gateway's own CPU time, from its Prometheus endpoint. */
function processCpuSeconds(origin: string, adminToken: string) {
  return async () => {
    // /metrics is for ops: it takes the admin token.
    const text = await (await fetch(`${origin}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
    return Number(/^process_cpu_seconds_total (\S+)$/m.exec(text)?.[1] ?? NaN);
  };
}

/** Starts `bench/chat.ts <role>` as a child and waits for its `ready <url>` line. */
async function child(role: string, env: Record<string, string>): Promise<{ url: string; process: ChildProcess }> {
  const proc = spawn(process.execPath, ['--import', 'tsx', path.resolve('bench/chat.ts'), role], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const lines = createInterface({ input: proc.stdout! });
  const url = await new Promise<string>((resolve, reject) => {
    proc.once('exit', (code) => reject(new Error(`${role} exited with ${code} before it was ready`)));
    lines.on('line', (line) => {
      const m = /^ready (\S+)$/.exec(line);
      if (m) resolve(m[1]!);
      else console.log(`[${role}] ${line}`);
    });
  });
  return { url, process: proc };
}

async function runUpstream() {
  const upstream = await listenChatSandbox({ latencyMs: 0, tokenDelayMs: 0 });
  console.log(`ready ${upstream.baseUrl}`);
}

async function runGateway() {
  const config = loadConfig();
  const services = await createServices(
    config,
    { databaseUrl: config.database.url!, temporalAddress: config.temporal.address!, adminToken: config.adminToken! },
    pino({ level: 'warn' }),
  );
  const server = createApp(services).listen(config.port, '127.0.0.1', () => console.log(`ready http://127.0.0.1:${config.port}/v1`));
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => void closeServices(services).finally(() => process.exit(0)));
  });
}

async function main() {
  const logger = pino({ level: 'warn' });
  const { db, url: databaseUrl, stop } = await benchDatabase(8);
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-bench-chat-'));
  const temporal = await startTemporalDevServer({
    cli: resolveTemporalCli({ configured: process.env.TEMPORAL_CLI, toolsDir: TOOLS_DIR, logger }),
    logger,
    namespaces: ['default'],
  });
  const children: ChildProcess[] = [];
  try {
    const accounts = new AccountRepository(db);
    const ledger = new PostgresLedger(db);
    const customers: { id: string; key: string }[] = [];
    for (let i = 0; i < CONCURRENCY; i++) {
      const account = await accounts.create({ name: `bench ${i}`, email: 'bench@example.com' });
      const { key, record } = await accounts.createKey(account.id, 'bench');
      // BENCH_KEY_RPM: give every key a requests-per-minute limit (high enough never to refuse) to measure its cost.
      if (KEY_RPM) await db('api_keys').where({ id: record.id }).update({ rpm: KEY_RPM });
      await ledger.post({ accountId: account.id, amount: CREDIT, kind: 'adjustment', idempotencyKey: `${account.id}:bench` });
      customers.push({ id: account.id, key });
    }
    const keys = customers.map((c) => c.key);

    const upstream = await child('upstream', {});
    children.push(upstream.process);
    const gatewayEnv = async () => ({
      PORT: String(await freePort()),
      DATA_DIR: dataDir,
      ADMIN_TOKEN: BENCH_ADMIN_TOKEN,
      DATABASE_URL: databaseUrl,
      TEMPORAL_ADDRESS: temporal.address,
      LOG_LEVEL: 'warn',
    });
    const gateway = await child('gateway', { ...(await gatewayEnv()), UPSTREAM_BASE_URL: upstream.url });
    children.push(gateway.process);

    // Other work on the machine shows in every number; the load average says how much there was.
    const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
    console.log(`${os.cpus().length} CPUs (load average ${load}), ${SECONDS} s per phase, ${MAX_TOKENS}-token replies, model ${MODEL}`);
    const results: { kind: string; direct: Phase; gateway: Phase }[] = [];
    const gatewayCpu = processCpuSeconds(new URL(gateway.url).origin, BENCH_ADMIN_TOKEN);
    let gatewayRequests = 0;
    const compare = async (kind: string, stream: boolean, concurrency: number, gatewayKeys: string[]) => {
      const direct = await phase(`direct, ${kind}`, upstream.url, [], stream, concurrency);
      const via = await phase(`gateway, ${kind}`, gateway.url, gatewayKeys, stream, concurrency, gatewayCpu);
      gatewayRequests += via.requests + concurrency;
      results.push({ kind, direct, gateway: via });
    };
    // Saturation (throughput) with one customer per client, then one unloaded client (the
    // gateway's own latency), then every client on one account (its row is the hot spot).
    await compare(`non-streaming x${CONCURRENCY}`, false, CONCURRENCY, keys);
    await compare(`streaming x${CONCURRENCY}`, true, CONCURRENCY, keys);
    await compare('non-streaming x1', false, 1, keys);
    await compare('streaming x1', true, 1, keys);
    await compare(`non-streaming x${CONCURRENCY}, one account`, false, CONCURRENCY, keys.slice(0, 1));

    // One failed route before the answer: its added latency at x1 is what a fallback costs.
    const fallbacks: { kind: string; via: Phase }[] = [];
    for (const kind of FAILED_ROUTES) {
      const routes = await fallbackRoutes(kind, MODEL, upstream.url, dataDir);
      // LOG_LEVEL error: every request logs its failed route as a warning, which would flood the output.
      const fallbackGateway = await child('gateway', { ...(await gatewayEnv()), ...routes.env, LOG_LEVEL: 'error' });
      const cpu = processCpuSeconds(new URL(fallbackGateway.url).origin, BENCH_ADMIN_TOKEN);
      const via = await phase(`gateway, fallback after ${kind} x1`, fallbackGateway.url, keys, false, 1, cpu);
      gatewayRequests += via.requests + 1;
      fallbacks.push({ kind, via });
      fallbackGateway.process.kill('SIGTERM');
      await new Promise((resolve) => fallbackGateway.process.once('exit', resolve));
      await routes.close();
    }

    console.log('\nsummary (gateway vs direct):');
    for (const { kind, direct, gateway: via } of results) {
      console.log(
        `  ${kind.padEnd(34)} throughput ${(via.perSecond / direct.perSecond).toFixed(2)}x of direct` +
          `  p50 overhead ${(via.p50 - direct.p50).toFixed(2)} ms  p99 overhead ${(via.p99 - direct.p99).toFixed(2)} ms`,
      );
    }

    const plain = results.find((r) => r.kind === 'non-streaming x1')!.gateway;
    for (const { kind, via } of fallbacks) {
      console.log(`  fallback after ${kind.padEnd(19)} adds p50 ${(via.p50 - plain.p50).toFixed(2)} ms  p99 ${(via.p99 - plain.p99).toFixed(2)} ms to the gateway's non-streaming x1`);
    }

    // The books: every gateway request recorded once, its cost charged once, nothing left held.
    const ids = customers.map((c) => c.id);
    const [{ n, cost }] = await db('requests')
      .whereIn('account_id', ids)
      .andWhere('status', 'completed')
      .select(db.raw('count(*) AS n'), db.raw('coalesce(sum(cost), 0)::text AS cost'));
    const [{ balance, held }] = await db('accounts')
      .whereIn('id', ids)
      .select(db.raw('sum(balance)::text AS balance'), db.raw('sum(held)::text AS held'));
    const charged = CREDIT * BigInt(ids.length) - BigInt(balance);
    const report = await auditLedger(db);
    const exact = BigInt(held) === 0n && charged === BigInt(cost) && Number(n) === gatewayRequests;
    console.log(
      `\nledger: ${Number(n)} requests recorded (${gatewayRequests} sent), balances down $${formatUsd(charged)},` +
        ` requests sum $${formatUsd(BigInt(cost))}, held $${formatUsd(BigInt(held))}; reconcile ${report.ok ? 'ok' : 'DISCREPANCIES'}` +
        ` -> ${exact && report.ok ? 'exact' : 'NOT EXACT'}`,
    );
    if (!exact || !report.ok) process.exitCode = 1;
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode === null ? c.once('exit', resolve) : resolve(null)))));
    await temporal.stop();
    await stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

const role = process.argv[2] ?? 'main';
(role === 'upstream' ? runUpstream() : role === 'gateway' ? runGateway() : main()).catch((err) => {
  console.error(err);
  process.exit(1);
});
