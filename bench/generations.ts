import pino from 'pino';
import { TOOLS_DIR } from '../src/launcher/stack.js';
import { resolveTemporalCli } from '../src/launcher/temporal-cli.js';
import { startTemporalDevServer, type RunningTemporal } from '../src/launcher/temporal-dev-server.js';
import { generationWorkflowId } from '../src/generations/generation-client.js';
import { parseUsd } from '../src/ledger/money.js';
import { auditLedger } from '../src/ledger/audit.js';
import { percentile, startBenchService } from './support.js';

/**
 * Generation workflows end to end: the whole service (API, worker, embedded simulated Gemini at zero
 * delay, real PostgreSQL and Temporal dev server) on this machine.
 * Requests are spread over BENCH_ACCOUNTS accounts (default 32).
 *  1. hold latency: POST /v1/videos one at a time; the answer comes once the hold is placed, so its
 *     latency is the time from POST to "hold placed" as the client learns it;
 *  2. images: BENCH_IMAGES requests of n=1 from BENCH_CONCURRENCY clients, each answered when the
 *     workflow has generated, stored and charged: workflows per second;
 *  3. videos: BENCH_VIDEOS POSTs from BENCH_CONCURRENCY clients, then until every workflow has closed:
 *     workflows per second, and the hold latency under that load.
 * Ends with the ledger's invariant check. `npm run bench:generations`; BENCH_TEMPORAL_DB=memory runs the
 * dev server without its SQLite file (as the tests do), to show what persistence costs; TEMPORAL_ADDRESS /
 * DATABASE_URL measure against servers of your own.
 */
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 200);
const IMAGES = Number(process.env.BENCH_IMAGES ?? 1000);
const VIDEOS = Number(process.env.BENCH_VIDEOS ?? 500);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** The image phase runs once per client count, so one run gives the ratios (16 and 64 by default). */
const CLIENTS = (process.env.BENCH_CLIENTS ?? '16,64').split(',').map(Number);
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 32);
const CREDIT = parseUsd('100000');

async function main() {
  const logger = pino({ level: 'warn' });
  let memoryTemporal: RunningTemporal | undefined;
  if (process.env.BENCH_TEMPORAL_DB === 'memory' && !process.env.TEMPORAL_ADDRESS) {
    const cli = resolveTemporalCli({ configured: process.env.TEMPORAL_CLI, toolsDir: TOOLS_DIR, logger });
    memoryTemporal = await startTemporalDevServer({ cli, logger, namespaces: ['default'] });
  }
  const { services, base, stop } = await startBenchService(
    'generations',
    {
      ...(memoryTemporal ? { TEMPORAL_ADDRESS: memoryTemporal.address } : {}),
      SIMULATED_IMAGE_DELAY_MS: '0',
      SIMULATED_VIDEO_DELAY_MS: '0',
      GENERATION_POLL_INTERVAL: '1',
    },
    logger,
  );
  const svc = services;
  try {
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

    // Warm-up: bundle loaded, connections open, JIT warm.
    await closed(await Promise.all(Array.from({ length: 20 }, async (_, i) => (await post('/v1/videos', { prompt: `warm-up ${i}` })).id)));

    const alone: number[] = [];
    const aloneIds: string[] = [];
    for (let i = 0; i < LATENCY_SAMPLES; i++) {
      const r = await post('/v1/videos', { prompt: `latency ${i}` });
      alone.push(r.ms);
      aloneIds.push(r.id);
    }
    await closed(aloneIds);
    console.log(`POST → hold placed, one at a time (${LATENCY_SAMPLES} videos):       ${fmt(alone)}`);

    let imageCount = 0;
    let lastImage = '';
    for (const clients of CLIENTS) {
      const imageLatency: number[] = [];
      const cpu0 = process.cpuUsage();
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
      imageCount += IMAGES;
      console.log(`images end to end: ${IMAGES} workflows in ${seconds.toFixed(1)} s = ${(IMAGES / seconds).toFixed(1)} workflows/s  (${clients} clients; POST→answer ${fmt(imageLatency)})`);
      console.log(`  CPU of this process (API + worker: service and Temporal SDK, + simulated Gemini) per workflow: ${cpuPerWorkflow(cpu0, IMAGES)} ms`);
    }
    const history = await svc.temporal.client.workflow.getHandle(generationWorkflowId(lastImage)).fetchHistory();
    console.log(`history of one image workflow: ${history.events?.length} events`);

    const loaded: number[] = [];
    const videoIds: string[] = [];
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await concurrently(VIDEOS, async (i) => {
      const r = await post('/v1/videos', { prompt: `video ${i}` });
      loaded.push(r.ms);
      videoIds.push(r.id);
    });
    await closed(videoIds);
    const seconds = (performance.now() - t0) / 1000;
    console.log(`videos end to end: ${VIDEOS} workflows in ${seconds.toFixed(1)} s = ${(VIDEOS / seconds).toFixed(1)} workflows/s  (${CONCURRENCY} clients)`);
    console.log(`  CPU of this process per workflow: ${cpuPerWorkflow(cpu0, VIDEOS)} ms`);
    console.log(`POST → hold placed under that load:                       ${fmt(loaded)}`);

    const [{ total }] = await svc.db('accounts').whereIn('id', accounts.map((a) => a.id)).sum({ total: 'balance' });
    const balance = BigInt(total);
    const delivered = 20 + LATENCY_SAMPLES + imageCount + VIDEOS;
    const expected = CREDIT * BigInt(ACCOUNTS) - 210_000_000n * BigInt(delivered);
    const report = await auditLedger(svc.db);
    console.log(`charged ${delivered} × $0.21 exactly: ${balance === expected ? 'yes' : `NO (balance ${balance}, expected ${expected})`}; reconcile: ${report.ok ? 'all invariants hold' : 'DISCREPANCIES'}`);
    if (!report.ok || balance !== expected) process.exitCode = 1;
  } finally {
    await stop();
    await memoryTemporal?.stop();
  }
}

function cpuPerWorkflow(since: NodeJS.CpuUsage, n: number): string {
  const used = process.cpuUsage(since);
  return ((used.user + used.system) / 1000 / n).toFixed(1);
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
