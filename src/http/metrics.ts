import type { ServerResponse } from 'node:http';
import client from 'prom-client';

/** One Prometheus registry per service instance (tests build several apps in one process). */
export function createMetrics() {
  const registry = new client.Registry();
  client.collectDefaultMetrics({ register: registry });
  const httpDuration = new client.Histogram({
    name: 'cheapa_http_request_duration_seconds',
    help: 'HTTP request duration by route and status',
    labelNames: ['method', 'route', 'status'] as const,
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10, 60],
    registers: [registry],
  });
  const ledgerOps = new client.Counter({
    name: 'cheapa_ledger_operations_total',
    help: 'Ledger operations by kind and outcome',
    labelNames: ['op', 'outcome'] as const,
    registers: [registry],
  });
  return { registry, httpDuration, ledgerOps };
}

export type Metrics = ReturnType<typeof createMetrics>;

/** Times the request until its answer is finished, under the route it matched (known only by then on Express). */
export function timeRequest(metrics: Metrics, method: string, res: ServerResponse, route: () => string): void {
  const started = process.hrtime.bigint();
  res.on('finish', () => {
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    metrics.httpDuration.observe({ method, route: route(), status: String(res.statusCode) }, seconds);
  });
}
