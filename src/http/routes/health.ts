import { createHash, timingSafeEqual } from 'node:crypto';
import express, { type Express, type Request, Router } from 'express';
import { type PartName } from '../../config.js';
import type { Services } from '../../services.js';
import { errorHandler, unauthorized } from '../errors.js';

/**
 * Liveness says the process answers; readiness says it can do its job: the database answers,
 * Temporal answers, and a worker polls our task queue (or a workflow would sit unstarted).
 *
 * `/healthz` and `/readyz` are public, for load balancers and orchestrators: a status word, nothing
 * else. Ops send the admin token (`Authorization: Bearer $ADMIN_TOKEN`) to `/readyz` for each
 * check's error and the parts of the product that are disabled or sandboxed, and to `/metrics`,
 * which answers only them (Prometheus: `authorization: { credentials: … }` in the scrape config).
 */
export function healthRoutes(services: Services, opts: { worker?: () => boolean } = {}): Router {
  const router = Router();
  const isOps = opsCheck(services.adminToken);
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (req, res) => {
    const [database, temporal, worker] = await Promise.all([
      probe(async () => {
        await services.db.raw('SELECT 1');
      }),
      probe(async () => {
        await services.temporal.connection.workflowService.getSystemInfo({});
      }),
      opts.worker
        ? probe(async () => {
            if (!opts.worker!()) throw new Error('this process\u2019s worker is not running');
          })
        : probe(async () => {
            const { pollers } = await services.temporal.connection.workflowService.describeTaskQueue({
              namespace: services.temporal.namespace,
              taskQueue: { name: services.temporal.taskQueue },
              taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
            });
            if (!pollers?.length) throw new Error(`no worker polling task queue ${services.temporal.taskQueue}`);
          }),
    ]);
    const ready = database.ok && temporal.ok && worker.ok;
    const status = ready ? 'ready' : 'not_ready';
    res.status(ready ? 200 : 503);
    if (!isOps(req)) {
      res.json({ status });
      return;
    }
    const parts = services.config.parts;
    const named = (source: string) => (Object.keys(parts) as PartName[]).filter((p) => parts[p] === source);
    res.json({
      status,
      checks: { database, temporal, worker },
      mode: services.config.mode,
      parts,
      disabled: named('disabled'),
      sandboxed: named('sandbox'),
    });
  });
  router.get('/metrics', async (req, res) => {
    if (!isOps(req)) throw unauthorized('Metrics are for ops: send Authorization: Bearer $ADMIN_TOKEN.');
    res.type(services.metrics.registry.contentType).send(await services.metrics.registry.metrics());
  });
  return router;
}

/**
 * The worker role's own small HTTP listener: the same /healthz, /readyz and /metrics, with
 * readiness about this process's worker rather than the task queue's pollers.
 */
export function workerHealthApp(services: Services, workerRunning: () => boolean): Express {
  const app = express();
  app.disable('x-powered-by');
  app.use(healthRoutes(services, { worker: workerRunning }));
  app.use(errorHandler(services.logger));
  return app;
}

const digest = (s: string) => createHash('sha256').update(s).digest();

function opsCheck(adminToken: string): (req: Request) => boolean {
  const expected = digest(adminToken);
  return (req) => {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    return m !== null && timingSafeEqual(digest(m[1]!), expected);
  };
}

async function probe(fn: () => Promise<void>): Promise<{ ok: boolean; error?: string }> {
  try {
    await withTimeout(fn(), 2_000);
    return { ok: true };
  } catch (err) {
    return { ok: false, error: (err as Error).message };
  }
}

function withTimeout<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms);
    }),
  ]);
}
