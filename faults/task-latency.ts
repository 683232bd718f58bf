/**
 * Temporal task latency: how long a workflow or activity task waited between being scheduled and a
 * worker starting it (the server's `task_schedule_to_start_latency` histogram, read from its
 * Prometheus endpoint). Read at the start and the end of the soak, the difference is the soak's own.
 */

/** Cumulative bucket counts by upper bound (seconds; Infinity for +Inf), per task type. */
export type Histograms = Record<string, Map<number, number>>;

export interface TaskLatency {
  tasks: number;
  /** Upper bounds of the histogram buckets holding the 50th and 99th percentile, in ms. */
  p50Ms: number | null;
  p99Ms: number | null;
}

const BUCKET = /^task_schedule_to_start_latency_bucket\{([^}]*)\}\s+(\S+)/;

/** The histogram of every task queue and partition summed per task type (Workflow, Activity). */
export function parseTaskLatency(exposition: string): Histograms {
  const out: Histograms = {};
  for (const line of exposition.split('\n')) {
    const m = BUCKET.exec(line);
    if (!m) continue;
    const labels = Object.fromEntries([...m[1]!.matchAll(/(\w+)="([^"]*)"/g)].map((l) => [l[1]!, l[2]!]));
    const type = labels.task_type ?? 'unknown';
    const le = labels.le === '+Inf' ? Infinity : Number(labels.le);
    const buckets = (out[type] ??= new Map());
    buckets.set(le, (buckets.get(le) ?? 0) + Number(m[2]));
  }
  return out;
}

/**
 * Percentiles of the tasks counted between two readings. A server restarted in between starts its
 * counters again; the soak runs without faults, so a negative difference means a broken reading.
 */
export function latencyBetween(before: Histograms, after: Histograms): Record<string, TaskLatency> {
  const out: Record<string, TaskLatency> = {};
  for (const [type, buckets] of Object.entries(after)) {
    const bounds = [...buckets.keys()].sort((a, b) => a - b);
    const counts = bounds.map((le) => buckets.get(le)! - (before[type]?.get(le) ?? 0));
    if (counts.some((c) => c < 0)) throw new Error(`task latency histogram of ${type} went backwards: was the server restarted?`);
    const total = counts.at(-1) ?? 0;
    const at = (p: number) => {
      if (!total) return null;
      const i = counts.findIndex((c) => c >= (p / 100) * total);
      return bounds[i] === Infinity ? Infinity : Math.round(bounds[i]! * 1000);
    };
    out[type] = { tasks: total, p50Ms: at(50), p99Ms: at(99) };
  }
  return out;
}

export async function readTaskLatency(metricsUrl: string): Promise<Histograms> {
  const res = await fetch(metricsUrl, { signal: AbortSignal.timeout(10_000) });
  if (!res.ok) throw new Error(`${metricsUrl}: ${res.status}`);
  return parseTaskLatency(await res.text());
}
