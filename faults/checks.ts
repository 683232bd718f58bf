import { Connection, WorkflowClient } from '@temporalio/client';
import pg from 'pg';
import type { OpRecord } from './load.js';

/**
 * What must hold after faults, measured against the real database and Temporal: the numbers the
 * report prints and the assertions the suite fails on.
 */
export interface BalanceSampler {
  samples: number;
  unreachable: number;
  negativeBalance: number;
  negativeAvailable: number;
  stop(): Promise<void>;
}

/** Samples every account during the run (not only after): a negative balance even for a moment is a failure. */
export function sampleBalances(databaseUrl: string, everyMs = 500): BalanceSampler {
  const s: BalanceSampler = { samples: 0, unreachable: 0, negativeBalance: 0, negativeAvailable: 0, stop: async () => {} };
  let running = true;
  const loop = (async () => {
    while (running) {
      const c = new pg.Client({ connectionString: databaseUrl, connectionTimeoutMillis: 1_000, statement_timeout: 2_000, query_timeout: 2_000 });
      c.on('error', () => {});
      try {
        await c.connect();
        const { rows } = await c.query(
          'SELECT count(*) FILTER (WHERE balance < 0)::int AS nb, count(*) FILTER (WHERE balance - held < 0)::int AS na FROM accounts',
        );
        s.samples++;
        s.negativeBalance += rows[0].nb;
        s.negativeAvailable += rows[0].na;
      } catch {
        s.unreachable++;
      } finally {
        await c.end().catch(() => {});
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  s.stop = async () => {
    running = false;
    await loop;
  };
  return s;
}

export interface LedgerFindings {
  /** Charges a client was told about that are missing from the ledger or differ from it. */
  chargesMissing: string[];
  /** Charges applied more than once. */
  chargesDoubled: string[];
  chargesChecked: number;
  /** Deposits paid at the provider but not credited (after the drain). */
  depositsNotCredited: string[];
  depositsDoubled: string[];
  depositsChecked: number;
  pendingHolds: number;
  /** Pending holds created more than a minute before the end of the drain. */
  staleHolds: number;
  /** Chat allowances still held: those of live API processes are given back 2 s after their last request. */
  allowances: number;
  /** Chat allowances still held two minutes after their process lease lapsed (the sweep runs every minute). */
  staleAllowances: number;
}

export async function checkLedger(databaseUrl: string, records: OpRecord[]): Promise<LedgerFindings> {
  const db = new pg.Client({ connectionString: databaseUrl });
  db.on('error', () => {});
  await db.connect();
  try {
    const chat = records.filter((r) => (r.kind === 'chat' || r.kind === 'stream') && r.chargedNano && r.chargedNano > 0n && r.id);
    const images = records.filter((r) => r.kind === 'image' && r.chargedNano && r.id);
    const usage = await db.query<{ id: string; n: number; total: string }>(
      "SELECT request_id AS id, count(*)::int AS n, sum(-amount)::text AS total FROM ledger_entries WHERE kind = 'usage' AND request_id = ANY($1) GROUP BY request_id",
      [chat.map((r) => r.id!)],
    );
    const captures = await db.query<{ id: string; n: number; total: string }>(
      "SELECT generation_id AS id, count(*)::int AS n, sum(-amount)::text AS total FROM ledger_entries WHERE kind = 'generation_capture' AND generation_id = ANY($1) GROUP BY generation_id",
      [images.map((r) => r.id!)],
    );
    const byId = new Map([...usage.rows, ...captures.rows].map((r) => [r.id, r]));
    const chargesMissing: string[] = [];
    const chargesDoubled: string[] = [];
    for (const r of [...chat, ...images]) {
      const row = byId.get(r.id!);
      if (!row) chargesMissing.push(`${r.kind} ${r.id}: told ${r.chargedNano} n$, no ledger entry`);
      else if (row.n > 1) chargesDoubled.push(`${r.kind} ${r.id}: ${row.n} entries`);
      else if (BigInt(row.total) !== r.chargedNano) chargesMissing.push(`${r.kind} ${r.id}: told ${r.chargedNano} n$, ledger ${row.total} n$`);
    }
    // Any id charged twice, whether or not a client saw it (a crash between charge and answer).
    const doubled = await db.query<{ k: string; n: number }>(
      `SELECT coalesce(request_id, generation_id) AS k, count(*)::int AS n FROM ledger_entries
        WHERE kind IN ('usage', 'generation_capture') GROUP BY kind, coalesce(request_id, generation_id) HAVING count(*) > 1`,
    );
    for (const d of doubled.rows) if (!chargesDoubled.some((c) => c.includes(d.k))) chargesDoubled.push(`${d.k}: ${d.n} entries`);

    const paid = records.filter((r) => r.paid && r.id).map((r) => r.id!);
    const deposits = await db.query<{ id: string; status: string; n: number }>(
      `SELECT d.id, d.status, (SELECT count(*)::int FROM ledger_entries e WHERE e.kind = 'deposit' AND e.deposit_id = d.id) AS n
         FROM deposits d WHERE d.id = ANY($1)`,
      [paid],
    );
    const found = new Map(deposits.rows.map((d) => [d.id, d]));
    const depositsNotCredited = paid.filter((id) => found.get(id)?.n !== 1 && (found.get(id)?.n ?? 0) < 2).map((id) => `${id} (${found.get(id)?.status ?? 'missing'})`);
    const depositsDoubled = deposits.rows.filter((d) => d.n > 1).map((d) => `${d.id}: ${d.n} credits`);

    const holds = await db.query<{ pending: number; stale: number }>(
      "SELECT count(*)::int AS pending, count(*) FILTER (WHERE created_at < now() - interval '1 minute')::int AS stale FROM holds WHERE status = 'pending'",
    );
    const allowances = await db.query<{ held: number; stale: number }>(
      `SELECT count(*)::int AS held, count(*) FILTER (WHERE l.expires_at IS NULL OR l.expires_at < now() - interval '2 minutes')::int AS stale
         FROM chat_allowances c LEFT JOIN process_leases l ON l.id = c.lease_id`,
    );
    return {
      chargesMissing,
      chargesDoubled,
      chargesChecked: chat.length + images.length,
      depositsNotCredited,
      depositsDoubled,
      depositsChecked: paid.length,
      pendingHolds: holds.rows[0]!.pending,
      staleHolds: holds.rows[0]!.stale,
      allowances: allowances.rows[0]!.held,
      staleAllowances: allowances.rows[0]!.stale,
    };
  } finally {
    await db.end();
  }
}

/** Deposit and generation workflows still running: after the drain, each one is a stuck workflow. */
export async function runningWorkflows(address: string, namespace: string): Promise<{ deposit: number; generation: number; ids: string[] }> {
  const connection = await Connection.connect({ address });
  try {
    const client = new WorkflowClient({ connection, namespace });
    const ids: string[] = [];
    let deposit = 0;
    let generation = 0;
    for await (const wf of client.list({ query: "ExecutionStatus = 'Running'" })) {
      if (wf.type === 'depositWorkflow') deposit++;
      else if (wf.type === 'generationWorkflow') generation++;
      else continue;
      if (ids.length < 20) ids.push(wf.workflowId);
    }
    return { deposit, generation, ids };
  } finally {
    await connection.close();
  }
}

/** Through the balancer, retried: an API process the fuzzer upset must not stop the books being checked. */
export async function adminReconcile(url: string, adminToken: string): Promise<{ ok: boolean; failed: unknown[] }> {
  let last: unknown;
  for (let attempt = 0; attempt < 10; attempt++) {
    try {
      const res = await fetch(`${url}/admin/reconcile`, { method: 'POST', headers: { authorization: `Bearer ${adminToken}` }, signal: AbortSignal.timeout(30_000) });
      const json = (await res.json()) as { ok: boolean; checks: { ok: boolean }[] };
      return { ok: res.ok && json.ok, failed: (json.checks ?? []).filter((c) => !c.ok) };
    } catch (err) {
      last = err;
      await new Promise((r) => setTimeout(r, 3_000));
    }
  }
  return { ok: false, failed: [`reconcile unreachable: ${String(last)}`] };
}
