import { Router } from 'express';
import type { Services } from '../../services.js';

/**
 * Liveness says the process answers; readiness says it can do its job: the database answers,
 * Temporal answers, and some worker polls our task queue (or a workflow would sit unstarted).
 */
export function healthRoutes(services: Services): Router {
  const router = Router();
  router.get('/healthz', (_req, res) => {
    res.json({ status: 'ok' });
  });
  router.get('/readyz', async (_req, res) => {
    const [database, temporal, worker] = await Promise.all([
      probe(async () => {
        await services.db.raw('SELECT 1');
      }),
      probe(async () => {
        await services.temporal.connection.workflowService.getSystemInfo({});
      }),
      probe(async () => {
        const { pollers } = await services.temporal.connection.workflowService.describeTaskQueue({
          namespace: services.temporal.namespace,
          taskQueue: { name: services.temporal.taskQueue },
          taskQueueType: 1, // TASK_QUEUE_TYPE_WORKFLOW
        });
        if (!pollers?.length) throw new Error(`no worker polling task queue ${services.temporal.taskQueue}`);
      }),
    ]);
    const ready = database.ok && temporal.ok && worker.ok;
    res.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'not_ready', checks: { database, temporal, worker } });
  });
  router.get('/metrics', async (_req, res) => {
    res.type(services.metrics.registry.contentType).send(await services.metrics.registry.metrics());
  });
  return router;
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
