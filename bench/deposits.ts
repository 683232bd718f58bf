import os from 'node:os';
import pino from 'pino';
import Stripe from 'stripe';
import { auditLedger } from '../src/ledger/audit.js';
import { depositResult } from '../src/payments/deposit-client.js';

import { percentile, startBenchService } from './support.js';

/**
 * Webhook to credit: the whole service (API, worker, embedded Stripe sandbox, real PostgreSQL and
 * Temporal dev server) on this machine. Deposits are opened through the API, paid in the sandbox
 * with delivery held, then their signed `checkout.session.completed` webhooks are posted:
 *  1. one at a time: latency from posting the verified webhook to the ledger entry existing
 *     (the entry's own commit time, so no polling error is added);
 *  2. all at once with BENCH_CONCURRENCY senders: webhooks acknowledged per second, and credits
 *     per second until the last one is visible.
 * `npm run bench:deposits` (BENCH_DEPOSITS, BENCH_CONCURRENCY, BENCH_ACCOUNTS, BENCH_LATENCY_SAMPLES).
 */
const LATENCY_SAMPLES = Number(process.env.BENCH_LATENCY_SAMPLES ?? 100);
const BURST = Number(process.env.BENCH_DEPOSITS ?? 400);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);
/** Customers the deposits are spread over (1 = every credit on one hot account row). */
const ACCOUNTS = Number(process.env.BENCH_ACCOUNTS ?? 50);

async function main() {
  const logger = pino({ level: 'warn' });
  const { services, base, stop } = await startBenchService(
    'deposits',
    // Webhooks only: the polling fallback must not do the work being measured.
    // …and every deposit of the run may wait for payment at once.
    { DEPOSIT_POLL_INTERVAL: '3600', DEPOSIT_MAX_OPEN: '1000000' },
    logger,
  );
  const svc = services;
  try {
    const sandbox = services.sandboxes.running().stripe!;
    sandbox.webhooks.mode = 'hold';

    const keys: string[] = [];
    for (let a = 0; a < ACCOUNTS; a++) {
      const account = await services.accounts.create({ name: `bench ${a}`, email: 'bench@example.com' });
      keys.push((await services.accounts.createKey(account.id, 'bench')).key);
    }

    /** Opens n deposits through the API, pays them in the sandbox, returns each one's held webhook. */
    async function paidDeposits(n: number) {
      const out: Array<{ depositId: string; hook: { url: string; body: string; headers: Record<string, string> } }> = [];
      let next = 0;
      await Promise.all(
        Array.from({ length: Math.min(16, n) }, async () => {
          while (next < n) {
            const key = keys[next++ % keys.length]!;
            const res = await fetch(`${base}/v1/billing/deposits`, {
              method: 'POST',
              headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
              body: JSON.stringify({ tier: 'starter', method: 'card' }),
            });
            if (res.status !== 201) throw new Error(`deposit: ${res.status} ${await res.text()}`);
            const dep = (await res.json()) as { id: string };
            const ref = (await svc.payments.deposits.get(dep.id))!.providerRef!;
            sandbox.pay(ref, 'card');
            const held = sandbox.webhooks.list().find((w) => w.body.includes(ref))!;
            out.push({ depositId: dep.id, hook: { url: held.url, body: held.body, headers: signed(held.body) } });
          }
        }),
      );
      return out;
    }
    // Signed at send time like Stripe does (a fresh timestamp per attempt). Posted directly rather
    // than through the sandbox's outbox, so the sandbox's bookkeeping is not part of the measure.
    const signed = (payload: string) => ({
      'content-type': 'application/json; charset=utf-8',
      'stripe-signature': Stripe.webhooks.generateTestHeaderString({ payload, secret: services.sandboxes.connections.card!.webhookSecret }),
    });

    const post = async (h: { url: string; body: string; headers: Record<string, string> }) => {
      const res = await fetch(h.url, { method: 'POST', headers: h.headers, body: h.body });
      await res.arrayBuffer();
      if (res.status !== 200) throw new Error(`webhook answered ${res.status}`);
    };
    const creditTimes = async (ids: string[]) => {
      const rows: Array<{ deposit_id: string; created_at: Date }> = await svc.db('ledger_entries')
        .whereIn('deposit_id', ids)
        .andWhere('kind', 'deposit')
        .select('deposit_id', 'created_at');
      return new Map(rows.map((r) => [r.deposit_id, r.created_at.getTime()]));
    };
    // Waiting must not spin in this process: it is the service's process too.
    const waitCredited = async (ids: string[]) => {
      for (let i = 0; i < 6_000; i++) {
        const n = Number((await svc.db('ledger_entries').whereIn('deposit_id', ids).count<{ n: string }[]>({ n: '*' }))[0]!.n);
        if (n === ids.length) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error('credits did not all arrive');
    };
    const depositEnded = (id: string) => depositResult(svc, id);

    // Warm-up: bundle, connections, JIT.
    for (const d of await paidDeposits(10)) await post(d.hook);

    console.log(`opening ${LATENCY_SAMPLES + BURST} deposits through the API…`);
    const single = await paidDeposits(LATENCY_SAMPLES);
    const burst = await paidDeposits(BURST);

    // 1. One webhook at a time.
    const sentAt = new Map<string, number>();
    for (const d of single) {
      d.hook.headers = signed(d.hook.body);
      sentAt.set(d.depositId, Date.now());
      await post(d.hook);
      await depositEnded(d.depositId);
    }
    const credited = await creditTimes(single.map((d) => d.depositId));
    const latencies = single.map((d) => credited.get(d.depositId)! - sentAt.get(d.depositId)!).sort((a, b) => a - b);
    console.log(
      `webhook → credit visible, one at a time (${latencies.length}): p50 ${percentile(latencies, 50)} ms, p99 ${percentile(latencies, 99)} ms, max ${latencies.at(-1)} ms`,
    );

    // 2. Everything at once.
    let i = 0;
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    await Promise.all(
      Array.from({ length: CONCURRENCY }, async () => {
        while (i < burst.length) {
          const d = burst[i++]!;
          d.hook.headers = signed(d.hook.body);
          await post(d.hook);
        }
      }),
    );
    const acked = performance.now() - t0;
    await waitCredited(burst.map((d) => d.depositId));
    const all = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuMsPerWebhook = (cpu.user + cpu.system) / 1000 / burst.length;
    console.log(
      `burst of ${burst.length} webhooks with ${CONCURRENCY} senders: ${(burst.length / (acked / 1000)).toFixed(0)} webhooks/s acknowledged (signal durable in Temporal), ` +
        `${(burst.length / (all / 1000)).toFixed(0)} credits/s until the last credit was visible (${all.toFixed(0)} ms); ` +
        `${cpuMsPerWebhook.toFixed(1)} ms of service CPU (API + worker process) per webhook; load average ${os.loadavg()[0]!.toFixed(1)} on ${os.cpus().length} CPUs`,
    );

    const report = await auditLedger(services.db);
    const entries = Number((await services.db('ledger_entries').where({ kind: 'deposit' }).count<{ n: string }[]>({ n: '*' }))[0]!.n);
    console.log(`reconcile: ${report.ok ? 'all invariants hold' : 'DISCREPANCIES'}; ${entries} deposit credits for ${10 + LATENCY_SAMPLES + BURST} deposits`);
    if (!report.ok) process.exitCode = 1;
  } finally {
    await stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
