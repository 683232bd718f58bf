import os from 'node:os';
import { AccountRepository } from '../src/accounts/repository.js';
import { ledgerLanes } from '../src/config.js';
import type { Db } from '../src/db/connection.js';
import { auditLedger, parseUsd, PostgresLedger } from '../src/ledger/index.js';
import { benchDatabase, percentile } from './support.js';

/**
 * Hold + capture pairs per second: on one hot account (every pair contends for one row lock)
 * and spread over 1,000 accounts, at 32, 128 and 512 concurrent callers (BENCH_LEVELS), with the
 * WAL flushes (fsyncs) per pair from pg_stat_wal, then the full invariant check.
 * Two kinds of pair (BENCH_PAIRS, default both): a generation's, whose hold and capture each
 * commit durably, and a chat request's, whose hold the ledger commits without waiting for its WAL
 * flush when its batch holds nothing else (the capture's durable commit flushes it: see
 * postgres-ledger.ts), so that a pair costs one flush per batch instead of two. A third kind,
 * `allowance`, is a chat request served from a chat allowance (src/ledger/allowances.ts): its one
 * ledger operation, the charge, counted as its pair (each run reserves every account's allowance
 * first and releases it after).
 * `npm run bench:ledger`; BENCH_SECONDS per run (default 10), BENCH_LANES (default: the service's,
 * LEDGER_LANES's default for this machine), BENCH_PLAIN=1 adds the
 * one-statement-per-commit comparison.
 */
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 10) * 1000;
const LANES = Number(process.env.BENCH_LANES ?? ledgerLanes(os.availableParallelism()));
const LEVELS = (process.env.BENCH_LEVELS ?? process.env.BENCH_CONCURRENCY ?? '32,128,512').split(',').map(Number);
type Pair = 'generation' | 'chat' | 'allowance';
const PAIRS = (process.env.BENCH_PAIRS ?? 'generation,chat,allowance').split(',').map((p) => {
  if (p !== 'generation' && p !== 'chat' && p !== 'allowance') throw new Error(`BENCH_PAIRS: unknown pair '${p}' (generation, chat, allowance)`);
  return p as Pair;
});
const AMOUNT = 210_000_000n;

/** WAL flushes so far: pg_stat_io on PostgreSQL 18 (which moved them there), pg_stat_wal before; null if neither. */
async function walSyncs(db: Db): Promise<number | null> {
  for (const sql of [
    `SELECT sum(fsyncs)::bigint AS n FROM pg_stat_io WHERE object = 'wal'`,
    'SELECT wal_sync::bigint AS n FROM pg_stat_wal',
  ]) {
    try {
      const { rows } = await db.raw(sql);
      if (rows[0]?.n !== null && rows[0]?.n !== undefined) return Number(rows[0].n);
    } catch {
      // not this version's view
    }
  }
  return null;
}

async function run(db: Db, ledger: PostgresLedger, accounts: string[], label: string, CONCURRENCY: number, pair: Pair = 'generation') {
  const lease = pair === 'allowance' ? await allowances(db, ledger, accounts, CONCURRENCY) : undefined;
  const syncsBefore = await walSyncs(db);
  let pairs = 0;
  const latencies: number[] = [];
  const until = Date.now() + DURATION_MS;
  let seq = 0;
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (Date.now() < until) {
        const i = seq++;
        const accountId = accounts[i % accounts.length]!;
        const t0 = performance.now();
        const key = `${label}:${pair}:${CONCURRENCY}:${i}`;
        if (lease) {
          await ledger.chargeAllowance({ accountId, leaseId: lease, amount: AMOUNT, idempotencyKey: key, requestId: key });
          latencies.push(performance.now() - t0);
          pairs++;
          continue;
        }
        const { value: hold } = await ledger.placeHold({
          accountId,
          amount: AMOUNT,
          idempotencyKey: key,
          purpose: pair === 'chat' ? 'chat' : 'generation',
          ...(pair === 'chat' ? { requestId: key } : {}),
          expiresAt: new Date(Date.now() + 3_600_000),
        });
        // As the service captures each: a chat request names its account (ChatBilling), a generation's
        // activity only its hold.
        await ledger.captureHold({
          holdId: hold.id,
          amount: AMOUNT,
          ...(pair === 'chat' ? { kind: 'usage', accountId } : { kind: 'generation_capture' }),
        });
        latencies.push(performance.now() - t0);
        pairs++;
      }
    }),
  );
  const syncsAfter = await walSyncs(db);
  if (lease) for (const accountId of accounts) await ledger.releaseAllowance(accountId, lease);
  latencies.sort((a, b) => a - b);
  const perSecond = pairs / (DURATION_MS / 1000);
  const syncs = syncsBefore === null || syncsAfter === null ? 'n/a' : ((syncsAfter - syncsBefore) / Math.max(1, pairs)).toFixed(3);
  console.log(
    `${`${label}, ${pair}`.padEnd(34)} ${String(pairs).padStart(6)} pairs in ${DURATION_MS / 1000}s = ${perSecond.toFixed(0).padStart(5)} pairs/s` +
      `  p50 ${percentile(latencies, 50).toFixed(2)} ms  p99 ${percentile(latencies, 99).toFixed(2)} ms` +
      `  WAL syncs/pair ${syncs}  (concurrency ${CONCURRENCY})`,
  );
  return perSecond;
}

/** A live process lease with an allowance on every account covering `callers` requests in flight. */
async function allowances(db: Db, ledger: PostgresLedger, accounts: string[], callers: number): Promise<string> {
  const lease = `lease_bench_${Date.now()}`;
  await db.raw(`INSERT INTO process_leases (id, host, pid, expires_at) VALUES (?, 'bench', ?, now() + interval '1 hour')`, [lease, process.pid]);
  const each = AMOUNT * BigInt(Math.ceil(callers / accounts.length) + 1);
  for (const accountId of accounts) await ledger.reserveAllowance({ accountId, leaseId: lease, amount: each });
  return lease;
}

async function main() {
  const { db, stop } = await benchDatabase(Math.min(64, Math.max(...LEVELS)) + 2);
  try {
    const ledger = new PostgresLedger(db, { groupCommit: { lanes: LANES, maxBatch: 64 } });
    const plain = new PostgresLedger(db);
    const repo = new AccountRepository(db);
    const seed = async (n: number) => {
      const ids: string[] = [];
      for (let i = 0; i < n; i++) {
        const { id } = await repo.create({ name: `bench ${i}`, email: 'bench@example.com' });
        await ledger.post({ accountId: id, amount: parseUsd('1000000'), kind: 'adjustment', idempotencyKey: `${id}:seed` });
        ids.push(id);
      }
      return ids;
    };
    const hot = await seed(1);
    const many = await seed(1000);
    console.log(`group commit, ${LANES} lane${LANES === 1 ? '' : 's'} (as the service runs it; load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}):`);
    for (const pair of PAIRS) {
      for (const level of LEVELS) {
        await run(db, ledger, hot, `one hot account`, level, pair);
        await run(db, ledger, many, `across 1,000 accounts`, level, pair);
      }
    }
    if (process.env.BENCH_PLAIN === '1') {
      console.log('one statement per commit (for comparison):');
      for (const level of LEVELS) {
        await run(db, plain, hot, 'one hot account, plain', level);
        await run(db, plain, many, 'across 1,000, plain', level);
      }
    }
    await ledger.close();
    const t0 = performance.now();
    const report = await auditLedger(db);
    console.log(`reconcile: ${report.ok ? 'all invariants hold' : 'DISCREPANCIES'} (${report.accounts} accounts, ${(performance.now() - t0).toFixed(0)} ms)`);
    if (!report.ok) {
      console.error(JSON.stringify(report.checks.filter((c) => !c.ok), null, 2));
      process.exitCode = 1;
    }
  } finally {
    await stop();
  }
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
