import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Server } from 'node:http';
import pino, { type Logger } from 'pino';
import { loadConfig } from '../src/config.js';
import { createServer } from '../src/http/server.js';
import { freePort } from '../src/launcher/free-port.js';
import { startStack } from '../src/launcher/stack.js';
import { closeServices, createServices, type Services } from '../src/services.js';
import { startWorker, type RunningWorker } from '../src/temporal/worker.js';
import { createDb, migrateLatest, type Db } from '../src/db/connection.js';
import { startEmbeddedPostgres } from '../src/launcher/embedded-postgres.js';

/** A throw-away embedded PostgreSQL (or DATABASE_URL) with the schema migrated, for benchmarks. */
export async function benchDatabase(poolMax: number): Promise<{ db: Db; url: string; stop(): Promise<void> }> {
  if (process.env.DATABASE_URL) {
    const db = createDb(process.env.DATABASE_URL, { poolMax });
    await migrateLatest(db);
    return { db, url: process.env.DATABASE_URL, stop: () => db.destroy() };
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'cheapa-bench-'));
  fs.chmodSync(dir, 0o755);
  const pg = await startEmbeddedPostgres({ dir: path.join(dir, 'postgres'), logger: pino({ level: 'warn' }) });
  // As `npm start` connects: over the cluster's Unix-domain socket when it has one.
  const url = pg.socketUrl ?? pg.url;
  const db = createDb(url, { poolMax });
  await migrateLatest(db);
  return {
    db,
    url,
    async stop() {
      await db.destroy();
      await pg.stop();
      fs.rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function percentile(sorted: number[], p: number): number {
  if (!sorted.length) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export interface BenchService {
  services: Services;
  /** http://127.0.0.1:PORT of the running API. */
  base: string;
  /** Where the stack runs, for worker processes started beside this one. */
  databaseUrl: string;
  temporalAddress: string;
  dataDir: string;
  stop(): Promise<void>;
}

/**
 * The whole service as `npm start` runs it (embedded PostgreSQL and Temporal dev server unless
 * DATABASE_URL / TEMPORAL_ADDRESS name others; migrations, worker, API on a loopback port), in
 * a throw-away data directory. `env` adds the benchmark's own settings.
 */
export async function startBenchService(name: string, env: Record<string, string>, logger: Logger, opts: { worker?: boolean } = {}): Promise<BenchService> {
  const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), `cheapa-bench-${name}-`));
  fs.chmodSync(dataDir, 0o755);
  const port = await freePort();
  const config = loadConfig({
    ...(process.env.DATABASE_URL ? { DATABASE_URL: process.env.DATABASE_URL } : {}),
    ...(process.env.TEMPORAL_ADDRESS ? { TEMPORAL_ADDRESS: process.env.TEMPORAL_ADDRESS } : {}),
    PORT: String(port),
    DATA_DIR: dataDir,
    TEMPORAL_UI_PORT: String(await freePort()),
    LOG_LEVEL: 'warn',
    ...env,
  });
  const stack = await startStack(config, logger);
  let services: Services | undefined;
  let worker: RunningWorker | undefined;
  let server: Server | undefined;
  const stop = async () => {
    if (server) {
      server.closeAllConnections();
      await new Promise<void>((r) => server!.close(() => r()));
    }
    await worker?.shutdown();
    if (services) await closeServices(services);
    await stack.stop();
    fs.rmSync(dataDir, { recursive: true, force: true });
  };
  try {
    services = await createServices(config, stack, logger);
    await migrateLatest(services.db);
    if (opts.worker !== false) worker = await startWorker(services);
    const http = createServer(services);
    server = await new Promise<Server>((resolve) => {
      const s = http.listen(port, '127.0.0.1', () => resolve(s));
    });
    return { services, base: `http://127.0.0.1:${port}`, databaseUrl: stack.databaseUrl, temporalAddress: stack.temporalAddress, dataDir, stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
