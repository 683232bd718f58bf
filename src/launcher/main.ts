import { createServer as createHttpServer, type Server } from 'node:http';
import { ConfigError, loadConfig, sandboxedParts, type Config, type PartName } from '../config.js';
import { createDb } from '../db/connection.js';
import { createServer } from '../http/server.js';
import { workerHealthApp } from '../http/routes/health.js';
import { parseUsd } from '../ledger/money.js';
import { closeServices, createLogger, createServices, type Services } from '../services.js';
import { ensureSchedules } from '../temporal/schedules.js';
import { startWorker, type RunningWorker } from '../temporal/worker.js';
import { DataDirError } from './data-dir-access.js';
import { prepareSchema, schemaStep, SchemaBehind } from './schema.js';
import { startStack } from './stack.js';

/**
 * `npm start`: the whole service on one machine. Roles can be split for production
 * (`main.ts migrate` once, then `main.ts api` and `main.ts worker`), as docker-compose.yml does.
 */
type Role = 'all' | 'api' | 'worker' | 'migrate';

async function main() {
  const role = (process.argv[2] ?? 'all') as Role;
  if (!['all', 'api', 'worker', 'migrate'].includes(role)) throw new Error(`unknown role ${role}: use all, api, worker or migrate`);
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`Invalid configuration: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const logger = createLogger(config);
  announceSandboxes(config);
  if (role === 'migrate') return migrateOnly(config);
  const started = Date.now();
  const stack = await startStack(config, logger).catch((err: unknown) => {
    if (err instanceof DataDirError) {
      console.error(err.message);
      process.exit(2);
    }
    throw err;
  });
  let services: Services | undefined;
  let worker: RunningWorker | undefined;
  let server: Server | undefined;

  let stopping = false;
  const shutdown = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, 'shutting down');
    if (server) {
      // Finish in-flight requests (a chat stream settles its hold at the end), then cut idle keep-alives.
      const closed = new Promise<void>((resolve) => server!.close(() => resolve()));
      server.closeIdleConnections();
      setTimeout(() => server!.closeAllConnections(), 10_000).unref();
      await closed;
    }
    if (worker) await worker.shutdown().catch((err) => logger.warn({ err }, 'worker shutdown'));
    if (services) await closeServices(services).catch(() => {});
    await stack.stop();
    logger.info('stopped');
    process.exit(0);
  };
  process.on('SIGINT', () => void shutdown('SIGINT'));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  // The terminal it ran in closed: stop as cleanly as on Ctrl-C rather than die where it stands.
  process.on('SIGHUP', () => void shutdown('SIGHUP'));

  try {
    services = await createServices(config, stack, logger);
    await prepareSchema(services.db, schemaStep(config));
    if (role !== 'api') {
      worker = await startWorker(services);
      worker.done.catch((err) => {
        logger.fatal({ err }, 'worker stopped unexpectedly');
        void shutdown('worker-failure');
      });
      await ensureSchedules(services.temporal.client, services.temporal.taskQueue);
    }
    // The worker role serves only /healthz, /readyz and /metrics, for its orchestrator and ops.
    const http = role === 'worker' ? createHttpServer(workerHealthApp(services, () => worker?.worker.getState() === 'RUNNING')) : createServer(services);
    server = await new Promise<Server>((resolve, reject) => {
      const s = http.listen(config.port, config.host, () => resolve(s));
      s.once('error', reject);
    });
    const demo = role === 'all' && config.mode !== 'production' ? await ensureDemoAccount(services) : undefined;
    printBanner({ config, stack, services, demo, seconds: (Date.now() - started) / 1000 });
  } catch (err) {
    if (err instanceof SchemaBehind) console.error(err.message);
    else logger.fatal({ err }, 'start-up failed');
    await shutdown('startup-failure');
  }
}

/** The migrate role: apply pending migrations to DATABASE_URL, then exit (a one-shot job before api and worker start). */
async function migrateOnly(config: Config) {
  if (!config.database.url) {
    console.error('migrate: DATABASE_URL is required (an embedded database is migrated by the launcher itself when it starts)');
    process.exit(2);
  }
  const db = createDb(config.database.url, { poolMax: 1 });
  try {
    await prepareSchema(db, 'migrate');
    console.log('migrations applied');
  } finally {
    await db.destroy();
  }
}

/** SANDBOXES=1 in production (a staging install): said loudly, on stderr, before anything starts. */
function announceSandboxes(config: Config) {
  const active = sandboxedParts(config.parts);
  if (config.mode !== 'production' || !active.length) return;
  const bar = '!'.repeat(78);
  console.error(
    [
      bar,
      `!! SANDBOXES=1: this production-mode install serves SANDBOXES for: ${active.join(', ')}.`,
      '!! Sandbox payments are play money that credits REAL balances, for anyone who reaches this service.',
      '!! Use it for staging only; unset SANDBOXES and configure the providers for real money.',
      bar,
    ].join('\n'),
  );
}

/** On a fresh data directory: one demo account with a key and $5.00 of credit, so the product can be tried at once. */
async function ensureDemoAccount(services: Services): Promise<{ accountId: string; key: string } | undefined> {
  if (await services.accounts.any()) return undefined;
  const account = await services.accounts.create({ name: 'Demo', email: 'demo@example.com' });
  const { key } = await services.accounts.createKey(account.id, 'demo');
  await services.ledger.post({
    accountId: account.id,
    amount: parseUsd('5.00'),
    kind: 'adjustment',
    idempotencyKey: `adjustment:${account.id}:demo-credit`,
    reason: 'demo credit on first start with embedded defaults',
    actor: 'launcher',
  });
  return { accountId: account.id, key };
}

function printBanner(x: {
  config: ReturnType<typeof loadConfig>;
  stack: Awaited<ReturnType<typeof startStack>>;
  services: Services;
  demo?: { accountId: string; key: string };
  seconds: number;
}) {
  const host = ['0.0.0.0', '::'].includes(x.config.host) ? '127.0.0.1' : x.config.host;
  const api = `http://${host.includes(':') ? `[${host}]` : host}:${x.config.port}`;
  const ui = x.services.temporal.uiUrl;
  const lines = [
    '',
    `Cheapa billing service is up (${x.seconds.toFixed(1)} s)`,
    `  API            ${api}/v1   (OpenAPI: ${api}/openapi.json)`,
    `  Console        ${api}/`,
    `  Readiness      ${api}/readyz`,
    `  Temporal UI    ${ui ?? '(configure TEMPORAL_UI_URL)'}${ui ? `/namespaces/${x.config.temporal.namespace}/workflows` : ''}`,
    `  Temporal       ${x.stack.temporalAddress}${x.stack.embedded.temporal ? ' (embedded dev server)' : ''}`,
    `  PostgreSQL     ${x.stack.embedded.postgres ? `embedded, data in ${x.config.dataDir}/postgres` : 'DATABASE_URL'}`,
    `  Data           ${x.config.dataDir}`,
  ];
  if (x.demo) {
    lines.push(
      '',
      'First start: save these now, they are not shown again.',
      `  Admin token    ${x.stack.adminToken}   (also in ${x.config.dataDir}/admin-token)`,
      `  Demo API key   ${x.demo.key}   (account ${x.demo.accountId}, $5.00 demo credit)`,
    );
  }
  const parts = x.config.parts;
  const listed = (source: string) => (Object.keys(parts) as PartName[]).filter((p) => parts[p] === source).map((p) => PART_LABEL[p]);
  if (listed('sandbox').length) lines.push(`  Sandboxes      ${listed('sandbox').join(', ')}`);
  if (listed('disabled').length) lines.push(`  Disabled       ${listed('disabled').join(', ')} (no credentials configured)`);
  lines.push(`  Mode           ${x.config.mode}, listening on ${x.config.host}:${x.config.port}`);
  lines.push('', 'Ctrl-C stops everything; data stays in the data directory.', '');
  process.stdout.write(lines.join('\n') + '\n');
}

const PART_LABEL: Record<PartName, string> = {
  card: 'card (Stripe)',
  crypto: 'crypto (Cryptomus)',
  chat: 'chat models (upstream)',
  media: 'images/video (Gemini)',
};

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
