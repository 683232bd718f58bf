import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { Connection } from '@temporalio/client';
import type { Logger } from 'pino';
import { ALL_SEARCH_ATTRIBUTES } from '../temporal/search-attributes.js';
import { freePort } from './free-port.js';

export interface RunningTemporal {
  address: string;
  uiUrl?: string;
  /** The dev server's pid, when this process started it. */
  pid?: number;
  stop(): Promise<void>;
}

export interface DevServerOptions {
  cli: string;
  logger: Logger;
  /** SQLite file; omitted means in memory (tests). */
  dbFile?: string;
  port?: number;
  /** Undefined runs headless (no Web UI). */
  uiPort?: number;
  namespaces: string[];
}

/**
 * Runs `temporal server start-dev`: a real Temporal server (frontend, history, matching) with
 * SQLite persistence and the Web UI, with the project's search attributes registered.
 */
export async function startTemporalDevServer(opts: DevServerOptions): Promise<RunningTemporal> {
  const port = opts.port ?? (await freePort());
  const args = ['server', 'start-dev', '--ip', '127.0.0.1', '--port', String(port), '--log-level', 'warn'];
  // WAL and synchronous=normal: a power cut may lose the last moments of workflow history, never money
  // (balances, holds and generations live in PostgreSQL, and every activity is idempotent, so a replayed
  // step changes nothing twice). Measured 147 → 104 ms per hold placed here (BENCHMARKS.md).
  if (opts.dbFile) args.push('--db-filename', opts.dbFile, '--sqlite-pragma', 'journal_mode=wal', '--sqlite-pragma', 'synchronous=normal');
  if (opts.uiPort === undefined) args.push('--headless');
  else args.push('--ui-port', String(opts.uiPort), '--ui-ip', '127.0.0.1');
  for (const ns of opts.namespaces) args.push('--namespace', ns);
  for (const attr of ALL_SEARCH_ATTRIBUTES) args.push('--search-attribute', `${attr.name}=Keyword`);
  // Update-with-start is on by default from CLI 1.2; the flag keeps older binaries working too.
  args.push('--dynamic-config-value', 'frontend.enableExecuteMultiOperation=true');

  // A process group of its own, as the embedded PostgreSQL's (postmaster.ts): a Ctrl-C reaches only the
  // launcher, whose shutdown drains the worker before it stops this server.
  const child = spawn(opts.cli, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  // Exiting without stop() (a crash, process.exit): stopped all the same.
  const stopOnExit = () => child.kill('SIGTERM');
  process.on('exit', stopOnExit);
  child.once('exit', () => process.off('exit', stopOnExit));
  const tail: string[] = [];
  const collect = (b: Buffer) => {
    for (const line of b.toString().split('\n')) {
      if (!line.trim()) continue;
      tail.push(line);
      if (tail.length > 30) tail.shift();
      opts.logger.debug({ component: 'temporal' }, line);
    }
  };
  child.stdout!.on('data', collect);
  child.stderr!.on('data', collect);
  let exited = false;
  child.once('exit', () => (exited = true));

  const address = `127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`temporal server start-dev exited early:\n${tail.join('\n')}`);
    try {
      const conn = await Connection.connect({ address, connectTimeout: 1_000 });
      try {
        for (const ns of opts.namespaces) await conn.workflowService.describeNamespace({ namespace: ns });
      } finally {
        await conn.close();
      }
      break;
    } catch (err) {
      if (Date.now() > deadline) {
        await stopChild(child);
        throw new Error(`Temporal dev server did not become ready at ${address}: ${(err as Error).message}`);
      }
      await sleep(200);
    }
  }
  return {
    address,
    uiUrl: opts.uiPort === undefined ? undefined : `http://127.0.0.1:${opts.uiPort}`,
    pid: child.pid,
    stop: () => stopChild(child),
  };
}

async function stopChild(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.kill('SIGTERM');
  const timedOut = await Promise.race([exited.then(() => false), sleep(10_000).then(() => true)]);
  if (timedOut) {
    child.kill('SIGKILL');
    await exited;
  }
}
