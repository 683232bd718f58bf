import type { Server } from 'node:http';
import { ConfigError, loadConfig } from '../config.js';
import { migrateLatest } from '../db/connection.js';
import { createApp } from '../http/app.js';
import { parseUsd } from '../ledger/money.js';
import { closeServices, createLogger, createServices, type Services } from '../services.js';
import { ensureSchedules } from '../temporal/schedules.js';
import { startWorker, type RunningWorker } from '../temporal/worker.js';
import { startStack } from './stack.js';

/**
 * `npm start`: the whole service on one machine. Roles can be split for production
 * (`main.ts api`, `main.ts worker`), as docker-compose.yml does.
 */
type Role = 'all' | 'api' | 'worker';

async function main() {
  const role = (process.argv[2] ?? 'all') as Role;
  if (!['all', 'api', 'worker'].includes(role)) throw new Error(`unknown role ${role}: use all, api or worker`);
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
  const started = Date.now();
  const stack = await startStack(config, logger);
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

  try {
    services = await createServices(config, stack, logger);
    // Every role migrates: knex's migration lock makes concurrent starts safe, and no role can run on an old schema.
    await migrateLatest(services.db);
    if (role !== 'api') {
      worker = await startWorker(services);
      worker.done.catch((err) => {
        logger.fatal({ err }, 'worker stopped unexpectedly');
        void shutdown('worker-failure');
      });
      await ensureSchedules(services.temporal.client, services.temporal.taskQueue);
    }
    if (role !== 'worker') {
      const app = createApp(services);
      server = await new Promise<Server>((resolve, reject) => {
        const s = app.listen(config.port, '0.0.0.0', () => resolve(s));
        s.once('error', reject);
      });
    }
    const demo = role === 'all' ? await ensureDemoAccount(services) : undefined;
    printBanner({ config, stack, services, demo, seconds: (Date.now() - started) / 1000 });
  } catch (err) {
    logger.fatal({ err }, 'start-up failed');
    await shutdown('startup-failure');
  }
}

/** On a fresh data directory: one demo account with a key and $5.00 of credit, so the product can be tried at once. */
async function ensureDemoAccount(services: Services): Promise<{ accountId: string; key: string } | undefined> {
  const { n } = (await services.db('accounts').count<{ n: bigint }[]>({ n: '*' }).first()) ?? { n: 0n };
  if (BigInt(n) > 0n) return undefined;
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
  const api = `http://127.0.0.1:${x.config.port}`;
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
  const sandboxes = [
    !x.config.stripe.secretKey && 'card (Stripe sandbox)',
    !x.config.cryptomus.apiKey && 'crypto (Cryptomus sandbox)',
    !x.config.upstream.baseUrl && 'chat (simulated upstream)',
    !x.config.gemini.apiKey && 'images/video (simulated Gemini)',
  ].filter(Boolean);
  if (sandboxes.length) lines.push(`  Embedded       ${sandboxes.join(', ')}`);
  if (!x.config.stripe.secretKey || !x.config.cryptomus.apiKey) {
    const host = new URL(x.config.publicUrl).hostname;
    if (!['127.0.0.1', 'localhost', '::1', '[::1]'].includes(host)) {
      lines.push(
        '',
        `  WARNING: a payment sandbox is active and PUBLIC_URL (${x.config.publicUrl}) is not loopback.`,
        '  Anyone who can reach this service can "pay" a sandbox deposit and receive real credit here.',
        '  Configure STRIPE_* and CRYPTOMUS_* before exposing it.',
      );
    }
  }
  lines.push('', 'Ctrl-C stops everything; data stays in the data directory.', '');
  process.stdout.write(lines.join('\n') + '\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
