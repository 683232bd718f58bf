import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { promisify } from 'node:util';
import type { Logger } from 'pino';
import { freePort } from '../../src/launcher/free-port.js';
import { PROJECT_ROOT, TOOLS_DIR } from '../../src/launcher/stack.js';
import { resolveTemporalCli } from '../../src/launcher/temporal-cli.js';
import { installTemporalServer } from '../../src/launcher/temporal-server.js';
import { type Balancer, startBalancer } from './balancer.js';
import { type FaultPostgres, startFaultPostgres } from './postgres.js';
import { httpOk, ManagedProcess, type UnexpectedExit, waitUntil } from './process.js';
import { type FaultTemporal, startFaultTemporal, startFaultTemporalDev } from './temporal-server.js';

export type ProviderKind = 'upstream' | 'gemini' | 'stripe' | 'cryptomus';

export interface Role {
  proc: ManagedProcess;
  /** API roles only. */
  port?: number;
  /** Restarts the process and waits until it serves again; the time it took. */
  restart(): Promise<number>;
  waitReady(): Promise<number>;
}

export interface Topology {
  dir: string;
  adminToken: string;
  postgres: FaultPostgres;
  temporal: FaultTemporal;
  providers: Record<ProviderKind, { proc: ManagedProcess; url: string }>;
  apis: Role[];
  workers: Role[];
  /** The load balancer's URL: clients and webhooks reach the API roles through it. */
  url: string;
  /** The providers' credentials, for the webhook storm's signed and forged events. */
  secrets: typeof SECRETS;
  addApi(): Promise<Role>;
  addWorker(): Promise<Role>;
  /** Every exit of any process of the topology that the suite did not cause, oldest first. */
  unexpectedExits(): UnexpectedExit[];
  /** Sets a provider's misbehaviour (see provider-faults.ts). */
  providerFault(kind: ProviderKind, mode: string, pathPattern?: string): Promise<void>;
  stop(): Promise<void>;
}

const NAMESPACE = 'default';
const SECRETS = {
  upstream: 'sk-upstream-' + randomBytes(12).toString('hex'),
  gemini: 'gemini-' + randomBytes(12).toString('hex'),
  stripe: 'sk_test_' + randomBytes(12).toString('hex'),
  stripeWebhook: 'whsec_' + randomBytes(16).toString('hex'),
  cryptomusMerchant: 'merchant-' + randomBytes(6).toString('hex'),
  cryptomus: 'cryptomus-' + randomBytes(12).toString('hex'),
};

/**
 * The production topology of docker-compose.yml as separate processes, without Docker:
 * PostgreSQL, the production Temporal server on it, every provider as its own local server,
 * API roles behind a load balancer and worker roles, each role in NODE_ENV=production with every
 * provider configured explicitly (no embedded stand-in is used).
 */
export async function startTopology(opts: { dir: string; logger: Logger; apis: number; workers: number; env?: Record<string, string> }): Promise<Topology> {
  const { dir, logger } = opts;
  fs.mkdirSync(dir, { recursive: true });
  // As root PostgreSQL runs as the postgres user, which must be able to enter this directory.
  fs.chmodSync(dir, 0o755);
  const stops: (() => Promise<unknown>)[] = [];
  let stopping = false;
  const stop = async () => {
    stopping = true;
    for (const s of stops.reverse()) await s().catch((err) => logger.warn({ err }, 'stop'));
  };
  try {
    const devTemporal = process.env.FAULTS_TEMPORAL === 'dev';
    const tools = devTemporal ? undefined : installTemporalServer(TOOLS_DIR, (l) => logger.info(l));
    logger.info('starting PostgreSQL');
    const postgres = await startFaultPostgres(path.join(dir, 'pg', 'postgres'), logger);
    stops.push(() => postgres.stop());
    logger.info('starting the Temporal server');
    const temporal = tools
      ? await startFaultTemporal({ tools, postgres, dir: path.join(dir, 'temporal'), namespace: NAMESPACE })
      : await startFaultTemporalDev({ cli: resolveTemporalCli({ toolsDir: TOOLS_DIR, logger }), dir: path.join(dir, 'temporal'), namespace: NAMESPACE });
    stops.push(() => temporal.stop());

    const procs: ManagedProcess[] = [postgres.proc, temporal.proc];
    const balancerPort = await freePort();
    const url = `http://127.0.0.1:${balancerPort}`;
    const providers = {} as Topology['providers'];
    for (const kind of ['upstream', 'gemini', 'stripe', 'cryptomus'] as const) {
      const port = await freePort();
      const proc = new ManagedProcess({
        name: `provider-${kind}`,
        command: process.execPath,
        args: ['--import', 'tsx', path.join(PROJECT_ROOT, 'faults', 'provider-main.ts'), kind],
        cwd: PROJECT_ROOT,
        logFile: path.join(dir, `provider-${kind}.log`),
        env: {
          PATH: process.env.PATH,
          PROVIDER_PORT: String(port),
          PROVIDER_API_KEY: { upstream: SECRETS.upstream, gemini: SECRETS.gemini, stripe: SECRETS.stripe, cryptomus: SECRETS.cryptomus }[kind],
          PROVIDER_WEBHOOK_SECRET: SECRETS.stripeWebhook,
          PROVIDER_WEBHOOK_URL: `${url}/webhooks/stripe`,
          PROVIDER_MERCHANT_ID: SECRETS.cryptomusMerchant,
        },
      });
      procs.push(proc);
      proc.start();
      stops.push(() => proc.stop());
      const base = `http://127.0.0.1:${port}`;
      await waitUntil(kind, async () => (await fetch(`${base}/_faults/stats`)).ok, { timeoutMs: 60_000, proc });
      providers[kind] = { proc, url: base };
    }

    const adminToken = 'faults-admin-' + randomBytes(16).toString('hex');
    const roleEnv = (port: number, name: string): NodeJS.ProcessEnv => ({
      PATH: process.env.PATH,
      NODE_ENV: 'production',
      PORT: String(port),
      HOST: '127.0.0.1',
      // One assets directory for every role, as docker-compose.yml's shared `assets` volume.
      DATA_DIR: path.join(dir, 'data'),
      ADMIN_TOKEN: adminToken,
      DATABASE_URL: postgres.url,
      TEMPORAL_ADDRESS: temporal.address,
      TEMPORAL_NAMESPACE: NAMESPACE,
      PUBLIC_URL: url,
      UPSTREAM_BASE_URL: `${providers.upstream.url}/v1`,
      UPSTREAM_API_KEY: SECRETS.upstream,
      GEMINI_BASE_URL: providers.gemini.url,
      GEMINI_API_KEY: SECRETS.gemini,
      STRIPE_SECRET_KEY: SECRETS.stripe,
      STRIPE_WEBHOOK_SECRET: SECRETS.stripeWebhook,
      STRIPE_API_BASE: providers.stripe.url,
      CRYPTOMUS_MERCHANT_ID: SECRETS.cryptomusMerchant,
      CRYPTOMUS_API_KEY: SECRETS.cryptomus,
      CRYPTOMUS_BASE_URL: providers.cryptomus.url,
      DEPOSIT_POLL_INTERVAL: '3',
      GENERATION_POLL_INTERVAL: '1',
      GENERATION_IMAGE_DEADLINE: '30',
      GENERATION_VIDEO_DEADLINE: '90',
      GENERATION_HOLD_WAIT: '10',
      LOG_LEVEL: 'warn',
      ...opts.env,
    });

    const apis: Role[] = [];
    const workers: Role[] = [];
    const makeRole = async (role: 'api' | 'worker', index: number): Promise<Role> => {
      const name = `${role}-${index}`;
      const port = await freePort();
      const proc = new ManagedProcess({
        name,
        command: process.execPath,
        args: ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'launcher', 'main.ts'), role],
        cwd: PROJECT_ROOT,
        logFile: path.join(dir, `${name}.log`),
        env: roleEnv(port, name),
      });
      procs.push(proc);
      // A role that exits on its own is a crash: the report names it; it is restarted after a second,
      // as its supervisor (docker's restart policy) would, so the rest of the run still measures.
      proc.onUnexpectedExit = (exit) => {
        logger.error({ role: name, code: exit.code, signal: exit.signal, log: exit.logFile }, 'role exited unexpectedly; restarting it');
        setTimeout(() => {
          if (proc.running || stopping) return;
          proc.restarts++;
          proc.start();
        }, 1_000);
      };
      stops.push(() => proc.stop());
      const waitReady = () =>
        role === 'api'
          ? waitUntil(name, () => httpOk(`http://127.0.0.1:${port}/readyz`), { timeoutMs: 120_000, proc })
          : waitUntil(name, async () => startedLives(proc) > proc.restarts, { timeoutMs: 120_000, proc });
      const r: Role = {
        proc,
        port: role === 'api' ? port : undefined,
        waitReady,
        async restart() {
          const t0 = Date.now();
          await proc.restart();
          await waitReady();
          return Date.now() - t0;
        },
      };
      proc.start();
      await waitReady();
      return r;
    };
    const addApi = async () => {
      const r = await makeRole('api', apis.length + 1);
      apis.push(r);
      return r;
    };
    const addWorker = async () => {
      const r = await makeRole('worker', workers.length + 1);
      workers.push(r);
      return r;
    };
    // As docker-compose.yml does: the migrate role runs once to completion, then the roles start on a
    // current schema (in production they verify it and refuse to run on an old one).
    await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(PROJECT_ROOT, 'src', 'launcher', 'main.ts'), 'migrate'], {
      cwd: PROJECT_ROOT,
      env: roleEnv(await freePort(), 'migrate'),
      timeout: 120_000,
    });
    for (let i = 0; i < opts.workers; i++) await addWorker();
    for (let i = 0; i < opts.apis; i++) await addApi();
    const balancer: Balancer = await startBalancer(balancerPort, () => apis.map((a) => a.port!));
    stops.push(() => balancer.close());

    return {
      dir,
      adminToken,
      postgres,
      temporal,
      providers,
      apis,
      workers,
      url,
      secrets: SECRETS,
      addApi,
      addWorker,
      unexpectedExits: () => procs.flatMap((p) => p.unexpectedExits).sort((a, b) => a.at - b.at),
      async providerFault(kind, mode, pathPattern) {
        const res = await fetch(`${providers[kind].url}/_faults`, {
          method: 'PUT',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ mode, path: pathPattern }),
        });
        if (!res.ok) throw new Error(`provider fault ${kind} ${mode}: ${res.status}`);
      },
      stop,
    };
  } catch (err) {
    await stop();
    throw err;
  }
}

/** How many lives of a role have printed the launcher's "is up" banner. */
function startedLives(proc: ManagedProcess): number {
  const log = fs.readFileSync(proc.spec.logFile, 'utf8');
  return log.split('billing service is up').length - 1;
}
