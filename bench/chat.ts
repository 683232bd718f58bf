import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { AccountRepository } from '../src/accounts/repository.js';
import { loadConfig } from '../src/config.js';
import { createServer } from '../src/http/server.js';
import { TOOLS_DIR } from '../src/launcher/stack.js';
import { freePort } from '../src/launcher/free-port.js';
import { resolveTemporalCli } from '../src/launcher/temporal-cli.js';
import { startTemporalDevServer } from '../src/launcher/temporal-dev-server.js';
import { auditLedger, formatUsd, parseUsd, PostgresLedger } from '../src/ledger/index.js';
import { listenChatSandbox } from '../src/sandboxes/chat/chat-sandbox.js';
import { closeServices, createServices } from '../src/services.js';
import { FAILED_ROUTES, fallbackRoutes } from './chat-fallback.js';
import { benchDatabase, percentile } from './support.js';
import { listenMinimalUpstream } from './minimal-upstream.js';
import { listenBareProxy } from './bare-proxy.js';
import type { Db } from '../src/db/connection.js';

/**
 * `npm run bench:chat`: chat completions per second, latency and CPU through the gateway (auth,
 * hold, upstream call, capture, request log) beside the same load sent straight to the upstream,
 * interleaved (direct, gateway, direct, gateway…) so the machine's other load hits both alike; the
 * ledger is checked to the nano-dollar after every gateway phase. The `messages` and `responses`
 * phases send the gateway Anthropic's Messages or OpenAI's Responses for the same model instead (the
 * direct path stays chat completions, the upstream's only API), so they show what each surface adds.
 * Then the same model behind a
 * first route that fails (connection refused, 503) with the upstream as its fallback
 * (bench/chat-fallback.ts), at one client.
 *
 * Upstream, gateway and load generator are separate processes; CPU is read per process from /proc
 * (the gateway, its PostgreSQL backends, the upstream, the load generator). The upstream is a bare
 * node:http server with a fixed answer (minimal-upstream.ts), or the simulator with
 * BENCH_UPSTREAM=simulator. Tuning: BENCH_SECONDS (per phase, default 10), BENCH_CONCURRENCY (the
 * middle level, default 32), BENCH_LEVELS (default "1,32,128"), BENCH_MAX_TOKENS (reply length on
 * the simulator, default 16), BENCH_KEY_RPM (an rpm limit on every key, to measure its cost),
 * BENCH_PHASES (phase names to run, exactly as printed, separated by commas without a space after
 * them: "non-streaming x1,non-streaming x32, one account,fallback after 503 x1"; default all; an unknown
 * name is an error that lists the names), BENCH_GATEWAY_NODE_ARGS,
 * BENCH_WARMUP_SECONDS (load before each phase's measurement, default 1), BENCH_PROCESS_WARMUP_SECONDS
 * (load on every process once, before the first phase, default 5: see warmProcess),
 * BENCH_SOAK_SECONDS (a sustained x{BENCH_CONCURRENCY} load after the phases, sampling the gateway's
 * RSS, throughput and CPU per request every 10 s; 0, the default, skips it), BENCH_PROXY=1 (each
 * phase also through a bare node:http proxy, bare-proxy.ts: what any Node gateway gets here;
 * BENCH_PROXY=ledger: that proxy plus the two database round trips and the one flush a durably
 * billing gateway cannot do without, the floor under the gateway's own work).
 * A phase is one entry of PHASES below: add one there.
 */
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const WARMUP_SECONDS = Number(process.env.BENCH_WARMUP_SECONDS ?? 1);
const PROCESS_WARMUP_SECONDS = Number(process.env.BENCH_PROCESS_WARMUP_SECONDS ?? 5);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
const LEVELS = (process.env.BENCH_LEVELS ?? `1,${CONCURRENCY},128`).split(',').map(Number);
const MAX_TOKENS = Number(process.env.BENCH_MAX_TOKENS ?? 16);
const KEY_RPM = process.env.BENCH_KEY_RPM ? Number(process.env.BENCH_KEY_RPM) : null;
const UPSTREAM = process.env.BENCH_UPSTREAM === 'simulator' ? 'simulator' : 'minimal';
// Phase names contain ", ", so only a comma without a space after it separates two of them.
const ONLY = process.env.BENCH_PHASES?.split(/,(?! )/).map((name) => name.trim());
const SOAK_SECONDS = Number(process.env.BENCH_SOAK_SECONDS ?? 0);
const FLOOR = process.env.BENCH_PROXY === 'ledger';
const PROXY = process.env.BENCH_PROXY === '1' || FLOOR;
const PROXY_LABEL = FLOOR ? 'floor proxy' : 'bare proxy';
const MODEL = 'gpt-5.2';
const CREDIT = parseUsd('1000000');

/** One comparison: the same load direct and through the gateway. `keys: 'one'` puts every client on one account. */
interface PhaseSpec {
  name: string;
  stream: boolean;
  concurrency: number;
  keys: 'spread' | 'one';
  /** Gateway processes on the one database, the clients spread over them (default 1). */
  gateways?: 2;
  /** The API the clients speak to the gateway (default chat completions); the direct path is always chat completions. */
  surface?: Surface;
}

/** Chat completions, Anthropic's Messages (Claude Code's endpoint) or OpenAI's Responses (Codex's), for the same chat model. */
type Surface = 'chat' | 'messages' | 'responses';
const SURFACE_PATHS: Record<Surface, string> = { chat: 'chat/completions', messages: 'messages', responses: 'responses' };

const ALL_PHASES: PhaseSpec[] = [
  ...LEVELS.flatMap((c) => [
    { name: `non-streaming x${c}`, stream: false, concurrency: c, keys: 'spread' as const },
    { name: `streaming x${c}`, stream: true, concurrency: c, keys: 'spread' as const },
  ]),
  { name: `non-streaming x${CONCURRENCY}, one account`, stream: false, concurrency: CONCURRENCY, keys: 'one' as const },
  { name: `streaming x${CONCURRENCY}, one account`, stream: true, concurrency: CONCURRENCY, keys: 'one' as const },
  // Several gateway processes on one database (the \`api\` role twice): the books must stay exact.
  { name: `non-streaming x${CONCURRENCY}, two gateways`, stream: false, concurrency: CONCURRENCY, keys: 'spread' as const, gateways: 2 as const },
  { name: `non-streaming x${CONCURRENCY}, one account, two gateways`, stream: false, concurrency: CONCURRENCY, keys: 'one' as const, gateways: 2 as const },
  { name: `messages x${CONCURRENCY}`, stream: false, concurrency: CONCURRENCY, keys: 'spread' as const, surface: 'messages' as const },
  { name: `responses x${CONCURRENCY}`, stream: false, concurrency: CONCURRENCY, keys: 'spread' as const, surface: 'responses' as const },
];
const PHASE_NAMES = ALL_PHASES.map((p) => p.name);
const PHASES = ALL_PHASES.filter((p) => !ONLY || ONLY.includes(p.name));
/** The fallback phases (x1, one failed route before the answer), named as BENCH_PHASES names them. */
const fallbackPhase = (kind: string) => `fallback after ${kind} x1`;
const FALLBACKS = FAILED_ROUTES.filter((kind) => !ONLY || ONLY.includes(fallbackPhase(kind)));

interface Phase {
  label: string;
  concurrency: number;
  /** Requests of the warm-up answered 200 (not measured; in the books). */
  warmedUp: number;
  requests: number;
  errors: number;
  perSecond: number;
  p50: number;
  p99: number;
  /** CPU milliseconds per request, per process group. */
  cpuMsPerRequest: Record<string, number>;
}

/** A chat completion request for MODEL; streaming ones ask for the usage chunk, as the gateway's clients do. */
function chatBody(content: string, stream: boolean): string {
  return JSON.stringify({
    model: MODEL,
    messages: [{ role: 'user', content }],
    max_tokens: MAX_TOKENS,
    ...(stream ? { stream: true, stream_options: { include_usage: true } } : {}),
  });
}

/** One keep-alive HTTP client for both paths, so the client's own cost is the same on each. */
function loadGenerator(baseUrl: string, concurrency: number, surface: Surface) {
  const url = new URL(`${baseUrl}/${SURFACE_PATHS[surface]}`);
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
  baseUrls: string | string[],
  keys: string[],
  stream: boolean,
  concurrency: number,
  cpu: CpuMeter,
  surface: Surface = 'chat',
): Promise<Phase> {
  // Client i goes to gateway i modulo the gateways given.
  const clients = (Array.isArray(baseUrls) ? baseUrls : [baseUrls]).map((url) => loadGenerator(url, concurrency, surface));
  const clientOf = (worker: number) => clients[worker % clients.length]!;
  const keyOf = (worker: number) => (keys.length ? keys[worker % keys.length] : undefined);
  const latencies: number[] = [];
  let errors = 0;
  let seq = 0;
  const prompt = (i: number) => `Benchmark request ${i}: say something short.`;
  const bodyFor = (i: number) =>
    surface === 'chat'
      ? chatBody(prompt(i), stream)
      : JSON.stringify(
          surface === 'responses'
            ? { model: MODEL, input: prompt(i), max_output_tokens: MAX_TOKENS, ...(stream ? { stream: true } : {}) }
            : { model: MODEL, messages: [{ role: 'user', content: prompt(i) }], max_tokens: MAX_TOKENS, ...(stream ? { stream: true } : {}) },
        );
  // Warm-up: connections, JIT, caches, for WARMUP_SECONDS and at least one request per client. One
  // request each is not enough: the x1 phase, the first on a fresh gateway, measured the gateway's
  // code before V8 had optimised it, and those requests were its p99 (BENCHMARKS.md, 2026-12-01 afternoon).
  let warmedUp = 0;
  let warmSeq = 0;
  const warmUntil = performance.now() + WARMUP_SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      do {
        const status = await clientOf(worker).post(bodyFor(-++warmSeq), keyOf(worker)).catch(() => 0);
        if (status === 200) warmedUp++;
      } while (performance.now() < warmUntil);
    }),
  );
  const cpuBefore = await cpu.read();
  const until = performance.now() + SECONDS * 1000;
  await Promise.all(
    Array.from({ length: concurrency }, async (_, worker) => {
      while (performance.now() < until) {
        const body = bodyFor(seq++);
        const t0 = performance.now();
        // A reset connection (an overloaded machine) is an error of the phase, not the end of the run.
        const status = await clientOf(worker).post(body, keyOf(worker)).catch(() => 0);
        latencies.push(performance.now() - t0);
        if (status !== 200) errors++;
      }
    }),
  );
  const cpuAfter = await cpu.read();
  for (const c of clients) c.close();
  latencies.sort((a, b) => a - b);
  const result = {
    label,
    concurrency,
    warmedUp,
    requests: latencies.length,
    errors,
    perSecond: latencies.length / SECONDS,
    p50: percentile(latencies, 50),
    p99: percentile(latencies, 99),
    cpuMsPerRequest: Object.fromEntries(
      Object.keys(cpuAfter.seconds).map((k) => [
        k,
        (1000 * (k === 'gateway PG' ? backendSeconds(cpuBefore, cpuAfter) : cpuAfter.seconds[k]! - (cpuBefore.seconds[k] ?? 0))) / Math.max(1, latencies.length),
      ]),
    ),
  };
  const cpuText = Object.entries(result.cpuMsPerRequest).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ');
  console.log(
    `${label.padEnd(40)} ${String(result.requests).padStart(7)} req  ${result.perSecond.toFixed(0).padStart(6)} req/s` +
      `  p50 ${result.p50.toFixed(2).padStart(6)} ms  p99 ${result.p99.toFixed(2).padStart(6)} ms  errors ${errors}` +
      `  CPU ms/req: ${cpuText}`,
  );
  return result;
}

/**
 * Load on a freshly started process before anything of it is measured, so every phase measures
 * code V8 has optimised, as a running service's is. A phase's own warm-up is not enough for that at
 * one client: a second of it is a few hundred requests, after which much of the gateway still ran
 * unoptimised (its CPU per request at x1 halved after 15 s; BENCHMARKS.md, 2026-12-02 morning).
 * x{CONCURRENCY} clients, half streaming, on the keys given (none: the upstream directly) for
 * PROCESS_WARMUP_SECONDS; resolves to the requests answered 200 (for the books).
 */
async function warmProcess(baseUrl: string, keys: string[]): Promise<number> {
  const client = loadGenerator(baseUrl, CONCURRENCY, 'chat');
  const until = performance.now() + PROCESS_WARMUP_SECONDS * 1000;
  let answered = 0;
  let seq = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      while (performance.now() < until) {
        const body = chatBody(`Warm-up ${seq++}.`, worker % 2 === 1);
        if ((await client.post(body, keys.length ? keys[worker % keys.length] : undefined).catch(() => 0)) === 200) answered++;
      }
    }),
  );
  client.close();
  return answered;
}

function rssMb(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

/**
 * A sustained load (BENCH_CONCURRENCY clients, non-streaming, keys spread) for SOAK_SECONDS; every
 * 10 s a line with that window's throughput, latency, gateway + PostgreSQL CPU per request and the
 * gateway's RSS, then the RSS growth from the first window to the last. Resolves to the requests
 * answered 200, for the books.
 */
async function soak(baseUrl: string, keys: string[], gatewayPid: number, cpu: CpuMeter): Promise<number> {
  console.log(`\nsoak: ${SOAK_SECONDS} s at x${CONCURRENCY}, non-streaming (load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')})`);
  const client = loadGenerator(baseUrl, CONCURRENCY, 'chat');
  let window: number[] = [];
  let errors = 0;
  let answered = 0;
  let seq = 0;
  const rss: number[] = [];
  const started = performance.now();
  const until = started + SOAK_SECONDS * 1000;
  let stopSampling = false;
  const sampler = (async () => {
    let before = await cpu.read();
    // Whole 10 s windows only, all within the load.
    while (!stopSampling && performance.now() + 10_000 <= until + 500) {
      await new Promise((resolve) => setTimeout(resolve, 10_000));
      const after = await cpu.read();
      const latencies = window.sort((a, b) => a - b);
      window = [];
      const n = Math.max(1, latencies.length);
      const gw = (1000 * (after.seconds.gateway! - before.seconds.gateway!)) / n;
      const pgMs = (1000 * backendSeconds(before, after)) / n;
      before = after;
      rss.push(rssMb(gatewayPid));
      console.log(
        `  ${String(Math.round((performance.now() - started) / 1000)).padStart(4)} s  ${(latencies.length / 10).toFixed(0).padStart(5)} req/s` +
          `  p50 ${percentile(latencies, 50).toFixed(1).padStart(6)} ms  p99 ${percentile(latencies, 99).toFixed(1).padStart(6)} ms` +
          `  errors ${errors}  CPU ms/req gateway ${gw.toFixed(2)} + PG ${pgMs.toFixed(2)}  gateway RSS ${rss.at(-1)!.toFixed(0)} MB`,
      );
    }
  })();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async (_, worker) => {
      while (performance.now() < until) {
        const body = chatBody(`Soak request ${seq++}.`, false);
        const t0 = performance.now();
        const status = await client.post(body, keys[worker % keys.length]).catch(() => 0);
        window.push(performance.now() - t0);
        if (status === 200) answered++;
        else errors++;
        // A soak that only collects refusals measures nothing.
        if (errors > 100 && errors > answered) throw new Error(`soak: ${errors} errors against ${answered} answers`);
      }
    }),
  );
  stopSampling = true;
  await sampler;
  client.close();
  const steady = rss.slice(1);
  if (steady.length) {
    console.log(
      `  gateway RSS: ${steady[0]!.toFixed(0)} MB after the first window, ${steady.at(-1)!.toFixed(0)} MB at the end, ` +
        `max ${Math.max(...steady).toFixed(0)} MB (growth ${(steady.at(-1)! - steady[0]!).toFixed(0)} MB); ${answered} answered, ${errors} errors`,
    );
  }
  return answered;
}

const BENCH_ADMIN_TOKEN = 'bench-admin-token-0123456789';

/** Seconds of CPU (user + system) per named group of processes, read from /proc. */
interface CpuMeter {
  read(): Promise<CpuReading>;
}
interface CpuReading {
  seconds: Record<string, number>;
  /** CPU seconds per PostgreSQL backend pid. */
  backends: Map<number, number>;
}

const TICKS_PER_SECOND = 100;

/** CPU of the backends over a phase: a backend that started during it counts from zero; one that ended is lost (small). */
function backendSeconds(before: CpuReading, after: CpuReading): number {
  let sum = 0;
  for (const [pid, seconds] of after.backends) sum += seconds - (before.backends.get(pid) ?? 0);
  return sum;
}

function processCpuSeconds(pid: number): number {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces) start at state; utime and stime are fields 14 and 15.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / TICKS_PER_SECOND;
  } catch {
    return 0; // gone
  }
}

/**
 * The gateway, its PostgreSQL backends (every backend of the bench database but ours: the
 * gateway's pool, its ledger connections and its LISTEN), the upstream and this load generator.
 */
function cpuMeter(db: Db, gatewayPids: number | number[], upstreamPid: number): CpuMeter {
  const gateways = Array.isArray(gatewayPids) ? gatewayPids : [gatewayPids];
  return {
    async read() {
      const { rows } = await db.raw(`SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()`);
      const usage = process.cpuUsage();
      const backends = new Map((rows as { pid: number }[]).map((r) => [r.pid, processCpuSeconds(r.pid)]));
      return {
        backends,
        seconds: {
          gateway: gateways.reduce((sum, pid) => sum + processCpuSeconds(pid), 0),
          'gateway PG': 0,
          upstream: processCpuSeconds(upstreamPid),
          'load gen': (usage.user + usage.system) / 1e6,
        },
      };
    },
  };
}

/** Starts `bench/chat.ts <role>` as a child and waits for its `ready <url>` line. */
async function child(role: string, env: Record<string, string>): Promise<{ url: string; process: ChildProcess }> {
  // BENCH_GATEWAY_NODE_ARGS: extra node flags for the gateway only (e.g. --cpu-prof --cpu-prof-dir=DIR).
  const extra = role === 'gateway' ? (process.env.BENCH_GATEWAY_NODE_ARGS ?? '').split(' ').filter(Boolean) : [];
  const proc = spawn(process.execPath, [...extra, '--import', 'tsx', path.resolve('bench/chat.ts'), role], {
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
  if (UPSTREAM === 'minimal') return console.log(`ready ${await listenMinimalUpstream()}`);
  const upstream = await listenChatSandbox({ latencyMs: 0, tokenDelayMs: 0 });
  console.log(`ready ${upstream.baseUrl}`);
}

async function runProxy() {
  console.log(`ready ${await listenBareProxy(process.env.UPSTREAM_BASE_URL!, process.env.PROXY_DATABASE_URL)}`);
}

async function runGateway() {
  const config = loadConfig();
  const services = await createServices(
    config,
    { databaseUrl: config.database.url!, temporalAddress: config.temporal.address!, adminToken: config.adminToken! },
    pino({ level: process.env.LOG_LEVEL ?? 'warn' }),
  );
  const server = createServer(services).listen(config.port, '127.0.0.1', () => console.log(`ready http://127.0.0.1:${config.port}/v1`));
  process.on('SIGTERM', () => {
    server.closeAllConnections();
    server.close(() => void closeServices(services).finally(() => process.exit(0)));
  });
}

async function main() {
  // A name that matches no phase would otherwise run a benchmark nobody asked for.
  const names = [...PHASE_NAMES, ...FAILED_ROUTES.map(fallbackPhase)];
  const unknown = ONLY?.filter((name) => !names.includes(name)) ?? [];
  if (unknown.length) throw new Error(`BENCH_PHASES: no phase named ${unknown.map((n) => `"${n}"`).join(', ')}; the phases are: ${names.join('; ')}`);
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
    for (let i = 0; i < Math.max(1, SOAK_SECONDS > 0 ? CONCURRENCY : 0, ...PHASES.map((p) => p.concurrency)); i++) {
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
    const proxy = PROXY
      ? await child('proxy', { UPSTREAM_BASE_URL: upstream.url, ...(FLOOR ? { PROXY_DATABASE_URL: databaseUrl } : {}) })
      : undefined;
    if (proxy) children.push(proxy.process);

    // Other work on the machine shows in every number; the load average says how much there was.
    const load = os.loadavg().map((l) => l.toFixed(1)).join(' ');
    console.log(
      `${os.cpus().length} CPUs (load average ${load}), ${SECONDS} s per phase, ${UPSTREAM} upstream` +
        `${UPSTREAM === 'simulator' ? ` (${MAX_TOKENS}-token replies)` : ''}, model ${MODEL}`,
    );
    const cpu = cpuMeter(db, gateway.process.pid!, upstream.process.pid!);
    const books = ledgerCheck(db, customers.map((c) => c.id));
    // A gateway's warm-up requests are billed: the books must count them.
    const warmGateway = async (url: string) => {
      const warmed = await warmProcess(url, keys.slice(0, CONCURRENCY));
      if (!(await books.expect(warmed))) process.exitCode = 1;
      return warmed;
    };
    // The second gateway process, started for the first phase that spreads its clients over two.
    let second: { url: string; cpu: CpuMeter } | undefined;
    const twoGateways = async () => {
      if (!second) {
        const g = await child('gateway', { ...(await gatewayEnv()), UPSTREAM_BASE_URL: upstream.url });
        children.push(g.process);
        if (PROCESS_WARMUP_SECONDS > 0) await warmGateway(g.url);
        second = { url: g.url, cpu: cpuMeter(db, [gateway.process.pid!, g.process.pid!], upstream.process.pid!) };
      }
      return second;
    };
    if (PROCESS_WARMUP_SECONDS > 0) {
      await warmProcess(upstream.url, []);
      if (proxy) await warmProcess(proxy.url, []);
      const warmed = await warmGateway(gateway.url);
      console.log(`each process warmed up for ${PROCESS_WARMUP_SECONDS} s at x${CONCURRENCY} (${warmed} gateway requests)`);
    }
    const results: { kind: string; direct: Phase; gateway: Phase; proxy?: Phase }[] = [];
    for (const spec of PHASES) {
      const gatewayKeys = spec.keys === 'one' ? keys.slice(0, 1) : keys.slice(0, spec.concurrency);
      const direct = await phase(`direct, ${spec.name}`, upstream.url, [], spec.stream, spec.concurrency, cpu);
      const bare = proxy
        ? await phase(`${PROXY_LABEL}, ${spec.name}`, proxy.url, [], spec.stream, spec.concurrency, cpuMeter(db, proxy.process.pid!, upstream.process.pid!))
        : undefined;
      const pair = spec.gateways === 2 ? await twoGateways() : undefined;
      const via = pair
        ? await phase(`gateway, ${spec.name}`, [gateway.url, pair.url], gatewayKeys, spec.stream, spec.concurrency, pair.cpu)
        : await phase(`gateway, ${spec.name}`, gateway.url, gatewayKeys, spec.stream, spec.concurrency, cpu, spec.surface);
      results.push({ kind: spec.name, direct, gateway: via, proxy: bare });
      // Every gateway request of the phase (its warm-up included) recorded once, charged once, nothing left held.
      if (!(await books.expect(via.requests - via.errors + via.warmedUp))) process.exitCode = 1;
    }

    if (SOAK_SECONDS > 0) {
      const answered = await soak(gateway.url, keys.slice(0, CONCURRENCY), gateway.process.pid!, cpu);
      if (!(await books.expect(answered))) process.exitCode = 1;
    }

    console.log('\nsummary (gateway vs direct, CPU ms per request):');
    for (const { kind, direct, gateway: via, proxy: bare } of results) {
      const gw = via.cpuMsPerRequest;
      console.log(
        `  ${kind.padEnd(34)} throughput ${(via.perSecond / direct.perSecond).toFixed(2)}x of direct` +
          `  p50 added ${(via.p50 - direct.p50).toFixed(2)} ms  p99 added ${(via.p99 - direct.p99).toFixed(2)} ms` +
          `  gateway+PG ${(gw.gateway! + gw['gateway PG']!).toFixed(2)} ms` +
          (bare
            ? `  (${PROXY_LABEL}: ${(bare.perSecond / direct.perSecond).toFixed(2)}x, p50 added ${(bare.p50 - direct.p50).toFixed(2)} ms,` +
              ` p99 added ${(bare.p99 - direct.p99).toFixed(2)} ms, proxy+PG ${(bare.cpuMsPerRequest.gateway! + bare.cpuMsPerRequest['gateway PG']!).toFixed(2)} ms)`
            : ''),
      );
    }

    // One failed route before the answer: its added latency at x1 is what a fallback costs.
    const plain = results.find((r) => r.kind === 'non-streaming x1')?.gateway;
    for (const kind of FALLBACKS) {
      const routes = await fallbackRoutes(kind, MODEL, upstream.url, dataDir);
      // LOG_LEVEL error: every request logs its failed route as a warning, which would flood the output.
      const fallbackGateway = await child('gateway', { ...(await gatewayEnv()), ...routes.env, LOG_LEVEL: 'error' });
      if (PROCESS_WARMUP_SECONDS > 0) await warmGateway(fallbackGateway.url);
      const via = await phase(`gateway, ${fallbackPhase(kind)}`, fallbackGateway.url, keys, false, 1, cpuMeter(db, fallbackGateway.process.pid!, upstream.process.pid!));
      if (!(await books.expect(via.requests - via.errors + via.warmedUp))) process.exitCode = 1;
      if (plain) console.log(`  fallback after ${kind.padEnd(19)} adds p50 ${(via.p50 - plain.p50).toFixed(2)} ms  p99 ${(via.p99 - plain.p99).toFixed(2)} ms to the gateway's non-streaming x1`);
      fallbackGateway.process.kill('SIGTERM');
      await new Promise((resolve) => fallbackGateway.process.once('exit', resolve));
      await routes.close();
    }
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await Promise.all(children.map((c) => new Promise((resolve) => (c.exitCode === null ? c.once('exit', resolve) : resolve(null)))));
    await temporal.stop();
    await stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  }
}

/**
 * The books after each phase: requests recorded as completed equal the gateway requests that
 * succeeded so far, balances are down by exactly the sum of their costs, nothing stays held but chat
 * allowances, and reconcile finds every invariant.
 */
function ledgerCheck(db: Db, ids: string[]) {
  let expected = 0;
  return {
    async expect(more: number): Promise<boolean> {
      expected += more;
      const [{ n, cost }] = await db('requests')
        .whereIn('account_id', ids)
        .andWhere('status', 'completed')
        .select(db.raw('count(*) AS n'), db.raw('coalesce(sum(cost), 0)::text AS cost'));
      const [{ balance, held }] = await db('accounts')
        .whereIn('id', ids)
        .select(db.raw('sum(balance)::text AS balance'), db.raw('sum(held)::text AS held'));
      const charged = CREDIT * BigInt(ids.length) - BigInt(balance);
      // An allowance stays reserved for 2 s (CHAT_ALLOWANCE_IDLE_MS) after its account's last request:
      // held is then exactly the allowances (the audit checks held = pending holds + allowances).
      const [{ allowances }] = await db('chat_allowances').whereIn('account_id', ids).select(db.raw('coalesce(sum(amount), 0)::text AS allowances'));
      const report = await auditLedger(db);
      const exact = BigInt(held) === BigInt(allowances) && charged === BigInt(cost) && Number(n) === expected && report.ok;
      console.log(
        `  ledger: ${Number(n)} requests recorded (${expected} answered 200), balances down $${formatUsd(charged)},` +
          ` requests sum $${formatUsd(BigInt(cost))}, held $${formatUsd(BigInt(held))} (allowances $${formatUsd(BigInt(allowances))});` +
          ` reconcile ${report.ok ? 'ok' : 'DISCREPANCIES'}` +
          ` -> ${exact ? 'exact' : 'NOT EXACT'}`,
      );
      return exact;
    },
  };
}

const role = process.argv[2] ?? 'main';
const roles: Record<string, () => Promise<void>> = { upstream: runUpstream, gateway: runGateway, proxy: runProxy };
(roles[role] ?? main)().catch((err) => {
  console.error(err);
  process.exit(1);
});
