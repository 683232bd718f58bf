import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pino, { type Logger } from 'pino';
import { httpOk, ManagedProcess, waitUntil } from '../faults/stack/process.js';
import { startFaultPostgres } from '../faults/stack/postgres.js';
import { startFaultTemporal } from '../faults/stack/temporal-server.js';
import { freePort } from '../src/launcher/free-port.js';
import { TOOLS_DIR } from '../src/launcher/stack.js';
import { resolveTemporalCli } from '../src/launcher/temporal-cli.js';
import { startTemporalDevServer } from '../src/launcher/temporal-dev-server.js';
import { installTemporalServer } from '../src/launcher/temporal-server.js';
import { generationWorkflowId } from '../src/generations/generation-client.js';
import { parseUsd } from '../src/ledger/money.js';
import { auditLedger } from '../src/ledger/audit.js';
import { percentile, startBenchService } from './support.js';

/**
 * Generation workflows end to end: the whole service (API, worker, embedded simulated Gemini at zero
 * delay, real PostgreSQL and Temporal) on this machine. Requests are spread over BENCH_ACCOUNTS accounts.
 *  1. video POST latency: POST /v1/videos one at a time; the answer comes once the hold is placed;
 *  2. images: BENCH_IMAGES requests of n=1 at each client count of BENCH_CLIENTS (16,64), each answered
 *     when the workflow has generated, stored and charged: workflows/s, POST→answer p50/p99, CPU per workflow;
 *  3. videos: BENCH_VIDEOS POSTs from BENCH_CONCURRENCY clients, then until every workflow has closed;
 *  4. BENCH_VIDEOS_IN_FLIGHT videos whose provider takes BENCH_VIDEO_DELAY_MS (3 minutes), BENCH_IN_FLIGHT_WAVES times: all in flight at
 *     once, worker memory (RSS) and the provider polls per second sampled until they have all been delivered.
 * Then the events in one image's and one video's history, and the ledger's invariant check.
 * BENCH_TEMPORAL: a comma list of `dev` (the dev server with its SQLite file, as `npm start` runs it),
 * `memory` (the dev server without its file, as the tests run it), `postgres` (the production Temporal
 * server persisting to PostgreSQL, started as the fault suite starts it); each gets a run of its own.
 * BENCH_WORKERS=N runs the worker as N `worker`-role processes instead of inside the API process.
 * TEMPORAL_WORKER_* and WORKFLOW_BUNDLE are passed to every worker.
 */
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);
const IMAGES = Number(process.env.BENCH_IMAGES ?? 1000);
const VIDEOS = Number(process.env.BENCH_VIDEOS ?? 500);
const IN_FLIGHT = Number(process.env.BENCH_VIDEOS_IN_FLIGHT ?? 0);
const VIDEO_DELAY_MS = Number(process.env.BENCH_VIDEO_DELAY_MS ?? 180_000);
/** Waves of IN_FLIGHT videos one after the other: memory after each (collected, with --expose-gc) tells growth from a leak. */
const IN_FLIGHT_WAVES = Number(process.env.BENCH_IN_FLIGHT_WAVES ?? 1);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** The image phase runs once per client count, so one run gives the ratios (16 and 64 by default). */
const CLIENTS = (process.env.BENCH_CLIENTS ?? '16,64').split(',').map(Number);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 32);
const WORKERS = Number(process.env.BENCH_WORKERS ?? 0);
/** Seconds between looks at a video job; 1 closes the short videos quickly, the product default is 5. */
const POLL_INTERVAL = process.env.BENCH_POLL_INTERVAL ?? '1';
const TEMPORALS = (process.env.BENCH_TEMPORAL ?? process.env.BENCH_TEMPORAL_DB ?? 'dev').split(',') as ('dev' | 'memory' | 'postgres')[];
const CREDIT = parseUsd('100000');
const CLOCK_TICKS_PER_S = 100;

interface TemporalUnderTest {
  env: Record<string, string>;
  label: string;
  stop(): Promise<void>;
}

async function startTemporal(kind: 'dev' | 'memory' | 'postgres', logger: Logger): Promise<TemporalUnderTest> {
  if (kind === 'dev') return { env: {}, label: 'Temporal CLI dev server, SQLite file (WAL)', stop: async () => {} };
  if (kind === 'memory') {
    const cli = resolveTemporalCli({ configured: process.env.TEMPORAL_CLI, toolsDir: TOOLS_DIR, logger });
    const t = await startTemporalDevServer({ cli, logger, namespaces: ['default'] });
    return { env: { TEMPORAL_ADDRESS: t.address }, label: 'Temporal CLI dev server in memory', stop: () => t.stop() };
  }
  // The production shape, as the fault suite runs it: one PostgreSQL for the service and Temporal.
  const tools = installTemporalServer(TOOLS_DIR, (l) => logger.warn(l));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-bench-temporal-'));
  fs.chmodSync(dir, 0o755);
  const postgres = await startFaultPostgres(path.join(dir, 'pg', 'postgres'), logger);
  try {
    const temporal = await startFaultTemporal({ tools, postgres, dir: path.join(dir, 'temporal'), namespace: 'default' });
    return {
      env: { TEMPORAL_ADDRESS: temporal.address, DATABASE_URL: postgres.url },
      label: temporal.kind,
      async stop() {
        await temporal.stop();
        await postgres.stop();
        fs.rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    await postgres.stop();
    throw err;
  }
}

/** The worker role as its own process, sharing the API's database, Temporal, data directory and sandboxes. */
async function startWorkerProcess(i: number, shared: Record<string, string>): Promise<ManagedProcess> {
  const port = await freePort();
  const proc = new ManagedProcess({
    name: `worker-${i}`,
    command: process.execPath,
    args: ['--import', 'tsx', path.join(import.meta.dirname, '..', 'src', 'launcher', 'main.ts'), 'worker'],
    env: { PATH: process.env.PATH, ...shared, PORT: String(port), LOG_LEVEL: 'warn' },
    logFile: path.join(shared.DATA_DIR!, `worker-${i}.log`),
  });
  proc.start();
  await waitUntil(`worker ${i}`, () => httpOk(`http://127.0.0.1:${port}/readyz`), { timeoutMs: 180_000, proc });
  return proc;
}

/** CPU seconds (user + system) a child process has used, from /proc. */
function cpuSecondsOf(pid: number | undefined): number {
  if (!pid) return 0;
  const fields = fs.readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_S;
}

/** CPU seconds of every process on the machine whose command line matches, from /proc (PostgreSQL's backends, the Temporal server). */
function cpuSecondsMatching(pattern: RegExp): number {
  let sum = 0;
  for (const entry of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      if (pattern.test(fs.readFileSync(`/proc/${entry}/cmdline`, 'utf8'))) sum += cpuSecondsOf(Number(entry));
    } catch {
      // The process ended while we looked.
    }
  }
  return sum;
}

/** CPU seconds the whole machine has been busy (every process, user + system), from /proc/stat. */
function machineBusySeconds(): number {
  const [user, nice, system, , , irq, softirq, steal] = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
  return (user! + nice! + system! + irq! + softirq! + steal!) / CLOCK_TICKS_PER_S;
}

/** Where the CPU went between two readings, per workflow: the machine, the Temporal server, PostgreSQL. */
function cpuBreakdown() {
  const read = () => ({ machine: machineBusySeconds(), temporal: cpuSecondsMatching(/start-dev|--allow-no-auth/), postgres: cpuSecondsMatching(/^(postgres:|[^\0]*\/postgres\0)/) });
  const before = read();
  return (n: number) => {
    const after = read();
    const per = (k: keyof typeof after) => `${(((after[k] - before[k]) * 1000) / n).toFixed(1)} ms`;
    return `whole machine ${per('machine')} (Temporal server ${per('temporal')}, PostgreSQL ${per('postgres')})`;
  };
}

/** This process's memory after a full collection when node runs with --expose-gc (the service runs in it unless BENCH_WORKERS is set). */
function heapAfterCollection(): string {
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const m = process.memoryUsage();
  const mb = (n: number) => `${(n / 1024 / 1024).toFixed(0)} MB`;
  return `${gc ? 'after a full collection, ' : '(no --expose-gc: not collected) '}heap used ${mb(m.heapUsed)}, RSS ${mb(m.rss)}, external ${mb(m.external)}, array buffers ${mb(m.arrayBuffers)}`;
}

function rssMbOf(pid: number): number {
  const line = fs.readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:'));
  return Number(line?.split(/\s+/)[1] ?? 0) / 1024;
}

async function runOn(kind: 'dev' | 'memory' | 'postgres', logger: Logger) {
  const temporal = await startTemporal(kind, logger);
  const settings: Record<string, string> = {
    SIMULATED_IMAGE_DELAY_MS: '0',
    SIMULATED_VIDEO_DELAY_MS: '0',
    GENERATION_POLL_INTERVAL: POLL_INTERVAL,
    ...(Object.fromEntries(Object.entries(process.env).filter(([k]) => k.startsWith('TEMPORAL_WORKER_') || k === 'WORKFLOW_BUNDLE')) as Record<string, string>),
  };
  const t0Start = performance.now();
  const { services, base, stop, databaseUrl, temporalAddress, dataDir } = await startBenchService('generations', { ...temporal.env, ...settings }, logger, { worker: WORKERS === 0 });
  const workers: ManagedProcess[] = [];
  const svc = services;
  try {
    for (let i = 0; i < WORKERS; i++) {
      workers.push(await startWorkerProcess(i, { ...settings, DATABASE_URL: databaseUrl, TEMPORAL_ADDRESS: temporalAddress, DATA_DIR: dataDir, SANDBOX_URL: base }));
    }
    console.log(`\n=== ${temporal.label}; worker ${WORKERS === 0 ? 'inside the API process' : `in ${WORKERS} worker processes`}${settings.WORKFLOW_BUNDLE ? ' (pre-built bundle)' : ''}; ready in ${((performance.now() - t0Start) / 1000).toFixed(1)} s; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
    const cpuNow = () => {
      const own = process.cpuUsage();
      return (own.user + own.system) / 1e6 + workers.reduce((sum, w) => sum + cpuSecondsOf(w.pid), 0);
    };
    const rssNow = () => [process.pid, ...workers.map((w) => w.pid!)].map(rssMbOf);

    const accounts: { id: string; key: string }[] = [];
    for (let i = 0; i < ACCOUNTS; i++) {
      const account = await services.accounts.create({ name: `bench ${i}`, email: 'bench@example.com' });
      const { key } = await services.accounts.createKey(account.id, 'bench');
      await services.ledger.post({ accountId: account.id, amount: CREDIT, kind: 'adjustment', idempotencyKey: `${account.id}:bench`, reason: 'bench credit' });
      accounts.push({ id: account.id, key });
    }
    let calls = 0;

    // Requests are spread over the accounts, as a busy service's customers would be.
    const post = async (p: string, body: unknown) => {
      const { key } = accounts[calls++ % accounts.length]!;
      const t0 = performance.now();
      const res = await fetch(base + p, {
        method: 'POST',
        headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
      const json = (await res.json()) as { id: string };
      if (res.status !== 200) throw new Error(`${p}: ${res.status} ${JSON.stringify(json)}`);
      return { id: json.id, ms: performance.now() - t0 };
    };
    const concurrently = async (n: number, each: (i: number) => Promise<void>, clients = CONCURRENCY) => {
      let next = 0;
      await Promise.all(Array.from({ length: Math.min(clients, n) }, async () => {
        while (next < n) await each(next++);
      }));
    };
    const closed = (ids: string[]) =>
      concurrently(ids.length, async (i) => {
        await svc.temporal.client.workflow.getHandle(generationWorkflowId(ids[i]!)).result();
      });
    const fmt = (xs: number[]) => {
      xs.sort((a, b) => a - b);
      return `p50 ${percentile(xs, 50).toFixed(1)} ms  p99 ${percentile(xs, 99).toFixed(1)} ms`;
    };
    const events = async (id: string) => (await svc.temporal.client.workflow.getHandle(generationWorkflowId(id)).fetchHistory()).events?.length;

    // The first events of a history, each as ms since the run started: how long the server took to hand
    // the first workflow task to the worker, and the worker to complete it (hold placed).
    const timeline = async (id: string) => {
      const history = await svc.temporal.client.workflow.getHandle(generationWorkflowId(id)).fetchHistory();
      const ms = (t: { seconds?: unknown; nanos?: number | null } | null | undefined) => Number(t?.seconds ?? 0) * 1000 + (t?.nanos ?? 0) / 1e6;
      const events = history.events ?? [];
      const t0 = ms(events[0]?.eventTime);
      return events
        .slice(0, 8)
        .map((e) => `${String(Object.keys(e).find((k) => k.endsWith('EventAttributes')) ?? e.eventType).replace('EventAttributes', '')} +${(ms(e.eventTime) - t0).toFixed(1)}`)
        .join(', ');
    };

    // Warm-up: bundle loaded, connections open, JIT warm.
    await closed(await Promise.all(Array.from({ length: 20 }, async (_, i) => (await post('/v1/videos', { prompt: `warm-up ${i}` })).id)));
    let delivered = 20;

    // On an idle service: each POST after the previous video's workflow has closed, so nothing else runs.
    const idle: number[] = [];
    for (let i = 0; i < Math.min(LATENCY_SAMPLES, 50); i++) {
      const r = await post('/v1/videos', { prompt: `idle ${i}` });
      idle.push(r.ms);
      await closed([r.id]);
    }
    delivered += idle.length;
    if (idle.length) console.log(`video POST → hold placed on an idle service (${idle.length} videos, each after the last had finished): ${fmt(idle)}`);

    // One at a time, the earlier videos' workflows running meanwhile (as a client posting in a loop sees it).
    const alone: number[] = [];
    const aloneIds: string[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const r = await post('/v1/videos', { prompt: `latency ${i}` });
      alone.push(r.ms);
      aloneIds.push(r.id);
    }
    await closed(aloneIds);
    delivered += LATENCY_SAMPLES;
    if (LATENCY_SAMPLES) {
      console.log(`video POST → hold placed, one at a time, the earlier ones' workflows running (${LATENCY_SAMPLES} videos): ${fmt(alone)}`);
      console.log(`history of one delivered video workflow: ${await events(aloneIds.at(-1)!)} events`);
      console.log(`where one video POST's time goes, by the server's event clock: ${await timeline(aloneIds.at(-1)!)}`);
    }

    let lastImage = '';
    for (const clients of IMAGES ? CLIENTS : []) {
      const imageLatency: number[] = [];
      const cpu0 = cpuNow();
      const breakdown = cpuBreakdown();
      const t0 = performance.now();
      await concurrently(
        IMAGES,
        async (i) => {
          const r = await post('/v1/images/generations', { prompt: `image ${clients} ${i}` });
          imageLatency.push(r.ms);
          lastImage = r.id;
        },
        clients,
      );
      const seconds = (performance.now() - t0) / 1000;
      delivered += IMAGES;
      console.log(`images end to end: ${IMAGES} workflows in ${seconds.toFixed(1)} s = ${(IMAGES / seconds).toFixed(1)} workflows/s  (${clients} clients; POST→answer ${fmt(imageLatency)}; load average ${os.loadavg()[0]!.toFixed(1)})`);
      console.log(`  CPU of the service processes (API + worker: service and Temporal SDK, + simulated Gemini) per workflow: ${(((cpuNow() - cpu0) * 1000) / IMAGES).toFixed(1)} ms; ${breakdown(IMAGES)}`);
    }
    if (lastImage) console.log(`history of one image workflow: ${await events(lastImage)} events`);

    if (VIDEOS) {
      const loaded: number[] = [];
      const videoIds: string[] = [];
      const cpu0 = cpuNow();
      const t0 = performance.now();
      await concurrently(VIDEOS, async (i) => {
        const r = await post('/v1/videos', { prompt: `video ${i}` });
        loaded.push(r.ms);
        videoIds.push(r.id);
      });
      await closed(videoIds);
      delivered += VIDEOS;
      const seconds = (performance.now() - t0) / 1000;
      console.log(`videos end to end: ${VIDEOS} workflows in ${seconds.toFixed(1)} s = ${(VIDEOS / seconds).toFixed(1)} workflows/s  (${CONCURRENCY} clients)`);
      console.log(`  CPU of the service processes per workflow: ${(((cpuNow() - cpu0) * 1000) / VIDEOS).toFixed(1)} ms`);
      console.log(`video POST → hold placed under that load: ${fmt(loaded)}`);
    }

    for (let wave = 1; IN_FLIGHT && wave <= IN_FLIGHT_WAVES; wave++) {
      await videosInFlight({ post, closed, concurrently, fmt, events, rssNow, cpuNow, polls: () => svc.sandboxes.running().gemini?.counters.operationPolls ?? 0 });
      delivered += IN_FLIGHT;
      console.log(`  after wave ${wave} of ${IN_FLIGHT_WAVES}: ${heapAfterCollection()}`);
    }

    const [{ total }] = await svc.db('accounts').whereIn('id', accounts.map((a) => a.id)).sum({ total: 'balance' });
    const balance = BigInt(total);
    const expected = CREDIT * BigInt(ACCOUNTS) - 210_000_000n * BigInt(delivered);
    const report = await auditLedger(svc.db);
    console.log(`charged ${delivered} × $0.21 exactly: ${balance === expected ? 'yes' : `NO (balance ${balance}, expected ${expected})`}; reconcile: ${report.ok ? 'all invariants hold' : 'DISCREPANCIES'}`);
    if (!report.ok || balance !== expected) process.exitCode = 1;
  } finally {
    for (const w of workers) await w.stop();
    await stop();
    await temporal.stop();
  }
}

/**
 * IN_FLIGHT videos that the provider takes VIDEO_DELAY_MS to render, all posted at once: while they render,
 * samples every 10 s of the service processes' RSS and of the provider polls per second (each poll is one
 * awaitVideo attempt: one activity task on Temporal, no history event).
 */
async function videosInFlight(b: {
  post: (p: string, body: unknown) => Promise<{ id: string; ms: number }>;
  closed: (ids: string[]) => Promise<void>;
  concurrently: (n: number, each: (i: number) => Promise<void>, clients?: number) => Promise<void>;
  fmt: (xs: number[]) => string;
  events: (id: string) => Promise<number | undefined>;
  rssNow: () => number[];
  cpuNow: () => number;
  polls: () => number;
}) {
  const ids: string[] = [];
  const latency: number[] = [];
  const rssBefore = b.rssNow();
  const t0 = performance.now();
  await b.concurrently(IN_FLIGHT, async (i) => {
    const r = await b.post('/v1/videos', { prompt: `in flight ${i} [delay:${VIDEO_DELAY_MS}]` });
    latency.push(r.ms);
    ids.push(r.id);
  });
  console.log(`${IN_FLIGHT} videos posted in ${((performance.now() - t0) / 1000).toFixed(1)} s (video POST ${b.fmt(latency)}); provider takes ${VIDEO_DELAY_MS / 1000} s; poll interval ${POLL_INTERVAL} s`);
  const samples: { s: number; rss: number[]; pollsPerS: number; cpuPerS: number }[] = [];
  let done = false;
  const closing = b.closed(ids).then(() => (done = true));
  let lastPolls = b.polls();
  let lastCpu = b.cpuNow();
  let last = performance.now();
  while (!done) {
    await Promise.race([closing, new Promise((r) => setTimeout(r, 10_000))]);
    const now = performance.now();
    const dt = (now - last) / 1000;
    const polls = b.polls();
    const cpu = b.cpuNow();
    samples.push({ s: (now - t0) / 1000, rss: b.rssNow(), pollsPerS: (polls - lastPolls) / dt, cpuPerS: (cpu - lastCpu) / dt });
    [lastPolls, lastCpu, last] = [polls, cpu, now];
  }
  const rendering = samples.filter((x) => x.s < VIDEO_DELAY_MS / 1000);
  for (const x of samples) {
    console.log(`  t=${x.s.toFixed(0)} s  RSS ${x.rss.map((r) => r.toFixed(0)).join(' + ')} MB  provider polls ${x.pollsPerS.toFixed(0)}/s  service CPU ${(x.cpuPerS * 100).toFixed(0)}%`);
  }
  const pollRates = rendering.map((x) => x.pollsPerS).sort((a, c) => a - c);
  console.log(`  RSS before ${rssBefore.map((r) => r.toFixed(0)).join(' + ')} MB; while rendering: polls/s median ${percentile(pollRates, 50).toFixed(0)} (expected ${IN_FLIGHT} / ${POLL_INTERVAL} s = ${(IN_FLIGHT / Number(POLL_INTERVAL)).toFixed(0)}); all ${IN_FLIGHT} delivered after ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  console.log(`history of one video that rendered ${VIDEO_DELAY_MS / 1000} s: ${await b.events(ids[0]!)} events`);
}

async function main() {
  const logger = pino({ level: 'warn' });
  // Under overload a client call may still be retrying when the run stops its connections; that must
  // not kill the process before it has stopped the servers it started.
  process.on('uncaughtException', (err) => logger.warn({ err }, 'after shutdown'));
  for (const kind of TEMPORALS) await runOn(kind, logger);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
