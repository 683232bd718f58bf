import { AccountRepository } from '../src/accounts/repository.js';
import { parseUsd, PostgresLedger, auditLedger } from '../src/ledger/index.js';
import { benchDatabase, percentile } from './support.js';

/**
 * Hold + capture pairs per second: on one hot account (every pair contends for one row lock)
 * and spread over 1,000 accounts, then the full invariant check. `npm run bench:ledger`.
 */
const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 10) * 1000;
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);

async function run(ledger: PostgresLedger, accounts: string[], label: string) {
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
        const { value: hold } = await ledger.placeHold({
          accountId,
          amount: 210_000_000n,
          idempotencyKey: `${label}:${i}`,
          purpose: 'generation',
          expiresAt: new Date(Date.now() + 3_600_000),
        });
        await ledger.captureHold({ holdId: hold.id, amount: 210_000_000n, kind: 'generation_capture' });
        latencies.push(performance.now() - t0);
        pairs++;
      }
    }),
  );
  latencies.sort((a, b) => a - b);
  const perSecond = pairs / (DURATION_MS / 1000);
  console.log(
    `${label.padEnd(22)} ${pairs} pairs in ${DURATION_MS / 1000}s = ${perSecond.toFixed(0)} pairs/s` +
      `  p50 ${percentile(latencies, 50).toFixed(2)} ms  p99 ${percentile(latencies, 99).toFixed(2)} ms  (concurrency ${CONCURRENCY})`,
  );
  return perSecond;
}

async function main() {
  const { db, stop } = await benchDatabase(CONCURRENCY + 2);
  try {
    const ledger = new PostgresLedger(db, { groupCommit: { lanes: Number(process.env.BENCH_LANES ?? 8), maxBatch: 64 } });
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
    console.log('group commit (as the service runs it):');
    await run(ledger, hot, 'one hot account');
    await run(ledger, many, 'across 1,000 accounts');
    console.log('one statement per commit (for comparison):');
    await run(plain, hot, 'one hot account, plain');
    await run(plain, many, 'across 1,000, plain');
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
