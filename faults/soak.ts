import { execFileSync } from 'node:child_process';
import pg from 'pg';
import type { Logger } from 'pino';
import type { Load } from './load.js';
import type { Profile } from './scenarios.js';
import type { Topology } from './stack/topology.js';
import { latencyBetween, readTaskLatency, type TaskLatency } from './task-latency.js';

export interface SoakSample {
  atS: number;
  rssMb: Record<string, number>;
  dbConnections: number;
}

export interface SoakFigures {
  from: number;
  to: number;
  samples: SoakSample[];
  /** Temporal schedule-to-start latency of the soak's tasks, per task type; or why it could not be read. */
  taskLatency: Record<string, TaskLatency> | { error: string };
}

/**
 * The mixed load with no fault for the profile's soak time; RSS and database connections sampled
 * every 10 s, Temporal task latency read from the server at both ends.
 */
export async function soak(t: Topology, _load: Load, profile: Profile, logger: Logger): Promise<SoakFigures> {
  logger.info({ seconds: profile.soakMs / 1000 }, 'soak');
  const from = Date.now();
  const latencyBefore = await readTaskLatency(t.temporal.metricsUrl).catch((err: Error) => err);
  const samples: SoakSample[] = [];
  while (Date.now() - from < profile.soakMs) {
    samples.push(await sample(t, from));
    await new Promise((r) => setTimeout(r, Math.min(10_000, profile.soakMs - (Date.now() - from))));
  }
  samples.push(await sample(t, from));
  const to = Date.now();
  const latencyAfter = await readTaskLatency(t.temporal.metricsUrl).catch((err: Error) => err);
  let taskLatency: SoakFigures['taskLatency'];
  try {
    if (latencyBefore instanceof Error) throw latencyBefore;
    if (latencyAfter instanceof Error) throw latencyAfter;
    taskLatency = latencyBetween(latencyBefore, latencyAfter);
  } catch (err) {
    taskLatency = { error: String(err) };
  }
  return { from, to, samples, taskLatency };
}

async function sample(t: Topology, from: number): Promise<SoakSample> {
  const rssMb: Record<string, number> = {};
  for (const r of [...t.apis, ...t.workers]) {
    if (!r.proc.pid) continue;
    try {
      rssMb[r.proc.spec.name] = Math.round(Number(execFileSync('ps', ['-o', 'rss=', '-p', String(r.proc.pid)]).toString().trim()) / 1024);
    } catch {
      /* between lives */
    }
  }
  const c = new pg.Client({ connectionString: t.postgres.url });
  c.on('error', () => {});
  let dbConnections = -1;
  try {
    await c.connect();
    dbConnections = Number((await c.query('SELECT count(*)::int AS n FROM pg_stat_activity WHERE backend_type = $1', ['client backend'])).rows[0].n);
  } catch {
    /* reported as -1 */
  } finally {
    await c.end().catch(() => {});
  }
  return { atS: Math.round((Date.now() - from) / 1000), rssMb, dbConnections };
}
