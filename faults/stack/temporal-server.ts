import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import { freePort, isPortFree } from '../../src/launcher/free-port.js';
import { TEMPORAL_SERVER_VERSION, type TemporalServerTools } from '../../src/launcher/temporal-server.js';
import { ManagedProcess, waitUntil } from './process.js';
import type { FaultPostgres } from './postgres.js';

export interface FaultTemporal {
  /** Which server ran: the report says so. */
  kind: string;
  proc: ManagedProcess;
  address: string;
  /** The server's Prometheus endpoint (task schedule-to-start latency is read from it). */
  metricsUrl: string;
  restart(): Promise<number>;
  stop(): Promise<void>;
}

/** Ports of development-postgres12.yaml, each replaced by a free one so the suite never collides with anything. */
const SAMPLE_PORTS = [7233, 7234, 7235, 7239, 7243, 6933, 6934, 6935, 6939, 7936, 8000];

/**
 * The production Temporal server persisting to our PostgreSQL: both schemas set up with the `sql`
 * tool, the sample PostgreSQL config with its addresses edited, the namespace registered.
 */
export async function startFaultTemporal(opts: {
  tools: TemporalServerTools;
  postgres: FaultPostgres;
  dir: string;
  namespace: string;
}): Promise<FaultTemporal> {
  const { tools, postgres, dir, namespace } = opts;
  const schemaDir = path.join(tools.moduleDir, 'schema', 'postgresql', 'v12');
  const sql = (db: string, ...args: string[]) =>
    execFileSync(
      tools.sql,
      ['--plugin', 'postgres12', '--ep', '127.0.0.1', '-p', String(postgres.port), '-u', postgres.user, '--pw', postgres.password, '--db', db, ...args],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
  for (const [db, versioned] of [['temporal', 'temporal'], ['temporal_visibility', 'visibility']] as const) {
    sql(db, 'create-database');
    sql(db, 'setup-schema', '-v', '0.0');
    sql(db, 'update-schema', '-d', path.join(schemaDir, versioned, 'versioned'));
  }

  const ports = new Map<number, number>();
  for (const p of SAMPLE_PORTS) ports.set(p, await freeSmallPort(new Set(ports.values())));
  const configDir = path.join(dir, 'config');
  fs.mkdirSync(path.join(configDir, 'dynamicconfig'), { recursive: true });
  let yaml = fs.readFileSync(path.join(tools.moduleDir, 'config', 'development-postgres12.yaml'), 'utf8');
  yaml = yaml
    .replaceAll('127.0.0.1:5432', `127.0.0.1:${postgres.port}`)
    .replaceAll('user: "temporal"', `user: "${postgres.user}"`)
    .replaceAll('password: "temporal"', `password: "${postgres.password}"`)
    .replaceAll('level: info', 'level: warn')
    .replace(/(Port: |listenAddress: "127\.0\.0\.1:|rpcAddress: "localhost:)(\d+)/g, (m, prefix: string, port: string) =>
      ports.has(Number(port)) ? `${prefix}${ports.get(Number(port))}` : m);
  fs.writeFileSync(path.join(configDir, 'development-postgres12.yaml'), yaml, { mode: 0o600 });
  fs.copyFileSync(path.join(tools.moduleDir, 'config', 'dynamicconfig', 'development-sql.yaml'), path.join(configDir, 'dynamicconfig', 'development-sql.yaml'));

  const address = `127.0.0.1:${ports.get(7233)}`;
  const metricsUrl = `http://127.0.0.1:${ports.get(8000)}/metrics`;
  return supervise(
    new ManagedProcess({
      name: 'temporal-server',
      command: tools.server,
      args: ['--root', dir, '--config', 'config', '--env', 'development-postgres12', '--allow-no-auth', 'start'],
      cwd: dir,
      env: { ...process.env },
      logFile: path.join(dir, 'temporal-server.log'),
    }),
    address,
    metricsUrl,
    namespace,
    `production Temporal server ${TEMPORAL_SERVER_VERSION} on PostgreSQL`,
  );
}

/**
 * The Temporal CLI's dev server (SQLite file) in the same supervised shape: for a machine where the
 * production server cannot be built (FAULTS_TEMPORAL=dev). The report says which one ran.
 */
export async function startFaultTemporalDev(opts: { cli: string; dir: string; namespace: string }): Promise<FaultTemporal> {
  fs.mkdirSync(opts.dir, { recursive: true });
  const port = await freePort();
  const metricsPort = await freePort();
  return supervise(
    new ManagedProcess({
      name: 'temporal-dev-server',
      command: opts.cli,
      args: ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--headless', '--log-level', 'warn', '--db-filename', path.join(opts.dir, 'temporal.sqlite'), '--namespace', opts.namespace, '--metrics-port', String(metricsPort)],
      env: { ...process.env },
      logFile: path.join(opts.dir, 'temporal-server.log'),
    }),
    `127.0.0.1:${port}`,
    `http://127.0.0.1:${metricsPort}/metrics`,
    opts.namespace,
    'Temporal CLI dev server (SQLite), FAULTS_TEMPORAL=dev',
  );
}

async function supervise(proc: ManagedProcess, address: string, metricsUrl: string, namespace: string, kind: string): Promise<FaultTemporal> {
  const ready = () => waitUntil('temporal server', () => serving(address, namespace), { timeoutMs: 120_000, proc });
  proc.start();
  await waitUntil('temporal frontend', () => serving(address), { timeoutMs: 120_000, proc });
  const conn = await Connection.connect({ address });
  try {
    await conn.workflowService.registerNamespace({ namespace, workflowExecutionRetentionPeriod: msToTs('1 day') });
  } catch (err) {
    if (!/already exists/i.test(String(err))) throw err;
  } finally {
    await conn.close();
  }
  await ready();
  return {
    kind,
    proc,
    address,
    metricsUrl,
    async restart() {
      const t0 = Date.now();
      await proc.restart();
      await ready();
      return Date.now() - t0;
    },
    stop: () => proc.stop(),
  };
}

/** The server stores membership ports in a smallint column: ports above 32767 fail its start-up. */
async function freeSmallPort(taken: Set<number>): Promise<number> {
  for (let i = 0; i < 200; i++) {
    const port = 20_000 + Math.floor(Math.random() * 12_000);
    if (!taken.has(port) && (await isPortFree(port))) return port;
  }
  throw new Error('no free port below 32768');
}

async function serving(address: string, namespace?: string): Promise<boolean> {
  const conn = await Connection.connect({ address, connectTimeout: 1_000 });
  try {
    if (namespace) await conn.workflowService.describeNamespace({ namespace });
    else await conn.workflowService.getSystemInfo({});
    return true;
  } finally {
    await conn.close();
  }
}
