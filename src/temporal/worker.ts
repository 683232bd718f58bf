import { fileURLToPath } from 'node:url';
import { bundleWorkflowCode, DefaultLogger, NativeConnection, Runtime, Worker, type LogLevel, type WorkflowBundle } from '@temporalio/worker';
import type { Logger } from 'pino';
import { createActivities } from './activities.js';
import type { Services } from '../services.js';

export const WORKFLOWS_PATH = fileURLToPath(new URL('../../workflows/index.ts', import.meta.url));

let bundle: Promise<WorkflowBundle> | undefined;

/** Bundles the workflow code once per process; every worker after the first reuses it. */
export function workflowBundle(): Promise<WorkflowBundle> {
  bundle ??= bundleWorkflowCode({ workflowsPath: WORKFLOWS_PATH, logger: quietBundlerLogger });
  return bundle;
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

export async function startWorker(services: Services, opts: { taskQueue?: string } = {}): Promise<RunningWorker> {
  installRuntime(services.logger);
  const connection = await NativeConnection.connect(services.temporal.connectionOptions);
  const worker = await Worker.create({
    connection,
    namespace: services.temporal.namespace,
    taskQueue: opts.taskQueue ?? services.temporal.taskQueue,
    workflowBundle: await workflowBundle(),
    activities: createActivities(services),
  });
  const done = worker.run().finally(() => connection.close());
  return {
    worker,
    done,
    async shutdown() {
      if (worker.getState() === 'RUNNING') worker.shutdown();
      await done;
    },
  };
}
