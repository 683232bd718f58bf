import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type WorkerOptions, type WorkflowBundle } from '@temporalio/worker';
import type { Logger } from 'pino';
import type { WorkerTuning } from '../config.js';
import { createActivities } from './activities.js';
import { startBalanceAlert } from '../alerts/alert-client.js';
import { startCrossingDispatcher } from '../alerts/crossing-dispatcher.js';
import { imageTaskQueue } from '../generations/generation-client.js';
import { startAutoTopup } from '../payments/auto-topup-client.js';
import type { Services } from '../services.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

let bundle: Promise<WorkflowBundle> | undefined;

/** Bundles the workflow code once per process; every worker after the first reuses it. */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return bundle;
}

/** Bundles the workflow code into `file` ahead of time (`npm run build:workflows`, the Dockerfile). */
export async function writeWorkflowBundle(file: string): Promise<void> {
  const { code } = await bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, code);
}

/**
 * The pre-built bundle when WORKFLOW_BUNDLE names one (as samples-typescript/production does: no webpack
 * at start, seconds and about 100 MB saved per worker process); otherwise bundled here, once per process.
 * Only an explicit path is trusted: a stale file left in a checkout would run old workflow code.
 */
export async function workflowCodeFor(tuning: Pick<WorkerTuning, 'bundlePath'>): Promise<Pick<WorkerOptions, 'workflowBundle'>> {
  if (!tuning.bundlePath) return { workflowBundle: await workflowBundle() };
  if (!fs.existsSync(tuning.bundlePath)) throw new Error(`WORKFLOW_BUNDLE: no file at ${tuning.bundlePath} (build it with npm run build:workflows)`);
  return { workflowBundle: { codePath: tuning.bundlePath } };
}

/** The tuning options that were set, in the SDK's words; unset ones keep the SDK's defaults. */
export function workerTuningOptions(t: WorkerTuning): Partial<WorkerOptions> {
  const options: Partial<WorkerOptions> = {
    maxCachedWorkflows: t.maxCachedWorkflows,
    maxConcurrentWorkflowTaskExecutions: t.workflowTaskSlots,
    maxConcurrentActivityTaskExecutions: t.activityTaskSlots,
    maxConcurrentLocalActivityExecutions: t.localActivitySlots,
    maxConcurrentWorkflowTaskPolls: t.workflowPollers,
    maxConcurrentActivityTaskPolls: t.activityPollers,
  };
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
}

const noop = () => {};
const quietBundlerLogger = { trace: noop, debug: noop, info: noop, warn: noop, error: console.error, log: noop };

export interface RunningWorker {
  worker: Worker;
  /** Resolves when the worker has stopped (after shutdown or a fatal error). */
  done: Promise<void>;
  shutdown(): Promise<void>;
}

let runtimeInstalled = false;

/** Routes the SDK's own logs (worker state changes, workflow logs) into our pino logger, once per process. */
function installRuntime(logger: Logger) {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  const level = ({ trace: 'TRACE', debug: 'DEBUG', info: 'INFO', warn: 'WARN', error: 'ERROR', fatal: 'ERROR', silent: 'ERROR' } as const)[
    logger.level as 'info'
  ] as LogLevel;
  Runtime.install({
    logger: new DefaultLogger(level ?? 'WARN', (entry) => {
      const method = entry.level === 'TRACE' ? 'trace' : entry.level === 'DEBUG' ? 'debug' : entry.level === 'INFO' ? 'info' : entry.level === 'WARN' ? 'warn' : 'error';
      logger[method]({ component: 'temporal-sdk', ...entry.meta }, entry.message);
    }),
  });
}

// The SDK's default number of local activity slots (maxConcurrentLocalActivityExecutions).
const SDK_LOCAL_ACTIVITY_SLOTS = 100;

/**
 * Image workflows run on a task queue of their own, polled by a second worker in the same process. An
 * image's pictures are local activities, so its workflow task stays open while they are drawn and keeps
 * a workflow task slot meanwhile: on the shared queue, slow pictures would keep every other workflow's
 * tasks waiting (a video's hold, a deposit's credit). The image worker has a workflow task slot for each
 * local activity slot, so pictures in flight, not slots, are its limit, as activity slots were before.
 */
export function imageWorkerOptions(t: WorkerTuning): Partial<WorkerOptions> {
  return { ...workerTuningOptions(t), maxConcurrentWorkflowTaskExecutions: t.localActivitySlots ?? SDK_LOCAL_ACTIVITY_SLOTS };
}

export async function startWorker(services: Services, opts: { taskQueue?: string } = {}): Promise<RunningWorker> {
  installRuntime(services.logger);
  const connection = await NativeConnection.connect(services.temporal.connectionOptions);
  const taskQueue = opts.taskQueue ?? services.temporal.taskQueue;
  const tuning = services.config.temporal.worker;
  const common = { connection, namespace: services.temporal.namespace, ...(await workflowCodeFor(tuning)), activities: createActivities(services) };
  const worker = await Worker.create({ ...common, taskQueue, ...workerTuningOptions(tuning) });
  const imageWorker = await Worker.create({ ...common, taskQueue: imageTaskQueue(taskQueue), ...imageWorkerOptions(tuning) });
  // Balance crossings (low-balance alerts, auto top-up) start their workflows from every worker process.
  const crossings = startCrossingDispatcher(
    services.db,
    { alert: (c) => startBalanceAlert(services, c), auto_topup: (c) => startAutoTopup(services, c) },
    services.logger,
  );
  // Either worker failing stops the other: the process then has no worker, as with one.
  const stopBoth = () => {
    for (const w of [worker, imageWorker]) if (w.getState() === 'RUNNING') w.shutdown();
  };
  const done = Promise.allSettled([worker, imageWorker].map((w) => w.run().finally(stopBoth)))
    .then((runs) => {
      const failed = runs.find((r) => r.status === 'rejected');
      if (failed) throw failed.reason;
    })
    .finally(() => crossings.stop())
    .finally(() => connection.close());
  return {
    worker,
    done,
    async shutdown() {
      await crossings.stop();
      stopBoth();
      await done;
    },
  };
}
